"""Max and average pooling: windows per channel, reduced by ``max`` or ``mean``, with their backward passes.

Pooling treats every channel on its own. ``Tensor.unfold`` views each ``kH x kW`` window of the padded input
and one copy lays its taps side by side: ``(N, C, Hp, Wp) -> (N, C, H_out, W_out, kH*kW)``. Reducing the last axis
(``max`` or ``sum``) gives the output ``(N, C, H_out, W_out)``. The backward passes use ``F.fold`` (col2im), the
adjoint that adds each window's taps back onto the pixels they came from.

Padding. Max pooling pads with ``-inf`` (never zeros: a zero would beat every negative input), average pooling
with zeros. In ``ceil_mode`` the last window may hang past the padded edge; we pad further so that it exists, with
values that cannot win (``-inf``) or that add nothing (``0``) and are left out of the divisor.

Without padding (ceil-mode overhang counts as padding) and with small windows, the manual engine copies nothing:
each tap of every window is a strided view of the input, and the maximum is a running ``torch.maximum`` over the
taps (:func:`max_pool2d_taps`).

Max backward. Only the window's winner - the first real pixel holding the maximum in row-major window order (its
last NaN if it holds any), as torch breaks ties; padding never wins - moves the output, so ``dL/dx`` receives
each output's gradient at its winner's position (``scatter_add``: a pixel that wins several overlapping windows
collects all their gradients). The forward keeps only which tap of its window won (on the tap-by-tap path one
byte per output, up to 256 taps); the winners' positions, flat ``row * W + col`` in each unpadded ``H x W``
plane, are the ``indices`` that ``return_indices=True`` returns.

Average backward. ``y = sum(window) / divisor``, so every pixel of a window receives ``g / divisor``: the scaled
gradient is copied to all ``kH*kW`` taps and ``F.fold`` adds the overlapping copies back onto the image.

Divisor. ``divisor_override`` if given; else with ``count_include_pad`` the window's size clipped to the padded
input (``H + 2p``; only ceil-mode windows are clipped); else the number of real pixels in the window.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import Tensor

from .._dtypes import check_tensor, may_hold_nan
from .._library import composite, grad_format, memory_format, vmap_batch_first
from ._mode import resolve_backward
from ._pool_geometry import PoolGeometry, check_pool_input
from ._windows import Pair, batched

# ----------------------------------------------------------------------------------------------- max pooling


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
    """:func:`max_pool2d_forward` without padding, tap by tap, copying nothing (the manual engine's forward).

    Each tap ``(i, j)`` of every window is one strided view of the input, ``(N, C, oH, oW)``. The maximum is a
    running ``torch.maximum`` over the taps. The winner, the first tap equal to it, is the number of taps before
    it that miss: a running "missed so far" mask summed. A window whose maximum is NaN takes its last NaN tap.
    """
    taps = [geo.tap_view(x, i, j) for i in range(geo.kernel[0]) for j in range(geo.kernel[1])]
    if len(taps) == 1:  # a 1x1 window: the output is a copy of the input, never a view of it
        best = taps[0].clone(memory_format=torch.contiguous_format)
    else:
        best = torch.maximum(taps[0], taps[1]).contiguous()  # (N, C, oH, oW); NaN wins, as in torch
        for view in taps[2:]:
            torch.maximum(best, view, out=best)
    missed = taps[0] != best  # (N, C, oH, oW): no tap so far holds the maximum
    tap = missed.to(torch.uint8 if len(taps) <= 256 else torch.int32)
    for view in taps[1:-1]:  # when every earlier tap missed, the last one holds the maximum
        missed &= view != best
        tap += missed
    if best.is_floating_point() and may_hold_nan(best):
        for t, view in enumerate(taps):
            tap.masked_fill_(view.isnan(), t)  # ends at the last NaN
    return best, tap


def winner_positions(tap: Tensor, geo: PoolGeometry) -> Tensor:
    """The flat ``row * W + col`` of each window's winning tap in its unpadded ``H x W`` plane (int64).

    ``(window's first pixel) + (the tap's offset in the window)``: a table lookup and a broadcast add.
    """
    (kH, kW), (dH, dW), W = geo.kernel, geo.dilation, geo.size[1]
    device = tap.device
    offsets = torch.arange(kH, device=device).reshape(kH, 1) * dH * W + torch.arange(kW, device=device) * dW
    origin = geo.window_origin(0, device).reshape(-1, 1) * W + geo.window_origin(1, device)  # (oH, oW)
    return offsets.reshape(-1).index_select(0, tap.reshape(-1).long()).view(tap.shape).add_(origin)


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


@torch.library.custom_op("scratchnn::max_pool2d", mutates_args=())
def max_pool2d_op(
    x: Tensor, kernel_size: list[int], stride: list[int], padding: list[int], dilation: list[int], ceil_mode: bool
) -> tuple[Tensor, Tensor]:
    """The eager kernel: window maxima and the winners' flat ``H*W`` indices, in ``x``'s memory format."""
    geo = PoolGeometry("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
    out, tap = max_pool2d_taps(x, geo) if geo.tap_by_tap else max_pool2d_forward(x, geo, eager=True)
    fmt = memory_format(x)
    return out.contiguous(memory_format=fmt), winner_positions(tap, geo).contiguous(memory_format=fmt)


@max_pool2d_op.register_fake
def _(x, kernel_size, stride, padding, dilation, ceil_mode):
    geo = PoolGeometry("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
    shape, fmt = (*x.shape[:2], *geo.out), memory_format(x)
    out = torch.empty(shape, dtype=x.dtype, device=x.device, memory_format=fmt)
    return out, torch.empty(shape, dtype=torch.int64, device=x.device, memory_format=fmt)


max_pool2d_op.register_vmap(partial(vmap_batch_first, max_pool2d_op))  # the vmapped dim folds into N


class MaxPool2dFunction(torch.autograd.Function):
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
    if composite(resolve_backward(backward)):
        fmt = memory_format(x)
        values, tap = max_pool2d_forward(grad_format(x, fmt), geo)  # the gradient laid out like x, as torch's
        out, indices = values.contiguous(memory_format=fmt), winner_positions(tap, geo).contiguous(memory_format=fmt)
    else:
        out, indices = MaxPool2dFunction.apply(x, geo)
    out = out.squeeze(0) if unbatched else out
    if not return_indices:
        return out
    return out, indices.squeeze(0) if unbatched else indices


# ------------------------------------------------------------------------------------------- average pooling


def _divisor_1d(n: int, out: int, k: int, s: int, p: int, include_pad: bool, device) -> Tensor:
    start = torch.arange(out, device=device) * s - p
    end = torch.clamp(start + k, max=n + p)
    if include_pad:
        return end - start
    return end.clamp(max=n) - start.clamp(min=0)


def avg_divisor(geo: PoolGeometry, count_include_pad: bool, divisor_override: int | None, device) -> Tensor:
    """The ``(oH, oW)`` number each window's sum is divided by (rules in the module docstring)."""
    if divisor_override is not None:
        return torch.full(geo.out, float(divisor_override), device=device)
    p = (geo.padding[2], geo.padding[0])
    dH, dW = (
        _divisor_1d(n, o, k, s, q, count_include_pad, device)
        for n, o, k, s, q in zip(geo.size, geo.out, geo.kernel, geo.stride, p, strict=True)
    )
    return (dH.reshape(-1, 1) * dW.reshape(1, -1)).float()  # (oH, oW)


def avg_pool2d_forward(x: Tensor, geo: PoolGeometry, divisor: Tensor) -> Tensor:
    windows = geo.windows(x, 0.0)  # (N, C, oH, oW, kH*kW)
    if not x.dtype.is_floating_point:
        return torch.div(windows.sum(dim=-1), divisor.to(x.dtype), rounding_mode="trunc")
    acc = torch.float32 if x.element_size() < 4 else x.dtype  # half and bfloat16 accumulate in float32
    return (windows.sum(dim=-1, dtype=acc) / divisor.to(acc)).to(x.dtype)  # (N, C, oH, oW)


def avg_pool2d_backward(grad_out: Tensor, geo: PoolGeometry, divisor: Tensor) -> Tensor:
    """Spread ``g / divisor`` over every tap of the window: ``(N, C, oH, oW) -> (N, C, H, W)``."""
    N, C = grad_out.shape[:2]
    taps = geo.kernel[0] * geo.kernel[1]
    L = grad_out.shape[2] * grad_out.shape[3]
    g = (grad_out / divisor.to(grad_out.dtype)).reshape(N * C, 1, L)  # (N*C, 1, L)
    return geo.fold(g.expand(-1, taps, -1), N, C)  # (N, C, H, W)


class AvgPool2dFunction(torch.autograd.Function):
    """Average pooling; ``backward`` shares each output's gradient equally among its window's taps. Forward and
    backward are plain tensor ops that ``torch.compile`` and ``torch.export`` trace (no custom op needed)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, geo: PoolGeometry, divisor: Tensor) -> Tensor:
        return avg_pool2d_forward(x, geo, divisor).contiguous(memory_format=memory_format(x))

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        _, ctx.geo, divisor = inputs
        ctx.fmt = memory_format(inputs[0])
        ctx.save_for_backward(divisor)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        """``dL/dx[p] = sum over windows o containing p of g[o] / divisor[o]``."""
        (divisor,) = ctx.saved_tensors
        return avg_pool2d_backward(grad_out, ctx.geo, divisor).contiguous(memory_format=ctx.fmt), None, None


def avg_pool2d(
    input: Tensor,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
    *,
    backward: str | None = None,
) -> Tensor:
    """Average pooling with the signature of ``torch.nn.functional.avg_pool2d`` (plus keyword-only ``backward``)."""
    check_tensor(input, "avg_pool2d")
    if input.dim() < 3:  # torch reads the channel dim before it checks the rank, so this is an IndexError there
        raise IndexError(
            f"Expected 3D (unbatched) or 4D (batched) input to avg_pool2d, but got input of size: {list(input.shape)}"
        )
    check_pool_input(input, "avg_pool2d")
    x, unbatched = batched(input, "avg_pool2d")
    geo = PoolGeometry("avg_pool2d", x, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError(f"divisor must be not zero, but got divisor_override={divisor_override}")
    divisor = avg_divisor(geo, count_include_pad, divisor_override, x.device)
    if composite(resolve_backward(backward)):
        out = AvgPool2dFunction.forward(grad_format(x, memory_format(x)), geo, divisor)  # grad laid out like x
    else:
        out = AvgPool2dFunction.apply(x, geo, divisor)
    return out.squeeze(0) if unbatched else out
