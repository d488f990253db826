r"""Normalisation: subtract a mean, divide by a standard deviation, then scale and shift; and its backward.

Batch norm, layer norm and group norm are one computation over different axes. Viewed the right way, the input
``x`` has *reduction axes* ``R`` (the entries that share one mean and one variance) and the rest (one pair of
statistics per position):

=============  =====================  ==============================  ============================
layer          view of ``x``          reduced over ``R`` (size ``M``)  ``gamma``, ``beta`` broadcast
=============  =====================  ==============================  ============================
BatchNorm      ``(N, C, *)``          ``N`` and ``*``: one pair per    ``(C, 1, ..)``: per channel
               (as given)             channel, ``M = N * prod(*)``
LayerNorm      ``(*, D1, .., Dk)``    the last ``k`` dims: one pair    ``(D1, .., Dk)``: per element
               (as given)             per sample, ``M = D1 * .. * Dk``
GroupNorm      ``(N, G, C/G, *)``     ``C/G`` and ``*``: one pair per  ``(G, C/G, 1, ..)``: per
               (``C`` split)          sample and group                 channel
=============  =====================  ==============================  ============================

Forward, with ``mean`` and ``var`` the biased (divide by ``M``) statistics over ``R``, kept with size-1 dims::

    mean = E_R[x]                      var = E_R[(x - mean)^2]          rstd = 1 / sqrt(var + eps)
    xhat = (x - mean) * rstd           y = gamma * xhat + beta

Backward. Write ``g = dL/dy`` (shape of ``x``). The affine part is easy: ``gamma`` multiplies every ``xhat`` that it
broadcasts over, so ``dL/dgamma = sum of g * xhat`` and ``dL/dbeta = sum of g``, each summed over every axis that
``gamma`` does not have (``Tensor.sum_to_size`` does exactly that). The gradient reaching ``xhat`` is
``gx = g * gamma``. The hard part is ``xhat``: every entry of ``x`` moves ``mean`` and ``var``, so ``x_i`` reaches
the loss through its own ``xhat_i`` *and* through every ``xhat_j`` of its group. With ``M`` entries in the group,
``d mean/d x_i = 1/M`` and ``d var/d x_i = 2 (x_i - mean) / M``, hence
``d rstd/d x_i = -rstd^3 (x_i - mean) / M = -rstd^2 xhat_i / M``, and::

    d xhat_j / d x_i = rstd * ([i == j] - 1/M) - (x_j - mean) * rstd^2 * xhat_i / M
                     = rstd * ([i == j] - 1/M - xhat_j * xhat_i / M)

Summing ``gx_j`` times it over the group ``j``::

    dL/dx_i = rstd * (gx_i - E_R[gx] - xhat_i * E_R[gx * xhat])

Three terms: the direct path; minus the mean of ``gx``, because shifting every input of the group shifts ``mean``
with it and leaves ``xhat`` unchanged (the gradient has no component along that direction); minus ``xhat`` times the
mean of ``gx * xhat``, because scaling the centred inputs scales ``var`` with them and again leaves ``xhat``
unchanged. The ``E_R`` are means over the same reduction axes as the forward's statistics (batch and space for
batch norm, the normalised dims for layer norm, the group's channels and space for group norm), so the two
correction terms have the statistics' shape and broadcast back. Both vanish for batch norm in eval mode, whose
statistics are constants (:class:`FrozenNormFunction`): there ``dL/dx = g * gamma * rstd``.

Double backward differentiates this backward with autograd, which needs ``mean`` and ``rstd`` as functions of
``x``: when the graph of the backward is recorded, they are recomputed from ``x``; otherwise the forward's are used.
"""

from __future__ import annotations

import torch
from torch import Tensor

Dims = tuple[int, ...]


def scale_shift(xhat: Tensor, weight: Tensor | None, bias: Tensor | None, affine_shape: Dims) -> Tensor:
    """``gamma * xhat + beta`` with ``gamma`` and ``beta`` viewed as ``affine_shape`` to broadcast over ``xhat``."""
    out = xhat if weight is None else xhat * weight.reshape(affine_shape)
    return out if bias is None else out + bias.reshape(affine_shape)


