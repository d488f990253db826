"""``ConvTranspose2d``: the drop-in twin of ``torch.nn.ConvTranspose2d``.

The module holds the arguments and parameters; why a transposed convolution is the adjoint of a convolution, and
why its backward is therefore a convolution, is explained in :mod:`scratchnn.functional.conv_transpose`.
"""

from __future__ import annotations

from torch import Tensor

from .. import functional as F
from ..functional._windows import Size2, pair
from .conv import _ConvNd


class ConvTranspose2d(_ConvNd):
    r"""Applies a 2-D transposed convolution (the adjoint of ``Conv2d``, an upsampling) over ``C_in`` planes.

    Args:
        in_channels (int): channels of the input.
        out_channels (int): channels produced.
        kernel_size (int or tuple): size of the kernel.
        stride (int or tuple): spacing of the kernel's stamps in the output. Default: 1.
        padding (int or tuple): ``dilation * (kernel_size - 1) - padding`` zeros, in effect, around the input; the
            output is ``2 * padding`` smaller. Default: 0.
        output_padding (int or tuple): rows and columns added at the bottom and right of the output, smaller than
            the stride or the dilation. Default: 0.
        groups (int): independent groups the input and output channels are split into. Default: 1.
        bias (bool): learn an additive bias. Default: ``True``.
        dilation (int or tuple): spacing between kernel taps. Default: 1.
        padding_mode (str): only ``'zeros'``, as in torch. Default: ``'zeros'``.
        backward (str, optional): ``'manual'`` or ``'autograd'``; ``None`` follows the global default.

    Shape:
        - Input: ``(N, C_in, H_in, W_in)`` or ``(C_in, H_in, W_in)``.
        - Output: ``(N, C_out, H_out, W_out)`` or ``(C_out, H_out, W_out)``, where
          ``H_out = (H_in - 1)*stride[0] - 2*padding[0] + dilation[0]*(kernel_size[0] - 1) + output_padding[0] + 1``
          and likewise ``W_out``; ``forward(input, output_size)`` picks ``output_padding`` to reach ``output_size``.

    Attributes:
        weight: ``(in_channels, out_channels / groups, kH, kW)`` from ``U(-sqrt(k), sqrt(k))``,
            ``k = groups / (C_out * kH * kW)``, drawn exactly as torch draws it.
        bias: ``(out_channels,)`` from the same distribution.

    Examples::

        >>> m = scratchnn.ConvTranspose2d(16, 33, 3, stride=2)
        >>> m(torch.randn(20, 16, 12, 12), output_size=(25, 26)).shape
        torch.Size([20, 33, 25, 26])
    """

    transposed = True

    def __init__(
        self,
        in_channels: int,  # the weight's first dimension: (in_channels, out_channels / groups, kH, kW)
        out_channels: int,
        kernel_size: Size2,
        stride: Size2 = 1,
        padding: Size2 = 0,
        output_padding: Size2 = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: Size2 = 1,
        padding_mode: str = "zeros",
        device=None,
        dtype=None,
        *,
        backward: str | None = None,
    ) -> None:
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for ConvTranspose2d, but got {padding_mode!r}')
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, padding_mode, backward
        )
        self.output_padding = pair(output_padding, "output_padding")
        self._add_parameters(bias, device, dtype)

    def _output_padding(self, input: Tensor, output_size) -> tuple[int, int]:
        """The ``output_padding`` that reaches ``output_size`` (its last two entries): between the smallest
        output, ``(H_in - 1)*s - 2p + d*(k - 1) + 1``, and that plus ``s - 1``."""
        if output_size is None:
            return self.output_padding
        output_size = list(output_size)
        if len(output_size) not in (2, input.dim()):
            raise ValueError(
                f"ConvTranspose2D: for {input.dim()}D input, output_size must have 2 or {input.dim()} elements "
                f"(got {len(output_size)})"
            )
        output_size = output_size[-2:]
        smallest = [
            (n - 1) * s - 2 * p + d * (k - 1) + 1
            for n, s, p, d, k in zip(
                input.shape[-2:], self.stride, self.padding, self.dilation, self.kernel_size, strict=True
            )
        ]
        largest = [m + s - 1 for m, s in zip(smallest, self.stride, strict=True)]
        if any(not lo <= n <= hi for n, lo, hi in zip(output_size, smallest, largest, strict=True)):
            raise ValueError(
                f"requested an output size of {output_size}, but valid sizes range from {smallest} to {largest} "
                f"(for an input of {input.shape[2:]})"
            )
        return tuple(n - m for n, m in zip(output_size, smallest, strict=True))

    def forward(self, input: Tensor, output_size: list[int] | None = None) -> Tensor:
        output_padding = self._output_padding(input, output_size)
        return F.conv_transpose2d(
            input,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            output_padding,
            self.groups,
            self.dilation,
            backward=self.backward,
        )
