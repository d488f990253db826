"""Cross-entropy of logits against class indices or class probabilities, with its backward written out.

Layout. The class dim moves last and every other dim flattens into rows: ``input (N, C, d1, ...) -> z (M, C)``
with ``M = N*d1*...`` (an unbatched ``(C,)`` is one row); targets become ``t (M,)`` indices or ``y (M, C)``
probabilities.

Forward. Log-softmax by the max-subtracted log-sum-exp, which never overflows (every ``exp`` is at most 1)::

    m = max_c z[r, c]            s = z - m              logp = s - log(sum_c exp(s))        (M, C)

Each row's loss is ``-sum_c q[r, c] * logp[r, c]`` for a target distribution ``q (M, C)``:

- class indices, weight ``w (C,)`` (default ones), smoothing ``e``, rows whose target is ``ignore_index`` masked
  out (``k[r] = 0``): ``q = k * ((1 - e) * w[t] * onehot(t) + e/C * w)``; the one-hot term is a ``gather`` of
  ``logp[r, t]``, so a ``-inf`` logit of another class costs nothing, as in torch;
- probabilities: ``q = ((1 - e) * y + e/C) * w``.

Reduction ``'none'`` keeps the row losses (in the target's shape), ``'sum'`` adds them, ``'mean'`` divides the sum
by ``D``: the total weight of the kept rows ``sum_r k[r] * w[t[r]]`` for indices (torch's weighted mean; NaN when
every row is ignored), the row count ``M`` for probabilities.

Backward. With ``p = softmax(z) = exp(logp)`` and ``dlogp[c]/dz[j] = [c = j] - p[j]``::

    dL_r/dz[r, j] = -sum_c q[c] * ([c = j] - p[j]) = p[j] * sum_c q[c] - q[j]

This is the familiar ``softmax - one-hot`` when ``q`` sums to 1 (no weights); smoothing, weights and the ignore
mask all act through ``q``. Each row is then scaled by its incoming gradient, ``scale = g[r]`` (``'none'``), ``g``
(``'sum'``) or ``g / D`` (``'mean'``), and an ignored row's gradient is exactly 0::

    dL/dz = (p * q.sum(-1) - q) * scale                      (M, C), moved back to the input's layout
    dL/dy = -(1 - e) * w * logp * scale                      (M, C), probability targets only

The backward recomputes ``logp`` from the saved logits, so that differentiating the backward (double backward)
reaches the logits through it.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import _reduction

from .._dtypes import check_tensor
from .._library import AUTOCAST_KEYS, Function
from ._loss_targets import class_targets, classes_last, rows_shape
from ._mode import composite


def log_softmax(z: Tensor) -> Tensor:
    """``z - logsumexp(z)`` over the last dim, max-subtracted: ``(M, C) -> (M, C)``."""
    s = z - z.detach().amax(-1, keepdim=True)  # (M, C), at most 0
    return s - s.exp().sum(-1, keepdim=True).log()  # (M, C)


def target_distribution(logp: Tensor, target: Tensor, weight: Tensor | None, smoothing: float, keep: Tensor | None):
    """``q (M, C)``: see the module docstring. ``keep`` is ``None`` for probability targets."""
    C = logp.shape[1]
    w = torch.ones(C, dtype=logp.dtype, device=logp.device) if weight is None else weight  # (C,)
    if keep is None:
        return ((1 - smoothing) * target + smoothing / C) * w  # (M, C)
    onehot = (torch.arange(C, device=logp.device) == target.unsqueeze(1)).to(logp.dtype)  # (M, C)
    q = (1 - smoothing) * onehot * w[target].unsqueeze(1) + (smoothing / C) * w  # (M, C)
    return q * keep.unsqueeze(1)


def row_losses(logp: Tensor, target: Tensor, weight: Tensor | None, smoothing: float, keep: Tensor | None) -> Tensor:
    """``-sum_c q[r, c] * logp[r, c]``, ``(M, C) -> (M,)``; the index targets' one-hot term as a gather."""
    if keep is None:
        return -(target_distribution(logp, target, weight, smoothing, None) * logp).sum(-1)  # (M,)
    loss = -logp.gather(1, target.unsqueeze(1)).squeeze(1)  # (M,)
    if weight is not None:
        loss = loss * weight[target]
    if smoothing > 0:
        smooth = -(logp if weight is None else logp * weight).sum(-1)  # (M,)
        loss = (1 - smoothing) * loss + (smoothing / logp.shape[1]) * smooth
    return torch.where(keep, loss, 0)  # an ignored row: 0, and no gradient even when every row is ignored


