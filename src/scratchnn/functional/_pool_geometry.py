"""The window arithmetic of a pooling call: output size, padding (with ceil mode's overhang), taps and views."""

from __future__ import annotations

import torch
from torch import Tensor

from ._windows import (
    Pair,
    check_non_negative,
    check_out_size,
    check_pool_padding,
    check_positive,
    fold,
    pad,
    pair,
    unpad,
    window_view,
)


class PoolGeometry:
    """Window arithmetic of one pooling call on an ``H x W`` plane; ``padding`` is ``(left, right, top, bottom)``
    including the extra right/bottom padding that ceil-mode windows need. ``args`` holds the arguments resolved to
    pairs, as the custom ops take them: ``(kernel_size, stride, padding, dilation, ceil_mode)``."""

    def __init__(self, op: str, x: Tensor, kernel_size, stride, padding, dilation, ceil_mode: bool):
        self.kernel = pair(kernel_size, "kernel_size")
        self.stride = self.kernel if stride is None or stride == [] or stride == () else pair(stride, "stride")
        p, self.dilation = pair(padding, "padding"), pair(dilation, "dilation")
        self.args = (list(self.kernel), list(self.stride), list(p), list(self.dilation), ceil_mode)  # as given
        if 0 in self.stride:  # first, as torch: a kernel of 0 (the default stride) is first a stride of 0
            raise RuntimeError(f"stride should not be zero, but got stride={self.stride}, kernel_size={self.kernel}")
        check_positive(self.kernel, "kernel_size")
        check_positive(self.stride, "stride")
        check_positive(self.dilation, "dilation")
        check_non_negative(p, "padding")
        check_pool_padding(p, self.kernel)
        self.size: Pair = tuple(x.shape[-2:])
        spans = [d * (k - 1) + 1 for d, k in zip(self.dilation, self.kernel, strict=True)]
        self.out: Pair = tuple(
            _out_size(n, k, s, q, ceil_mode) for n, k, s, q in zip(self.size, spans, self.stride, p, strict=True)
        )
        check_out_size(op, x, self.out)
        (eH, eW) = (
            max(q, (o - 1) * s + k - n - q)
            for n, k, s, q, o in zip(self.size, spans, self.stride, p, self.out, strict=True)
        )
        self.padding = (p[1], eW, p[0], eH)

    @property
    def tap_by_tap(self) -> bool:
        """Whether max pooling goes tap by tap (:func:`max_pool2d_taps`): no padding (ceil-mode overhang counts
        as padding), and no more taps than output pixels per plane - a few ops per tap, on outputs large enough to
        pay for them (a global pool is faster from the copied windows)."""
        taps, outputs = self.kernel[0] * self.kernel[1], self.out[0] * self.out[1]
        return not any(self.padding) and taps <= outputs

    @property
    def padded(self) -> Pair:
        left, right, top, bottom = self.padding
        return (self.size[0] + top + bottom, self.size[1] + left + right)

    def windows(self, x: Tensor, value: float) -> Tensor:
        """``(N, C, H, W) -> (N, C, oH, oW, kH*kW)``: the taps of every window, last.

        ``Tensor.unfold`` makes each window a strided view of the padded input (any dtype), the step ``[::d]``
        picks the dilated taps out of each window's span, and the final reshape copies the taps side by side.
        """
        win = window_view(pad(x, self.padding, value=value), self.kernel, self.dilation, self.stride)
        return win.reshape(*win.shape[:4], self.kernel[0] * self.kernel[1])  # (N, C, oH, oW, kH*kW)

    def fold(self, cols: Tensor, N: int, C: int) -> Tensor:
        """Adjoint of :meth:`windows`: ``(N*C, kH*kW, L) -> (N, C, H, W)``, summing overlapping taps."""
        xp = fold(cols, self.padded, self.kernel, self.dilation, self.stride)  # (N*C, 1, Hp, Wp)
        return unpad(xp, self.size, self.padding, "zeros").reshape(N, C, *self.size)  # (N, C, H, W)

    def window_origin(self, dim: int, device: torch.device) -> Tensor:
        """Unpadded coordinate of the first tap of each window along ``dim`` (0: rows, 1: columns)."""
        before = self.padding[2] if dim == 0 else self.padding[0]
        return torch.arange(self.out[dim], device=device) * self.stride[dim] - before

    def tap_view(self, x: Tensor, i: int, j: int) -> Tensor:
        """Tap ``(i, j)`` of every window of the unpadded ``x``, a strided ``(N, C, oH, oW)`` view."""
        (oH, oW), (dH, dW), (sH, sW) = self.out, self.dilation, self.stride
        return x[..., i * dH : i * dH + (oH - 1) * sH + 1 : sH, j * dW : j * dW + (oW - 1) * sW + 1 : sW]

    def real_taps(self, device: torch.device) -> Tensor:
        """``(oH, oW, kH*kW)``: which taps of each window fall on the input rather than on its padding."""
        inside = []
        for dim in (0, 1):
            taps = torch.arange(self.kernel[dim], device=device) * self.dilation[dim]  # (k,)
            pos = self.window_origin(dim, device).reshape(-1, 1) + taps  # (o, k)
            inside.append((pos >= 0) & (pos < self.size[dim]))
        (oH, kH), (oW, kW) = inside[0].shape, inside[1].shape
        real = inside[0].reshape(oH, 1, kH, 1) & inside[1].reshape(1, oW, 1, kW)  # (oH, oW, kH, kW)
        return real.reshape(oH, oW, kH * kW)  # (oH, oW, kH*kW)


def check_pool_input(input: Tensor, op: str) -> None:
    """Only the batch dim may be empty, as in torch."""
    if input.dim() in (3, 4) and any(n == 0 for n in input.shape[-3:]):
        raise RuntimeError(
            f"{op}: Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but got:"
            f"{list(input.shape)}"
        )


def _out_size(size: int, span: int, stride: int, pad: int, ceil_mode: bool) -> int:
    """Window count along one dim; a ceil-mode window must start inside the input or its left padding."""
    room = size + 2 * pad - span
    out = (room + (stride - 1 if ceil_mode else 0)) // stride + 1  # floor division, as torch rounds
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out
