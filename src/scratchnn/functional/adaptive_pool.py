"""Adaptive average pooling: the mean of ``oH x oW`` windows that tile the input, for any output size.

Windows. Output row ``i`` of ``oH`` averages the input rows ``[floor(i*H/oH), ceil((i+1)*H/oH))`` (torch's
windows): when ``oH`` divides ``H`` they are ``H/oH`` rows wide and do not overlap; otherwise their widths differ
by at most one and neighbours may share a row. Columns likewise.

Forward. A window is a rectangle, so its sum splits into a sum over rows then over columns. With the 0/1 window
matrices ``R (oH, H)`` (``R[i, h] = 1`` when row ``h`` is in window ``i``) and ``K (oW, W)``, and ``n (oH, oW)``
the number of pixels in each window::

    y = (R @ x @ K^T) / n          x (N, C, H, W) -> (N, C, H, oW) -> (N, C, oH, oW)

The window matrices depend only on the shapes, never on the data; their entries are exact 0s and 1s, so the
sums are sums of the pixels and only the division rounds.

Backward. ``y`` is linear in ``x``, so ``dL/dx`` applies the transposed map to ``g = dL/dy``: each pixel receives
the gradient of every window it lies in, divided by that window's size::

    dL/dx = R^T @ (g / n) @ K        g (N, C, oH, oW) -> (N, C, H, oW) -> (N, C, H, W)

Each product runs as one matrix product over all ``N*C`` planes: ``x @ K^T`` has ``N*C*H`` rows, and ``R @ t`` is
computed as ``(t^T @ R^T)^T`` so that its rows are the planes' columns (``N*C*oW`` of them).

Both directions are plain matrix products in the input's dtype; they run with autocast off (torch's
``adaptive_avg_pool2d`` keeps the input's dtype under autocast, where a bare ``matmul`` would lower it).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._dtypes import check_tensor
from .._library import Function, grad_format, memory_format
from ._mode import composite


def window_matrix(size: int, out: int, like: Tensor) -> Tensor:
    """``R (out, size)`` with ``R[i, h] = 1`` for ``floor(i*size/out) <= h < ceil((i+1)*size/out)``."""
    i = torch.arange(out, device=like.device).unsqueeze(1)  # (out, 1)
    h = torch.arange(size, device=like.device)  # (size,)
    start, end = (i * size) // out, -((-(i + 1) * size) // out)  # floor and ceil, (out, 1) each
    return ((h >= start) & (h < end)).to(like.dtype)  # (out, size)


def _no_autocast(x: Tensor):
    return torch.autocast(x.device.type, enabled=False)


def adaptive_avg_pool2d_forward(x: Tensor, rows: Tensor, cols: Tensor, counts: Tensor) -> Tensor:
    """``(R @ x @ K^T) / n``: ``(N, C, H, W) -> (N, C, oH, oW)`` in torch's memory format."""
    with _no_autocast(x):
        t = torch.matmul(x, cols.t())  # (N, C, H, oW): one GEMM over N*C*H rows
        out = torch.matmul(t.transpose(2, 3), rows.t()).transpose(2, 3) / counts  # (N, C, oW, oH) -> (N, C, oH, oW)
    return out.contiguous(memory_format=memory_format(x))


def adaptive_avg_pool2d_backward(grad_out: Tensor, x: Tensor, rows: Tensor, cols: Tensor, counts: Tensor) -> Tensor:
    """``R^T @ (g / n) @ K``: ``(N, C, oH, oW) -> (N, C, H, W)`` laid out like the input."""
    with _no_autocast(grad_out):
        t = torch.matmul((grad_out / counts).transpose(2, 3), rows)  # (N, C, oW, H): one GEMM over N*C*oW rows
        grad_x = torch.matmul(t.transpose(2, 3), cols)  # (N, C, H, W)
    return grad_x.contiguous(memory_format=grad_layout(x, grad_out.shape[-2:]))


def grad_layout(x: Tensor, out_hw: tuple[int, int]) -> torch.memory_format:
    """torch's layout of ``dL/dx``: ``x``'s, except for a global average (a ``1 x 1`` output), which torch takes
    as a mean whose gradient comes back contiguous."""
    return torch.contiguous_format if tuple(out_hw) == (1, 1) else memory_format(x)


class AdaptiveAvgPool2dFunction(Function):
    """Adaptive average pooling; ``backward`` spreads each output's gradient evenly over its window. Plain tensor
    ops that ``torch.compile`` and ``torch.export`` trace (no custom op needed)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, rows: Tensor, cols: Tensor, counts: Tensor) -> Tensor:
        return adaptive_avg_pool2d_forward(x, rows, cols, counts)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        x, rows, cols, counts = inputs
        ctx.save_for_backward(x, rows, cols, counts)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        """``dL/dx = R^T @ (g / n) @ K``, the transpose of the forward's linear map."""
        x, rows, cols, counts = ctx.saved_tensors
        return adaptive_avg_pool2d_backward(grad_out, x, rows, cols, counts), None, None, None


def _output_size(output_size, H: int, W: int) -> tuple[int, int]:
    """An int, or a pair whose ``None`` entries keep the input's size."""
    sizes = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    if len(sizes) != 2:
        raise RuntimeError(f"adaptive_avg_pool2d: output_size must be 2, but got output_size={output_size!r}")
    sizes = (H if sizes[0] is None else sizes[0], W if sizes[1] is None else sizes[1])
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in sizes):
        raise TypeError(
            f"adaptive_avg_pool2d(): argument 'output_size' (position 2) must be tuple of ints, but got {output_size!r}"
        )
    if min(sizes) < 0:
        raise RuntimeError(
            "adaptive_avg_pool2d: elements of output_size must be greater than or equal to 0 but received "
            f"{{{sizes[0]}, {sizes[1]}}}"
        )
    return sizes


def _check_input(input: Tensor) -> None:
    if input.dim() not in (3, 4):
        raise RuntimeError(f"adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got {list(input.shape)}")
    if 0 in input.shape[-2:]:  # no channels is allowed, as torch allows it
        raise RuntimeError(
            "adaptive_avg_pool2d(): Expected input to have non-zero size for non-batch dimensions, but input has "
            f"sizes {list(input.shape)} with dimension {input.shape[-2:].index(0) + input.dim() - 2} being empty"
        )
    if not (input.is_floating_point() or input.is_complex()):
        raise NotImplementedError(f'"adaptive_avg_pool2d" not implemented for {input.dtype}')


def adaptive_avg_pool2d(input: Tensor, output_size, *, backward: str | None = None) -> Tensor:
    """Adaptive average pooling with the signature of ``torch.nn.functional.adaptive_avg_pool2d`` (plus
    keyword-only ``backward``): ``(N, C, H, W)`` or ``(C, H, W)`` to ``oH x oW`` planes."""
    check_tensor(input, "adaptive_avg_pool2d")
    _check_input(input)
    H, W = input.shape[-2:]
    oH, oW = _output_size(output_size, H, W)
    x, unbatched = (input.unsqueeze(0), True) if input.dim() == 3 else (input, False)
    rows, cols = window_matrix(H, oH, x), window_matrix(W, oW, x)  # (oH, H), (oW, W)
    counts = rows.sum(1, keepdim=True) * cols.sum(1)  # (oH, oW): pixels per window
    if composite(backward):
        out = adaptive_avg_pool2d_forward(grad_format(x, grad_layout(x, (oH, oW))), rows, cols, counts)
    else:
        out = AdaptiveAvgPool2dFunction.apply(x, rows, cols, counts)
    return out.squeeze(0) if unbatched else out
