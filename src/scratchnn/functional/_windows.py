"""Sliding windows: the one primitive that convolution and both poolings are built on.

A 2-D window op looks at every ``kH x kW`` patch of a (padded) image, stepping ``stride`` pixels at a time and
spacing the taps ``dilation`` pixels apart. Along one dimension of size ``H`` padded by ``p`` on each side the
number of window positions is::

    H_out = floor((H + 2p - d*(k - 1) - 1) / s) + 1        (ceil instead of floor in ceil_mode)

:func:`window_view` makes every window a strided view of the padded image, ``(N, C, H_out, W_out, kH, kW)``,
without copying anything. Copying those windows side by side (im2col, what ``F.unfold`` returns) turns the whole
sliding-window loop into one tensor: ``(N, C, H, W) -> (C*kH*kW, N*L)`` columns with ``L = H_out * W_out``.
Convolution is then a single matrix product with the flattened kernel, max-pooling a ``max`` over the ``kH*kW``
axis, average-pooling a ``sum``. :func:`fold` (col2im, as ``F.fold``) is the adjoint: it adds every column back
onto the pixels it came from, which is exactly what a backward pass needs.

Both are written here with strided views rather than calling ``F.unfold``/``F.fold``: the same numbers, and on a
CPU faster at this project's shapes, because ATen's im2col and col2im loop over the batch one sample at a time.

This module also holds the argument checks shared by the ops and the padding helpers.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

Pair = tuple[int, int]
Size2 = int | tuple[int, int]  # a window argument as given: one int for both dims, or (height, width)

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def pair(value: int | Sequence[int], name: str) -> Pair:
    """``3 -> (3, 3)``; ``(3, 5)`` stays. Anything else is a TypeError naming ``name``."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int or a pair of ints, but got {value!r}")
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, Sequence) and len(value) == 1 and isinstance(value[0], int):
        return (value[0], value[0])
    if isinstance(value, Sequence) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return (int(value[0]), int(value[1]))
    raise TypeError(f"{name} must be an int or a pair of ints, but got {value!r}")


def check_positive(value: Pair, name: str) -> None:
    """A pooling window argument must be positive; the message has torch's words (``kernel size should be greater
    than zero``; for a stride of 0 ``stride should not be zero``)."""
    if name == "stride" and 0 in value:
        raise RuntimeError(f"stride should not be zero, but got stride={value}")
    if min(value) <= 0:
        raise RuntimeError(f"{name.replace('_', ' ')} should be greater than zero, but got {name}={value}")


def check_non_negative(value: Pair, name: str) -> None:
    if min(value) < 0:
        raise RuntimeError(f"pad must be non-negative, but got {name}={value}")