def mean_divisor(logp: Tensor, target: Tensor, weight: Tensor | None, keep: Tensor | None) -> Tensor:
    """``D``: the kept rows' total weight (indices) or the row count (probabilities), a 0-d tensor."""
    if keep is None:
        return torch.tensor(logp.shape[0], dtype=logp.dtype, device=logp.device)
    return keep.to(logp.dtype).sum() if weight is None else (weight[target] * keep).sum()


def cross_entropy_forward(z, target, weight, keep, reduction: str, smoothing: float) -> Tensor:
    """The loss with plain tensor ops: ``(M, C) -> (M,)`` rows, or a 0-d sum or mean."""
    logp = log_softmax(z)  # (M, C)
    rows = row_losses(logp, target, weight, smoothing, keep)  # (M,)
    if reduction == "none":
        return rows
    total = rows.sum()
    return total if reduction == "sum" else total / mean_divisor(logp, target, weight, keep)


class CrossEntropyFunction(Function):
    """Cross-entropy of logits ``z (M, C)``; ``backward`` is ``(softmax * sum(q) - q) * scale``."""

    generate_vmap_rule = True

    @staticmethod
    def forward(z, target, weight, keep, reduction: str, smoothing: float) -> Tensor:
        return cross_entropy_forward(z, target, weight, keep, reduction, smoothing)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        z, target, weight, keep, ctx.reduction, ctx.smoothing = inputs
        ctx.has_weight, ctx.has_keep = weight is not None, keep is not None
        ctx.save_for_backward(z, target, weight, keep)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        """``dL/dz = (p * q.sum(-1) - q) * scale``; for probability targets ``dL/dy = -(1-e) * w * logp * scale``."""
        z, target, weight, keep = ctx.saved_tensors
        weight, keep = (weight if ctx.has_weight else None), (keep if ctx.has_keep else None)
        logp = log_softmax(z)  # (M, C), differentiable when the backward is itself differentiated
        scale = grad_out.unsqueeze(-1) if ctx.reduction == "none" else grad_out.expand(z.shape[0], 1)  # (M, 1)
        if ctx.reduction == "mean":
            scale = scale / mean_divisor(logp, target, weight, keep)
        if keep is not None:  # an ignored row's gradient is 0, even when every row is ignored (D = 0)
            scale = torch.where(keep.unsqueeze(1), scale, 0)  # (M, 1)
        grad_z = grad_y = None
        if ctx.needs_input_grad[0]:
            q = target_distribution(logp, target, weight, ctx.smoothing, keep)  # (M, C)
            grad_z = (logp.exp() * q.sum(-1, keepdim=True) - q) * scale  # (M, C)
        if ctx.needs_input_grad[1]:
            w = 1.0 if weight is None else weight
            grad_y = -(1 - ctx.smoothing) * w * logp * scale  # (M, C)
        return grad_z, grad_y, None, None, None, None


def _autocast(*tensors: Tensor | None) -> tuple[Tensor | None, ...]:
    """Inside ``torch.autocast``: floating tensors in float32, torch's rule for ``cross_entropy``."""
    device_type = tensors[0].device.type
    if device_type not in AUTOCAST_KEYS or not torch.is_autocast_enabled(device_type):
        return tensors
    return tuple(t.float() if t is not None and t.is_floating_point() else t for t in tensors)


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    *,
    backward: str | None = None,
) -> Tensor:
    """Cross-entropy with the signature of ``torch.nn.functional.cross_entropy`` (plus keyword-only ``backward``).

    ``input`` holds logits ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``; ``target`` class indices of its shape
    without ``C``, or class probabilities of its own shape.
    """
    check_tensor(input, "cross_entropy")
    if size_average is not None or reduce is not None:
        reduction = _reduction.legacy_get_string(size_average, reduce)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    input, target, weight = _autocast(input, target, weight)
    z, probabilities = classes_last(input, target, weight, ignore_index)  # (M, C)
    if probabilities:
        t, keep = target.movedim(1, -1).reshape(z.shape) if input.dim() > 1 else target.reshape(z.shape), None
    else:
        t, keep = class_targets(target.reshape(-1).long(), z.shape[1], ignore_index)  # (M,) each
    if composite(backward):
        loss = cross_entropy_forward(z, t, weight, keep, reduction, label_smoothing)
    else:
        loss = CrossEntropyFunction.apply(z, t, weight, keep, reduction, label_smoothing)
    return loss.reshape(rows_shape(input, target, probabilities)) if reduction == "none" else loss
