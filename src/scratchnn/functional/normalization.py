"""Normalisation: subtract a mean, divide by a standard deviation, then scale and shift; and its backward.

Batch norm, layer norm and group norm are one computation over different axes. Viewed the right way, the input
``x`` has *reduction axes* ``R`` (the entries that share one mean and one variance) and the rest (one pair of
statistics per position):

- BatchNorm, ``x (N, C, *)`` as given: ``R`` = ``N`` and ``*``, one pair per channel, ``M = N * prod(*)`` values
  each; ``gamma``, ``beta`` ``(C,)`` viewed as ``(C, 1, ..)``, per channel.
- LayerNorm, ``x (*, D1, .., Dk)`` as given: ``R`` = the last ``k`` dims, one pair per sample (and leading
  position), ``M = D1 * .. * Dk``; ``gamma``, ``beta`` ``(D1, .., Dk)``, per element.
- GroupNorm, ``x (N, C, *)`` viewed as ``(N, G, C/G, *)``: ``R`` = ``C/G`` and ``*``, one pair per sample and
  group, ``M = C/G * prod(*)``; ``gamma``, ``beta`` ``(C,)`` viewed as ``(G, C/G, 1, ..)``, per channel.

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

No custom op: the forward and the backward are trace-safe tensor operations, so ``torch.compile`` and
``torch.export`` trace straight through them and ``torch.func`` uses the vmap rule autograd generates
(``generate_vmap_rule``).

Passes over the data. Every full-size operation reads and writes the whole tensor, so the code folds the small,
statistics-shaped factors together first and touches the big tensors as few times as it can. The forward takes the
statistics in two reductions (:func:`moments`: the mean, then the centred squares ``x - mean``, which it keeps) and
``y = (x - mean) * scale + beta`` (``torch.addcmul``) with ``scale = gamma * rstd``: one pass when ``gamma`` is
constant over ``R`` (batch norm: ``scale`` is per channel, as in torch's kernel), else ``xhat`` first and
``gamma * xhat + beta`` on it. The backward is
``dL/dx = c0 + xhat * c1 + g * s`` with ``c0 = -rstd * E_R[gx]``, ``c1 = -rstd * E_R[gx * xhat]`` and ``s`` the
factor taking ``g`` to ``rstd * gx``. When ``gamma`` is constant over ``R``, ``E_R[gx] = gamma * E_R[g]`` and
``E_R[gx * xhat] = gamma * E_R[g * xhat]``: the sums ``dL/dbeta`` and ``dL/dgamma`` need anyway, so batch norm's
backward reads ``g`` and ``x`` in four full-size passes.

Buffers. In plain eager mode (no autograd recording, tracer or vmap: :func:`scratchnn._library.plain_eager`) ``y``
is written over ``x - mean`` and ``dL/dx`` over ``xhat``, both dead by then: two full-size buffers fewer per call,
and the ones written are still in cache.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .._library import Function, plain_eager

Dims = tuple[int, ...]


def _view(t: Tensor | None, shape: Dims) -> Tensor | None:
    return None if t is None else t.reshape(shape)


def constant_over(affine_shape: Dims, ndim: int, dims: Dims) -> bool:
    """Whether ``gamma`` (viewed as ``affine_shape``) is constant over the reduction dims ``dims`` of an
    ``ndim``-dim input: true for batch norm (per channel), false for layer and group norm."""
    full = (1,) * (ndim - len(affine_shape)) + tuple(affine_shape)  # gamma's shape aligned with x's dims
    return all(full[d] == 1 for d in dims)


def moments(x: Tensor, dims: Dims) -> tuple[Tensor, Tensor, Tensor]:
    """``(var, mean, x - mean)`` over ``dims`` (kept as size 1), ``var`` biased. Two passes, as torch's CPU batch
    norm collects its statistics: the mean from a sum, then the sum of the centred squares (``torch.var_mean``'s
    one-pass Welford update measured about three times slower on the CPU)."""
    # M values per statistic. An empty batch's statistics come out 0 rather than 0/0: batch norm's running averages
    # skip such a batch, and finite statistics keep its (empty) gradients' sums 0, as torch's, not NaN.
    count = max(math.prod([x.shape[d] for d in dims]), 1)
    mean = x.sum(dims, keepdim=True) / count
    centred = x - mean
    return (centred * centred).sum(dims, keepdim=True) / count, mean, centred


def normalize_forward(
    x: Tensor, weight: Tensor | None, bias: Tensor | None, dims: Dims, affine_shape: Dims, eps: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Normalise ``x`` over ``dims`` with its own statistics: ``(y, mean, var)``, the statistics with ``dims``
    kept as size 1 and ``var`` biased. Plain tensor ops, which the ``'autograd'`` engine differentiates."""
    var, mean, centred = moments(x, dims)  # (statistics shape), (statistics shape), (shape of x)
    rstd = torch.rsqrt(var + eps)
    gamma, beta = _view(weight, affine_shape), _view(bias, affine_shape)
    out = centred if plain_eager(x, weight, bias) else None  # y overwrites centred, needed for nothing else
    if gamma is None or constant_over(affine_shape, x.dim(), dims):  # one pass: (x - mean) * scale + beta
        scale = rstd if gamma is None else rstd * gamma  # (statistics shape)
        y = torch.mul(centred, scale, out=out) if beta is None else torch.addcmul(beta, centred, scale, out=out)
        return y, mean, var
    xhat = torch.mul(centred, rstd, out=out)  # (shape of x)
    return (torch.mul(xhat, gamma, out=out) if beta is None else torch.addcmul(beta, xhat, gamma, out=out)), mean, var