def normalize_forward(
    x: Tensor, weight: Tensor | None, bias: Tensor | None, dims: Dims, affine_shape: Dims, eps: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Normalise ``x`` over ``dims`` with its own statistics: ``(y, mean, var)``, the statistics with ``dims``
    kept as size 1 and ``var`` biased. Plain tensor ops, which the ``'autograd'`` engine differentiates."""
    var, mean = torch.var_mean(x, dims, correction=0, keepdim=True)  # (statistics shape) each
    xhat = (x - mean) * torch.rsqrt(var + eps)  # (shape of x)
    return scale_shift(xhat, weight, bias, affine_shape), mean, var


def frozen_norm_forward(
    x: Tensor, mean: Tensor, var: Tensor, weight: Tensor | None, bias: Tensor | None, affine_shape: Dims, eps: float
) -> Tensor:
    """Normalise ``x`` with given statistics ``mean`` and ``var`` (shaped like ``weight``, batch norm's running
    statistics in eval mode)."""
    rstd = torch.rsqrt(var + eps).reshape(affine_shape)  # (C, 1, ..)
    return scale_shift((x - mean.reshape(affine_shape)) * rstd, weight, bias, affine_shape)


def _affine_grads(ctx, grad: Tensor, xhat: Tensor, weight: Tensor | None, needs: tuple[bool, bool]):
    """``dL/dgamma = sum(g * xhat)``, ``dL/dbeta = sum(g)`` over every axis ``gamma`` broadcasts over; ``needs``
    says whether weight and bias want a gradient."""
    grad_w = grad_b = None
    if weight is not None and needs[0]:
        grad_w = (grad * xhat).sum_to_size(ctx.affine_shape).reshape(weight.shape)  # (shape of weight)
    if ctx.bias_shape is not None and needs[1]:
        grad_b = grad.sum_to_size(ctx.affine_shape).reshape(ctx.bias_shape)  # (shape of bias)
    return grad_w, grad_b


class NormalizeFunction(torch.autograd.Function):
    """Normalisation with the batch's own statistics (batch norm in training, layer norm, group norm).

    Returns ``(y, mean, var)``; the statistics are non-differentiable outputs (batch norm's running averages
    are updated from them). The backward is derived in the module docstring."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, weight, bias, dims: Dims, affine_shape: Dims, eps: float):
        return normalize_forward(x, weight, bias, dims, affine_shape, eps)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        x, weight, bias, ctx.dims, ctx.affine_shape, ctx.eps = inputs
        ctx.bias_shape = None if bias is None else bias.shape
        _, mean, var = output
        ctx.mark_non_differentiable(mean, var)
        ctx.save_for_backward(x, weight, mean, var)

    @staticmethod
    def backward(ctx, grad: Tensor, _grad_mean: Tensor, _grad_var: Tensor):
        """``dL/dx = rstd * (gx - E_R[gx] - xhat * E_R[gx * xhat])`` with ``gx = g * gamma``; ``dL/dgamma =
        sum(g * xhat)``, ``dL/dbeta = sum(g)`` over the axes ``gamma`` broadcasts over."""
        x, weight, mean, var = ctx.saved_tensors
        if torch.is_grad_enabled():  # double backward: the statistics as functions of x
            var, mean = torch.var_mean(x, ctx.dims, correction=0, keepdim=True)
        rstd = torch.rsqrt(var + ctx.eps)  # (statistics shape)
        xhat = (x - mean) * rstd  # (shape of x)
        grad_x = None
        if ctx.needs_input_grad[0]:
            gx = grad if weight is None else grad * weight.reshape(ctx.affine_shape)  # dL/dxhat
            centred = gx - gx.mean(ctx.dims, keepdim=True)  # no gradient along "shift the whole group"
            grad_x = (centred - xhat * (gx * xhat).mean(ctx.dims, keepdim=True)) * rstd  # nor along "scale it"
        return grad_x, *_affine_grads(ctx, grad, xhat, weight, ctx.needs_input_grad[1:3]), None, None, None


class FrozenNormFunction(torch.autograd.Function):
    """Normalisation with given statistics (batch norm in eval mode): an affine map of ``x`` per channel.

    The statistics are constants, so ``dL/dx = g * gamma * rstd``; no gradient reaches ``mean`` or ``var``
    (running averages are not trained, as in torch)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, mean, var, weight, bias, affine_shape: Dims, eps: float):
        return frozen_norm_forward(x, mean, var, weight, bias, affine_shape, eps)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        x, mean, var, weight, bias, ctx.affine_shape, ctx.eps = inputs
        ctx.bias_shape = None if bias is None else bias.shape
        ctx.save_for_backward(x, mean, var, weight)

    @staticmethod
    def backward(ctx, grad: Tensor):
        """``dL/dx = g * gamma * rstd``; ``dL/dgamma = sum(g * xhat)``, ``dL/dbeta = sum(g)`` per channel."""
        x, mean, var, weight = ctx.saved_tensors
        rstd = torch.rsqrt(var + ctx.eps).reshape(ctx.affine_shape)  # (C, 1, ..)
        xhat = (x - mean.reshape(ctx.affine_shape)) * rstd  # (N, C, *)
        grad_x = None
        if ctx.needs_input_grad[0]:
            scale = rstd if weight is None else rstd * weight.reshape(ctx.affine_shape)  # (C, 1, ..)
            grad_x = grad * scale  # (N, C, *)
        return grad_x, None, None, *_affine_grads(ctx, grad, xhat, weight, ctx.needs_input_grad[3:5]), None, None
