"""``Conv2d``: the drop-in twin of ``torch.nn.Conv2d``, and the base it shares with ``ConvTranspose2d``.

The module holds the arguments and parameters; how a convolution is computed (pad, unfold, one matrix product,
reshape) and differentiated is explained in :mod:`scratchnn.functional.conv`.
"""

from __future__ import annotations

from torch import Tensor

from .. import functional as F
from ..functional._conv_args import check_channel_groups, check_padding_mode, check_padding_string
from ..functional._windows import Size2, pair
from ._activation_arg import callable_repr, resolve_activation
from ._layer import Layer, add_weight_and_bias, reset_weight_and_bias


class _ConvNd(Layer):
    """What a convolution and a transposed convolution share, as torch's ``_ConvNd``: the arguments, checked once
    here (torch's ValueErrors at construction; values that no input could make valid, such as ``stride=0`` or a
    negative padding, fail when the layer runs, as in torch), the weight and bias, their initialisation and
    ``extra_repr``, which shows the arguments that differ from their defaults."""

    transposed = False  # a transposed convolution's weight is (C_in, C_out/groups, kH, kW), its padding a number

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Size2,
        stride: Size2,
        padding: Size2 | str,
        dilation: Size2,
        groups: int,
        padding_mode: str,
        backward: str | None,
    ) -> None:
        super().__init__(backward=backward)
        check_channel_groups(in_channels, out_channels, groups)
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride = pair(kernel_size, "kernel_size"), pair(stride, "stride")
        self.dilation, self.output_padding = pair(dilation, "dilation"), (0, 0)
        if min(self.kernel_size) < 0:  # torch fails here, creating the weight
            raise RuntimeError(f"Trying to create tensor with negative dimension: kernel_size={self.kernel_size}")
        string = isinstance(padding, str) and not self.transposed
        self.padding = check_padding_string(padding, self.stride, ValueError) if string else pair(padding, "padding")
        self.padding_mode = check_padding_mode(padding_mode)

    def _add_parameters(self, bias: bool, device, dtype) -> None:
        """``weight`` and ``bias`` (or ``None``), drawn by :meth:`reset_parameters`."""
        C_in, C_out, G = self.in_channels, self.out_channels, self.groups
        channels = (C_in, C_out // G) if self.transposed else (C_out, C_in // G)
        factory = {"device": device, "dtype": dtype}
        add_weight_and_bias(self, (*channels, *self.kernel_size), C_out if bias else None, factory)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The one place of initialisation: the same random calls, in the same order, as torch's; ``fan_in`` is
        ``C_in / groups * kH * kW`` for a convolution, ``C_out / groups * kH * kW`` for a transposed one."""
        reset_weight_and_bias(self.weight, self.bias)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv2d(_ConvNd):
    r"""Applies a 2-D convolution over an input of ``C_in`` planes, then the optional activation.

    ``out[n, o] = bias[o] + sum_c (weight[o, c] * input[n, c])`` where ``*`` is the 2-D cross-correlation.

    Args:
        in_channels (int): channels of the input.
        out_channels (int): channels produced.
        kernel_size (int or tuple): size of the kernel.
        stride (int or tuple): step of the kernel. Default: 1.
        padding (int, tuple or str): added to both sides, or ``'valid'`` (none) / ``'same'`` (output size equals
            the input size; stride must be 1). Default: 0.
        dilation (int or tuple): spacing between kernel taps. Default: 1.
        groups (int): independent groups the input and output channels are split into. Default: 1.
        bias (bool): learn an additive bias. Default: ``True``.
        padding_mode (str): ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``. Default: ``'zeros'``.
        activation: applied to the output (see :class:`scratchnn.Linear`). Default: ``None``.
        backward (str, optional): ``'manual'`` or ``'autograd'``; ``None`` follows the global default.

    Shape:
        - Input: ``(N, C_in, H_in, W_in)`` or ``(C_in, H_in, W_in)``.
        - Output: ``(N, C_out, H_out, W_out)`` or ``(C_out, H_out, W_out)``, where
          ``H_out = floor((H_in + 2*padding[0] - dilation[0]*(kernel_size[0] - 1) - 1) / stride[0] + 1)``
          and likewise ``W_out``.

    Attributes:
        weight: ``(out_channels, in_channels / groups, kH, kW)`` from ``U(-sqrt(k), sqrt(k))``,
            ``k = groups / (C_in * kH * kW)``, drawn exactly as torch draws it.
        bias: ``(out_channels,)`` from the same distribution.

    Examples::

        >>> m = scratchnn.Conv2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2), dilation=(3, 1))
        >>> m(torch.randn(20, 16, 50, 100)).shape
        torch.Size([20, 33, 26, 100])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Size2,
        stride: Size2 = 1,
        padding: Size2 | str = 0,
        dilation: Size2 = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        *,
        activation=None,
        device=None,
        dtype=None,
        backward: str | None = None,
    ) -> None:
        activation = resolve_activation(activation)  # before the weights are drawn, as it always was
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, padding_mode, backward
        )
        self._add_parameters(bias, device, dtype)
        self.activation = activation

    def forward(self, input: Tensor) -> Tensor:
        out = F.conv2d(
            input,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
            padding_mode=self.padding_mode,
            backward=self.backward,
        )
        return out if self.activation is None else self.activation(out)

    def extra_repr(self) -> str:
        return super().extra_repr() + callable_repr(self.activation)