def frozen_norm_forward(
    x: Tensor, mean: Tensor, var: Tensor, weight: Tensor | None, bias: Tensor | None, affine_shape: Dims, eps: float
) -> Tensor:
    """Normalise ``x`` with given statistics ``mean`` and ``var`` (shaped like ``weight``, batch norm's running
    statistics in eval mode): ``x * scale + shift`` per channel."""
    scale = torch.rsqrt(var + eps).reshape(affine_shape)  # (C, 1, ..)
    if weight is not None:
        scale = scale * weight.reshape(affine_shape)
    shift = -mean.reshape(affine_shape) * scale
    return torch.addcmul(shift if bias is None else shift + bias.reshape(affine_shape), x, scale)  # (N, C, *)


def _affine_grads(ctx, g_xhat: Tensor | None, sum_g: Tensor | None, needs: tuple[bool, bool]):
    """``dL/dgamma = sum(g * xhat)``, ``dL/dbeta = sum(g)`` over every axis ``gamma`` broadcasts over (``g_xhat``
    and ``sum_g`` may arrive already summed over part of them); ``needs``: whether weight and bias want them."""
    grad_w = grad_b = None
    if ctx.weight_shape is not None and needs[0]:
        grad_w = g_xhat.sum_to_size(ctx.affine_shape).reshape(ctx.weight_shape)  # (shape of weight)
    if ctx.bias_shape is not None and needs[1]:
        grad_b = sum_g.sum_to_size(ctx.affine_shape).reshape(ctx.bias_shape)  # (shape of bias)
    return grad_w, grad_b


def _save_shapes(ctx, weight: Tensor | None, bias: Tensor | None) -> None:
    ctx.weight_shape = None if weight is None else weight.shape
    ctx.bias_shape = None if bias is None else bias.shape


class NormalizeFunction(Function):
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
        _save_shapes(ctx, weight, bias)
        ctx.constant_gamma = constant_over(ctx.affine_shape, x.dim(), ctx.dims)
        _, mean, var = output
        ctx.mark_non_differentiable(mean, var)
        ctx.save_for_backward(x, weight, mean, var)

    @staticmethod
    def backward(ctx, grad: Tensor, _grad_mean: Tensor, _grad_var: Tensor):
        """``dL/dx = rstd * (gx - E_R[gx] - xhat * E_R[gx * xhat])`` with ``gx = g * gamma``; ``dL/dgamma =
        sum(g * xhat)``, ``dL/dbeta = sum(g)`` over the axes ``gamma`` broadcasts over."""
        x, weight, mean, var = ctx.saved_tensors
        if torch.is_grad_enabled():  # double backward: the statistics as functions of x
            var, mean, _ = moments(x, ctx.dims)
        rstd = torch.rsqrt(var + ctx.eps)  # (statistics shape)
        xhat = torch.addcmul(-mean * rstd, x, rstd)  # (shape of x)
        gamma = _view(weight, ctx.affine_shape)
        M = max(x.numel() // max(mean.numel(), 1), 1)  # values per group of statistics
        if gamma is None or ctx.constant_gamma:  # sum_R gx and sum_R gx * xhat from the sums dbeta and dgamma need
            g_xhat = (grad * xhat).sum(ctx.dims, keepdim=True)  # (statistics shape)
            sum_g = grad.sum(ctx.dims, keepdim=True)
            sum_gx, sum_gx_xhat = (sum_g, g_xhat) if gamma is None else (sum_g * gamma, g_xhat * gamma)
            g, scale = grad, rstd if gamma is None else rstd * gamma  # g * scale = rstd * gx
        else:
            g, scale = grad * gamma, rstd  # g = gx = dL/dxhat
            sum_gx, sum_gx_xhat = g.sum(ctx.dims, keepdim=True), (g * xhat).sum(ctx.dims, keepdim=True)
            g_xhat = grad * xhat if ctx.needs_input_grad[1] else None  # summed by _affine_grads
            sum_g = grad
        grad_x = None
        if ctx.needs_input_grad[0]:  # c0 + xhat * c1 + rstd * gx
            c0, c1 = -rstd * sum_gx / M, -rstd * sum_gx_xhat / M  # (statistics shape)
            if plain_eager(x, grad) and not torch.is_grad_enabled():  # xhat's buffer becomes dL/dx: no fresh one
                grad_x = torch.addcmul(c0, xhat, c1, out=xhat).addcmul_(g, scale)  # (shape of x)
            else:
                grad_x = torch.addcmul(torch.addcmul(c0, xhat, c1), g, scale)
        return grad_x, *_affine_grads(ctx, g_xhat, sum_g, ctx.needs_input_grad[1:3]), None, None, None


class FrozenNormFunction(Function):
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
        _save_shapes(ctx, weight, bias)
        ctx.save_for_backward(x, mean, var, weight)

    @staticmethod
    def backward(ctx, grad: Tensor):
        """``dL/dx = g * gamma * rstd``; ``dL/dgamma = sum(g * xhat)``, ``dL/dbeta = sum(g)`` per channel."""
        x, mean, var, weight = ctx.saved_tensors
        rstd = torch.rsqrt(var + ctx.eps).reshape(ctx.affine_shape)  # (C, 1, ..)
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = grad * (rstd if weight is None else rstd * weight.reshape(ctx.affine_shape))  # (N, C, *)
        if weight is not None and ctx.needs_input_grad[3]:
            grad_w = grad * torch.addcmul(-mean.reshape(ctx.affine_shape) * rstd, x, rstd)  # g * xhat
        return grad_x, None, None, *_affine_grads(ctx, grad_w, grad, ctx.needs_input_grad[3:5]), None, None
