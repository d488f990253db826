"""``Conv2d``: the drop-in twin of ``torch.nn.Conv2d``.

The module holds the arguments and parameters; how a convolution is computed (pad, unfold, one matrix product,
reshape) and differentiated is explained in :mod:`scratchnn.functional.conv`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import init

from .. import functional as F
from ..functional._mode import resolve_backward
from ..functional._windows import PADDING_MODES, pair
from ._activation_arg import callable_repr, resolve_activation


class Conv2d(nn.Module):
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
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        *,
        activation=None,
        device=None,
        dtype=None,
        backward: str | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(groups, int) or groups <= 0:
            raise ValueError(f"groups must be a positive integer, but got groups={groups!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"in_channels and out_channels must be divisible by groups, but got in_channels={in_channels}, "
                f"out_channels={out_channels}, groups={groups}"
            )
        # like torch, values that no input could make valid (stride=0, negative padding) fail at forward
        self.kernel_size, self.stride = pair(kernel_size, "kernel_size"), pair(stride, "stride")
        self.dilation = pair(dilation, "dilation")
        if min(self.kernel_size) < 0:  # torch fails here, creating the weight
            raise RuntimeError(f"Trying to create tensor with negative dimension: kernel_size={self.kernel_size}")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of ('same', 'valid')")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(
                    f"padding='same' is not supported for strided convolutions, but got stride={self.stride}"
                )
            self.padding = padding
        else:
            self.padding = pair(padding, "padding")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {PADDING_MODES}, but got padding_mode={padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.padding_mode = padding_mode
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty((out_channels, in_channels // groups, *self.kernel_size), **factory))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_channels, **factory))
        else:
            self.register_parameter("bias", None)
        self.activation = resolve_activation(activation)
        self.backward = backward if backward is None else resolve_backward(backward)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The one place of initialisation: the same random calls, in the same order, as ``torch.nn.Conv2d``."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight[0].numel()  # C_in / groups * kH * kW
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

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
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s + callable_repr(self.activation)
