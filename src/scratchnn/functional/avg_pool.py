"""Average pooling: the mean of every window of each channel, and the backward that shares each gradient equally
among the window's pixels.

Pooling treats every channel on its own. The windows come from the shared geometry (:mod:`._pool_geometry`):
``Tensor.unfold`` views each ``kH x kW`` window of the zero-padded input and one copy lays its taps side by side,
``(N, C, Hp, Wp) -> (N, C, H_out, W_out, kH*kW)``; the sum over the last axis, divided by the divisor, is the output
``(N, C, H_out, W_out)``. In ``ceil_mode`` the last window may hang past the padded edge; the geometry pads further
with zeros so that it exists, and those zeros are left out of the divisor.

Divisor. ``divisor_override`` if given; else with ``count_include_pad`` the window's size clipped to the padded
input (``H + 2p``; only ceil-mode windows are clipped); else the number of real pixels in the window.

Backward. ``y = sum(window) / divisor``, so every pixel of a window receives ``g / divisor``: the scaled gradient
is copied to all ``kH*kW`` taps and col2im (:meth:`PoolGeometry.fold`, one strided add per tap, the adjoint of the
unfolding) adds the overlapping copies back onto the image.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._dtypes import check_tensor
from .._library import Function, grad_format, memory_format
from ._mode import composite
from ._pool_geometry import PoolGeometry, check_pool_input
from ._windows import batched


def check_divisor(divisor_override: int | None) -> None:
    """A ``divisor_override`` of 0 is refused when the pooling runs, as torch refuses it."""
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError(f"divisor must be not zero, but got divisor_override={divisor_override}")


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


class AvgPool2dFunction(Function):
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
    check_divisor(divisor_override)
    divisor = avg_divisor(geo, count_include_pad, divisor_override, x.device)
    if composite(backward):
        out = AvgPool2dFunction.forward(grad_format(x, memory_format(x)), geo, divisor)  # grad laid out like x
    else:
        out = AvgPool2dFunction.apply(x, geo, divisor)
    return out.squeeze(0) if unbatched else out
