"""Max pooling: the maximum of every window of each channel, and the backward that routes each gradient to the
window's winner.

Pooling treats every channel on its own. The windows come from the shared geometry (:mod:`._pool_geometry`):
``Tensor.unfold`` views each ``kH x kW`` window of the padded input and one copy lays its taps side by side,
``(N, C, Hp, Wp) -> (N, C, H_out, W_out, kH*kW)``; the maximum over the last axis is the output
``(N, C, H_out, W_out)``.

Padding is ``-inf`` (never zeros: a zero would beat every negative input). In ``ceil_mode`` the last window may hang
past the padded edge; the geometry pads further so that it exists, with ``-inf``, which cannot win.

Without padding (ceil-mode overhang counts as padding) and with small windows, the manual engine copies nothing:
each tap of every window is a strided view of the input, and the maximum is a running ``torch.maximum`` over the
taps (:func:`max_pool2d_taps`).

Backward. Only the window's winner - the first real pixel holding the maximum in row-major window order (its
last NaN if it holds any), as torch breaks ties; padding never wins - moves the output, so ``dL/dx`` receives
each output's gradient at its winner's position (``scatter_add``: a pixel that wins several overlapping windows
collects all their gradients). The forward keeps only which tap of its window won (on the tap-by-tap path one
byte per output, up to 256 taps); the winners' positions, flat ``row * W + col`` in each unpadded ``H x W``
plane, are the ``indices`` that ``return_indices=True`` returns.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor

from .._dtypes import check_tensor, may_hold_nan
from .._library import Function, custom_op, grad_format, memory_format, vmap_batch_first
from ._mode import composite
from ._parallel import run_shares, sample_blocks
from ._pool_geometry import PoolGeometry, check_pool_input
from ._windows import Pair, batched


def _lowest(dtype: torch.dtype) -> float:
    return float("-inf") if dtype.is_floating_point else torch.iinfo(dtype).min


def max_pool2d_forward(x: Tensor, geo: PoolGeometry, eager: bool = False) -> tuple[Tensor, Tensor]:
    """Window maxima and which tap of each window won, ``(N, C, oH, oW)`` each (taps in row-major window order).

    The winner is torch's: the first real pixel (row-major) holding the maximum - never the padding, even when
    pixels equal the padding value (-inf, an integer dtype's minimum) - or a window's last NaN if it has one.
    The values are gathered from the windows, so autograd can differentiate them (the ``'autograd'`` engine).
    Traced, the NaN rule always runs; ``eager`` (inside the custom op's kernel) skips it when no NaN can be there.
    """
    win = geo.windows(x, _lowest(x.dtype))  # (N, C, oH, oW, kH*kW)
    if any(geo.padding):  # a pixel equal to the padding value must still beat the padding
        best = win.detach().max(dim=-1, keepdim=True).values  # (N, C, oH, oW, 1), NaN where a window holds one
        winners = geo.real_taps(x.device) & (win == best)  # (N, C, oH, oW, kH*kW)
        tap = winners.to(torch.uint8).argmax(dim=-1)  # (N, C, oH, oW); argmax returns the first of equal maxima
    else:  # every tap is real: torch.max returns the first of equal maxima
        best, tap = win.detach().max(dim=-1, keepdim=True)  # (N, C, oH, oW, 1) each
        tap = tap.squeeze(-1)  # (N, C, oH, oW)
    if best.is_floating_point() and (not eager or may_hold_nan(best)):
        last_nan = win.shape[-1] - 1 - win.isnan().flip(-1).to(torch.uint8).argmax(dim=-1)  # (N, C, oH, oW)
        tap = torch.where(best.squeeze(-1).isnan(), last_nan, tap)
    values = win.gather(-1, tap.unsqueeze(-1)).squeeze(-1)  # (N, C, oH, oW); autograd routes to the winner
    return values, tap


def max_pool2d_taps(x: Tensor, geo: PoolGeometry) -> tuple[Tensor, Tensor]:
    """:func:`max_pool2d_forward` without padding, tap by tap, copying nothing (the manual engine's forward): the
    window maxima and the winners' flat positions (:func:`winner_positions`), both contiguous.

    Each tap ``(i, j)`` of every window is one strided view of the input, ``(N, C, oH, oW)``. The maximum is a
    running ``torch.maximum`` over the taps. The winner, the first tap equal to it, is the number of taps before
    it that miss: a running "missed so far" mask summed. A window whose maximum is NaN takes its last NaN tap.
    The batch goes in blocks of samples to the parallel shares (:mod:`._parallel`), so that the dozens of small ops
    of a pooling run on single-threaded threads rather than each as a parallel region of its own.
    """
    shape = (*x.shape[:2], *geo.out)
    best, indices = x.new_empty(shape), x.new_empty(shape, dtype=torch.int64)
    offsets, origin = _winner_table(geo, x.device)

    def share(blocks) -> None:
        for a, b in blocks:
            tap = _taps_block(x[a:b], geo, best[a:b])
            torch.index_select(offsets, 0, tap.reshape(-1).long(), out=indices[a:b].view(-1))
            indices[a:b] += origin

    run_shares(sample_blocks(shape, x.device), share, x.device)
    return best, indices


def _taps_block(x: Tensor, geo: PoolGeometry, best: Tensor) -> Tensor:
    """The maxima of ``x``'s windows written into ``best``; returns which tap of each window won."""
    taps = [geo.tap_view(x, i, j) for i in range(geo.kernel[0]) for j in range(geo.kernel[1])]
    if len(taps) == 1:  # a 1x1 window: the output is a copy of the input, never a view of it
        best.copy_(taps[0])
    else:
        torch.maximum(taps[0], taps[1], out=best)  # (n, C, oH, oW); NaN wins, as in torch
        for view in taps[2:]:
            torch.maximum(best, view, out=best)
    missed = taps[0] != best  # (n, C, oH, oW): no tap so far holds the maximum
    tap = missed.to(torch.uint8 if len(taps) <= 256 else torch.int32)
    for view in taps[1:-1]:  # when every earlier tap missed, the last one holds the maximum
        missed &= view != best
        tap += missed
    if best.is_floating_point() and may_hold_nan(best):
        for t, view in enumerate(taps):
            tap.masked_fill_(view.isnan(), t)  # ends at the last NaN
    return tap


def _winner_table(geo: PoolGeometry, device: torch.device) -> tuple[Tensor, Tensor]:
    """``(offsets (kH*kW,), origin (oH, oW))``: each tap's offset in its window and each window's first pixel, as
    flat ``row * W + col`` positions (int64)."""
    (kH, kW), (dH, dW), W = geo.kernel, geo.dilation, geo.size[1]
    offsets = torch.arange(kH, device=device).reshape(kH, 1) * dH * W + torch.arange(kW, device=device) * dW
    origin = geo.window_origin(0, device).reshape(-1, 1) * W + geo.window_origin(1, device)  # (oH, oW)
    return offsets.reshape(-1), origin


def winner_positions(tap: Tensor, geo: PoolGeometry) -> Tensor:
    """The flat ``row * W + col`` of each window's winning tap in its unpadded ``H x W`` plane (int64).

    ``(window's first pixel) + (the tap's offset in the window)``: a table lookup and a broadcast add.
    """
    offsets, origin = _winner_table(geo, tap.device)
    return offsets.index_select(0, tap.reshape(-1).long()).view(tap.shape).add_(origin)


def max_pool2d_backward(grad_out: Tensor, indices: Tensor, size: Pair) -> Tensor:
    """Route each output's gradient to its window's winner: ``(N, C, oH, oW) -> (N, C, H, W)``.

    A ``scatter_add`` per plane; on CUDA over one flattened axis instead, the form whose atomics-free
    implementation ``torch.use_deterministic_algorithms`` can pick.
    """
    N, C = grad_out.shape[:2]
    HW, L = size[0] * size[1], grad_out.shape[2] * grad_out.shape[3]
    index, src = indices.reshape(N * C, L), grad_out.reshape(N * C, L)
    if not grad_out.is_cuda:
        return grad_out.new_zeros(N * C, HW).scatter_add_(1, index, src).reshape(N, C, *size)
    planes = torch.arange(N * C, device=indices.device).reshape(N * C, 1) * HW  # (N*C, 1): each plane's offset
    flat = (index + planes).reshape(-1)  # (N*C*L,) positions in the flattened input
    grad = grad_out.new_zeros(N * C * HW).scatter_add_(0, flat, src.reshape(-1))  # (N*C*H*W,)
    return grad.reshape(N, C, *size)  # (N, C, H, W)


@custom_op("max_pool2d")
def max_pool2d_op(
    x: Tensor, kernel_size: list[int], stride: list[int], padding: list[int], dilation: list[int], ceil_mode: bool
) -> tuple[Tensor, Tensor]:
    """The eager kernel: window maxima and the winners' flat ``H*W`` indices, in ``x``'s memory format."""
    geo = PoolGeometry("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
    if geo.tap_by_tap:
        out, indices = max_pool2d_taps(x, geo)
    else:
        out, tap = max_pool2d_forward(x, geo, eager=True)
        indices = winner_positions(tap, geo)
    fmt = memory_format(x)
    return out.contiguous(memory_format=fmt), indices.contiguous(memory_format=fmt)


@max_pool2d_op.register_fake
def _(x, kernel_size, stride, padding, dilation, ceil_mode):
    geo = PoolGeometry("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
    shape, fmt = (*x.shape[:2], *geo.out), memory_format(x)
    out = torch.empty(shape, dtype=x.dtype, device=x.device, memory_format=fmt)
    return out, torch.empty(shape, dtype=torch.int64, device=x.device, memory_format=fmt)


max_pool2d_op.register_vmap(partial(vmap_batch_first, max_pool2d_op))  # the vmapped dim folds into N


class MaxPool2dFunction(Function):
    """Max pooling; ``backward`` sends each gradient to the position that won its window."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, geo: PoolGeometry) -> tuple[Tensor, Tensor]:
        return max_pool2d_op(x, *geo.args)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.size, ctx.fmt = tuple(inputs[0].shape[-2:]), memory_format(inputs[0])
        ctx.save_for_backward(output[1])  # the indices: modified in place before backward, they raise there
        ctx.mark_non_differentiable(output[1])

    @staticmethod
    def backward(ctx, grad_out: Tensor, _grad_indices: Tensor):
        """``dL/dx[p] = sum of g[o] over the outputs o whose window's winner sits at p``."""
        (indices,) = ctx.saved_tensors
        return max_pool2d_backward(grad_out, indices, ctx.size).contiguous(memory_format=ctx.fmt), None


max_pool2d_op.register_autograd(
    lambda ctx, grad_out, grad_indices: (MaxPool2dFunction.backward(ctx, grad_out, grad_indices)[0],) + (None,) * 5,
    setup_context=MaxPool2dFunction.setup_context,
)


def max_pool2d(
    input: Tensor,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode: bool = False,
    return_indices: bool = False,
    *,
    backward: str | None = None,
):
    """Max pooling with the signature of ``torch.nn.functional.max_pool2d`` (plus keyword-only ``backward``)."""
    check_tensor(input, "max_pool2d")
    check_pool_input(input, "max_pool2d")
    x, unbatched = batched(input, "max_pool2d")
    geo = PoolGeometry("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
    if composite(backward):
        fmt = memory_format(x)
        values, tap = max_pool2d_forward(grad_format(x, fmt), geo)  # the gradient laid out like x, as torch's
        out, indices = values.contiguous(memory_format=fmt), winner_positions(tap, geo).contiguous(memory_format=fmt)
    else:
        out, indices = MaxPool2dFunction.apply(x, geo)
    out = out.squeeze(0) if unbatched else out
    if not return_indices:
        return out
    return out, indices.squeeze(0) if unbatched else indices