def check_pool_padding(padding: Pair, kernel_size: Pair) -> None:
    """Pooling pads at most half a kernel, so every window keeps at least one real pixel."""
    if any(p > k // 2 for p, k in zip(padding, kernel_size, strict=True)):
        raise RuntimeError(
            f"pad should be at most half of effective kernel size, but got padding={padding} for "
            f"kernel_size={kernel_size}"
        )


def batched(input: Tensor, op: str) -> tuple[Tensor, bool]:
    """Accept ``(C, H, W)`` or ``(N, C, H, W)``; return the 4-D view and whether a batch dim was added."""
    if input.dim() == 3:
        return input.unsqueeze(0), True
    if input.dim() == 4:
        return input, False
    raise RuntimeError(
        f"Expected 3D (unbatched) or 4D (batched) input to {op}, but got input of size: {list(input.shape)}"
    )


def check_out_size(op: str, input: Tensor, out_hw: Pair) -> None:
    if min(out_hw) < 1:
        C, H, W = input.shape[-3:]
        raise RuntimeError(
            f"{op}: given input size ({C}x{H}x{W}), the calculated output size ({C}x{out_hw[0]}x{out_hw[1]}) "
            "is too small"
        )


def pad(input: Tensor, padding: tuple[int, int, int, int], mode: str = "zeros", value: float = 0.0) -> Tensor:
    """Pad the last two dims by ``(left, right, top, bottom)``; ``mode`` is a Conv2d padding_mode."""
    if not any(padding):
        return input
    if mode == "zeros":
        return F.pad(input, padding, mode="constant", value=value)
    return F.pad(input, padding, mode=mode)


def source_index(size: int, before: int, after: int, mode: str, device: torch.device) -> Tensor:
    """For each position of a padded axis, the input position it was copied from (-1: a constant pad).

    ``F.pad(x, mode=...)`` along one axis is ``x[..., source_index]``; its adjoint, used by the backward passes,
    adds each padded position's gradient onto that source.
    """
    pos = torch.arange(-before, size + after, device=device)
    if mode == "zeros":
        return torch.where((pos >= 0) & (pos < size), pos, -1)
    if mode == "replicate":
        return pos.clamp(0, size - 1)
    if mode == "circular":
        return pos.remainder(size)
    if mode == "reflect":
        period = 2 * (size - 1)
        if period == 0:
            return torch.zeros_like(pos)
        folded = pos.abs().remainder(period)
        return torch.where(folded < size, folded, period - folded)
    raise ValueError(f"padding_mode must be one of {PADDING_MODES}, but got padding_mode={mode!r}")


def unpad(grad: Tensor, size: Pair, padding: tuple[int, int, int, int], mode: str) -> Tensor:
    """Adjoint of :func:`pad`: sum the gradient of every padded pixel back onto the pixel it copies.

    ``grad`` is ``(..., H + top + bottom, W + left + right)``; the result is ``(..., H, W)``. Zero padding copies
    nothing, so its gradient is a crop; reflect, replicate and circular padding send gradient to their sources.
    """
    left, right, top, bottom = padding
    H, W = size
    if not any(padding):
        return grad
    if mode == "zeros":
        return grad[..., top : top + H, left : left + W]
    rows = source_index(H, top, bottom, mode, grad.device)
    cols = source_index(W, left, right, mode, grad.device)
    grad = grad.new_zeros((*grad.shape[:-2], H, grad.shape[-1])).index_add(-2, rows, grad)  # (..., H, Wp)
    return grad.new_zeros((*grad.shape[:-1], W)).index_add(-1, cols, grad)  # (..., H, W)


def window_view(xp: Tensor, kernel: Pair, dilation: Pair, stride: Pair) -> Tensor:
    """Every window of a padded image as a strided view: ``(N, C, Hp, Wp) -> (N, C, oH, oW, kH, kW)``.

    ``Tensor.unfold(dim, span, step)`` slides a window of ``span`` elements along ``dim``; the step ``[::d]`` then
    keeps the dilated taps of each window's span. Works for any dtype and copies nothing.
    """
    (kH, kW), (dH, dW), (sH, sW) = kernel, dilation, stride
    win = xp.unfold(2, dH * (kH - 1) + 1, sH).unfold(3, dW * (kW - 1) + 1, sW)  # (N, C, oH, oW, spH, spW)
    return win[..., ::dH, ::dW]  # (N, C, oH, oW, kH, kW)


def fold(cols: Tensor, size: Pair, kernel: Pair, dilation: Pair, stride: Pair) -> Tensor:
    """col2im, equal to ``F.fold(cols, size, kernel, dilation, 0, stride)``: ``(N, C*kH*kW, L) -> (N, C, Hp, Wp)``.

    The adjoint of unfolding (im2col): each tap ``(i, j)`` of every window is added back onto the pixels it was copied
    from, one strided slice per tap, so pixels shared by overlapping windows collect every copy's gradient.
    """
    kH, kW = kernel
    oH, oW = ((n - d * (k - 1) - 1) // s + 1 for n, k, d, s in zip(size, kernel, dilation, stride, strict=True))
    N, C = cols.shape[0], cols.shape[1] // (kH * kW)
    return fold_taps(cols.reshape(N, C, kH, kW, oH, oW), size, dilation, stride)


def fold_taps(taps: Tensor, size: Pair, dilation: Pair, stride: Pair) -> Tensor:
    """:func:`fold` of columns already split into taps: ``(N, C, kH, kW, oH, oW) -> (N, C, Hp, Wp)``."""
    N, C, kH, kW, oH, oW = taps.shape
    (dH, dW), (sH, sW) = dilation, stride
    out = taps.new_zeros(N, C, *size)  # (N, C, Hp, Wp)
    for i in range(kH):
        for j in range(kW):
            rows = slice(i * dH, i * dH + (oH - 1) * sH + 1, sH)
            columns = slice(j * dW, j * dW + (oW - 1) * sW + 1, sW)
            out[:, :, rows, columns].add_(taps[:, :, i, j])  # (N, C, oH, oW) onto the pixels of tap (i, j)
    return out
