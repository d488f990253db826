"""``AdaptiveAvgPool2d``: the drop-in twin of ``torch.nn.AdaptiveAvgPool2d``.

How the windows tile the input, and the forward and backward as products with 0/1 window matrices, are explained
in :mod:`scratchnn.functional.adaptive_pool`.
"""

from __future__ import annotations

from torch import Tensor

from .. import functional as F
from ._layer import Layer


class AdaptiveAvgPool2d(Layer):
    r"""The mean over ``oH x oW`` windows that tile each channel, for any output size.

    Args:
        output_size (int or tuple): ``oH x oW``; an int for a square output; ``None`` in a pair keeps that side of
            the input.
        backward (str, optional): ``'manual'`` or ``'autograd'``; ``None`` follows the global default.

    Shape:
        - Input: ``(N, C, H_in, W_in)`` or ``(C, H_in, W_in)``.
        - Output: ``(N, C, oH, oW)`` or ``(C, oH, oW)``; output row ``i`` averages the input rows
          ``floor(i * H_in / oH)`` to ``ceil((i + 1) * H_in / oH) - 1``, and likewise the columns.

    Examples::

        >>> scratchnn.AdaptiveAvgPool2d((5, None))(torch.randn(1, 64, 10, 9)).shape
        torch.Size([1, 64, 5, 9])
    """

    def __init__(self, output_size, *, backward: str | None = None) -> None:
        super().__init__(backward=backward)
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(input, self.output_size, backward=self.backward)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
