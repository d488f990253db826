"""Dropout: zero each element with probability ``p`` in training, scale the survivors by ``1/(1-p)``.

Forward. Draw a keep-mask ``m`` with ``P(m = 1) = 1 - p``, one Bernoulli draw per element, and scale it::

    s = m / (1 - p)            (same shape as x: 0 or 1/(1-p))
    y = x * s

so ``E[y] = x``: the expected activation is the same in training and in evaluation, where dropout is the
identity. On the CPU the mask is drawn exactly as ``torch.nn.Dropout`` draws it - ``torch.empty_like(x)
.bernoulli_(1 - p)``, then divided in place by ``1 - p`` - so the same seed drops the same elements and gives the
same output, bit for bit. (On CUDA torch uses a fused kernel with its own random stream: the statistics are the
same, the masks differ.) ``p = 0``, ``p = 1`` and evaluation draw no random numbers, as in torch.

Backward. ``y = x * s`` element-wise, with ``s`` fixed by the forward::

    dL/dx = g * s              g (same shape as x)

A dropped element passes no gradient, a kept one passes ``g / (1-p)``. The backward therefore needs the forward's
mask itself, which the Function saves (never the random state, which later draws would have moved on).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._dtypes import check_tensor
from .._library import Function
from ._mode import composite


def dropout_mask(x: Tensor, p: float) -> Tensor:
    """The scaled keep-mask ``s = bernoulli(1 - p) / (1 - p)``, drawn as torch draws it on the CPU; for ``p = 1``
    all zeros without a draw."""
    if p == 1:
        return torch.zeros_like(x)
    return torch.empty_like(x).bernoulli_(1 - p).div_(1 - p)  # (same shape as x)


class DropoutFunction(Function):
    """``y = x * s`` for a given scaled mask ``s``; ``backward`` multiplies by the same mask."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, mask: Tensor) -> Tensor:
        return x * mask

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(inputs[1])

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        """``dL/dx = g * s``: the forward's mask, scaled."""
        (mask,) = ctx.saved_tensors
        return grad_out * mask, None


def dropout(
    input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False, *, backward: str | None = None
) -> Tensor:
    """Dropout with the signature of ``torch.nn.functional.dropout`` (plus keyword-only ``backward``).

    Outside training, and for ``p = 0``, the input itself is returned, as torch returns it. ``inplace=True``
    writes the result into ``input``; the Function runs out of place and its result is copied in, so autograd
    checks the in-place write as it checks torch's (a leaf that requires grad refuses it).
    """
    check_tensor(input, "dropout")
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0 or input.numel() == 0:
        return input
    mask = dropout_mask(input, p)
    out = DropoutFunction.forward(input, mask) if composite(backward) else DropoutFunction.apply(input, mask)
    return input.copy_(out) if inplace else out
