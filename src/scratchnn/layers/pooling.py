"""``MaxPool2d`` and ``AvgPool2d``: drop-in twins of their torch.nn namesakes.

How the windows are formed, reduced and differentiated is explained in :mod:`scratchnn.functional.max_pool` and
:mod:`scratchnn.functional.avg_pool`.

Both stand on one base, as torch's ``_MaxPoolNd`` and ``_AvgPoolNd`` do: it stores the window arguments as given
(ints or pairs), as torch stores them, so ``repr`` matches torch's; like torch's, they are checked when the layer runs
(``stride=0`` builds, and fails at forward).
"""

from __future__ import annotations

from torch import Tensor

from .. import functional as F
from ..functional._windows import Size2
from ._layer import Layer


class _Pool2d(Layer):
    """What max and average pooling share: the window arguments, stored as given, and their ``repr``."""

    def __init__(self, kernel_size: Size2, stride: Size2 | None, padding: Size2, ceil_mode: bool, backward) -> None:
        super().__init__(backward=backward)
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    r"""The maximum of each ``kH x kW`` window of each channel.

    Args:
        kernel_size (int or tuple): window size.
        stride (int or tuple, optional): window step. Default: ``kernel_size``.
        padding (int or tuple): implicit ``-inf`` padding on both sides, at most half the kernel. Default: 0.
        dilation (int or tuple): spacing between window taps. Default: 1.
        return_indices (bool): also return the flat ``H*W`` index of each maximum. Default: ``False``.
        ceil_mode (bool): ceil instead of floor in the output size. Default: ``False``.
        backward (str, optional): ``'manual'`` or ``'autograd'``; ``None`` follows the global default.

    Shape:
        - Input: ``(N, C, H_in, W_in)`` or ``(C, H_in, W_in)``.
        - Output: ``(N, C, H_out, W_out)`` or ``(C, H_out, W_out)``, with
          ``H_out = floor((H_in + 2*padding[0] - dilation[0]*(kernel_size[0] - 1) - 1) / stride[0] + 1)``
          (ceil in ``ceil_mode``, dropping a last window that would start in the right padding).

    Examples::

        >>> scratchnn.MaxPool2d(3, stride=2)(torch.randn(20, 16, 50, 32)).shape
        torch.Size([20, 16, 24, 15])
    """

    def __init__(
        self,
        kernel_size: Size2,
        stride: Size2 | None = None,  # None: the kernel size
        padding: Size2 = 0,
        dilation: Size2 = 1,
        return_indices: bool = False,  # also return each maximum's flat index into its H_in * W_in plane
        ceil_mode: bool = False,
        *,
        backward: str | None = None,
    ) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode, backward)
        self.dilation = dilation
        self.return_indices = return_indices

    def forward(self, input: Tensor):
        return F.max_pool2d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.ceil_mode,
            self.return_indices,
            backward=self.backward,
        )

    def extra_repr(self) -> str:
        return super().extra_repr() + f", dilation={self.dilation}, ceil_mode={self.ceil_mode}"


class AvgPool2d(_Pool2d):
    r"""The mean of each ``kH x kW`` window of each channel.

    Args:
        kernel_size (int or tuple): window size.
        stride (int or tuple, optional): window step. Default: ``kernel_size``.
        padding (int or tuple): implicit zero padding on both sides, at most half the kernel. Default: 0.
        ceil_mode (bool): ceil instead of floor in the output size. Default: ``False``.
        count_include_pad (bool): count the zero padding in the divisor. Default: ``True``.
        divisor_override (int, optional): divide every window sum by this instead. Default: ``None``.
        backward (str, optional): ``'manual'`` or ``'autograd'``; ``None`` follows the global default.

    Shape:
        - Input: ``(N, C, H_in, W_in)`` or ``(C, H_in, W_in)``.
        - Output: ``(N, C, H_out, W_out)`` or ``(C, H_out, W_out)``, with
          ``H_out = floor((H_in + 2*padding[0] - kernel_size[0]) / stride[0] + 1)`` (ceil in ``ceil_mode``).

    Examples::

        >>> scratchnn.AvgPool2d((3, 2), stride=(2, 1))(torch.randn(20, 16, 50, 32)).shape
        torch.Size([20, 16, 24, 31])
    """

    def __init__(
        self,
        kernel_size: Size2,
        stride: Size2 | None = None,
        padding: Size2 = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
        *,
        backward: str | None = None,
    ) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode, backward)
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool2d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
            backward=self.backward,
        )
