"""``Dropout``: the drop-in twin of ``torch.nn.Dropout``.

The mask, its scaling and the backward that reuses it are explained in :mod:`scratchnn.functional.dropout`.
"""

from __future__ import annotations

from torch import Tensor

from .. import functional as F
from ._layer import Layer


class Dropout(Layer):
    r"""In training, zeroes each element with probability ``p`` and scales the rest by ``1 / (1 - p)``; in
    evaluation (``.eval()``), the identity.

    Args:
        p (float): probability of an element to be zeroed. Default: 0.5.
        inplace (bool): write the result into the input. Default: ``False``.
        backward (str, optional): ``'manual'`` or ``'autograd'``; ``None`` follows the global default.

    Shape:
        - Input: ``(*)``, any shape. Output: ``(*)``, the same shape.

    Examples::

        >>> scratchnn.Dropout(p=0.2)(torch.randn(20, 16)).shape
        torch.Size([20, 16])
    """

    def __init__(self, p: float = 0.5, inplace: bool = False, *, backward: str | None = None) -> None:
        super().__init__(backward=backward)
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training, self.inplace, backward=self.backward)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
