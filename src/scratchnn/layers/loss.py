"""``CrossEntropyLoss``: the drop-in twin of ``torch.nn.CrossEntropyLoss``.

The log-softmax, the target distribution (smoothed, weighted, masked) and the backward ``softmax * sum(q) - q`` are
derived in :mod:`scratchnn.functional.loss`.
"""

from __future__ import annotations

from torch import Tensor
from torch.nn import _reduction

from .. import functional as F
from ._layer import Layer


class CrossEntropyLoss(Layer):
    r"""Cross-entropy between the softmax of logits and a target of class indices or class probabilities.

    For index targets, row ``r``'s loss is ``-w[t_r] * log softmax(x_r)[t_r]`` (mixed with the uniform
    distribution by ``label_smoothing``); rows whose target is ``ignore_index`` count for nothing. ``'mean'``
    divides by the kept rows' total weight (by the row count for probability targets).

    Args:
        weight (Tensor, optional): a weight per class, ``(C,)``; a buffer, as in torch. Default: ``None``.
        size_average (bool, optional): deprecated (see ``reduction``). Default: ``None``.
        ignore_index (int): the target value that contributes no loss and no gradient. Default: -100.
        reduce (bool, optional): deprecated (see ``reduction``). Default: ``None``.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``. Default: ``'mean'``.
        label_smoothing (float): in ``[0, 1]``; the target becomes ``(1 - e) * target + e / C``. Default: 0.0.
        backward (str, optional): ``'manual'`` or ``'autograd'``; ``None`` follows the global default.

    Shape:
        - Input: ``(C,)``, ``(N, C)`` or ``(N, C, d1, ..., dK)`` logits.
        - Target: class indices ``()``, ``(N,)`` or ``(N, d1, ..., dK)`` in ``[0, C)``, or probabilities of the
          input's shape.
        - Output: a scalar; with ``reduction='none'`` ``()``, ``(N,)`` or ``(N, d1, ..., dK)``.

    Examples::

        >>> loss = scratchnn.CrossEntropyLoss(label_smoothing=0.1)
        >>> loss(torch.randn(3, 5, requires_grad=True), torch.tensor([1, 0, 4])).shape
        torch.Size([])
    """

    def __init__(
        self,
        weight: Tensor | None = None,
        size_average=None,
        ignore_index: int = -100,
        reduce=None,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
        *,
        backward: str | None = None,
    ) -> None:
        super().__init__(backward=backward)
        if size_average is not None or reduce is not None:
            reduction = _reduction.legacy_get_string(size_average, reduce)
        self.reduction = reduction
        self.register_buffer("weight", weight)
        self.weight: Tensor | None
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
            backward=self.backward,
        )
