"""The plane path: stride-1 convolution on a batch-interleaved plane, with no k²-sized buffer.

The reference convolution (:func:`scratchnn.functional.conv.columns`) copies every window of the whole batch into
one ``(C*kH*kW, N*L)`` matrix: ``kH*kW`` times the input, 46 MB for the study's second conv at batch 256. Writing
that buffer costs more than the matrix product that reads it. This module computes the same convolution (stride
1, any padding, dilation and groups) without it: the plane path. It multiplies in one of two ways, *shifted
products* or *block columns*, as :func:`shifted_products` picks.

The layout. Pad the input and lay it out as ``(C, Hp, N, Wp)``: for each channel, padded row 0 of every sample,
then padded row 1 of every sample, and so on. Flatten it per channel to ``t = row*N*Wp + n*Wp + col``. Tap
``(i, j)`` of the kernel reads the pixel ``(i*dH, j*dW)`` further on, which in this layout is always the same
distance ``off(i, j) = i*dH*N*Wp + j*dW``. So output ``t`` is::

    out[:, t] = sum over taps (i, j) of  W[:, :, i, j] @ plane[:, t + off(i, j)]

For a block of outputs ``[t0, t0 + T)`` the inputs of tap ``(i, j)`` are ``plane[:, t0 + off : t0 + off + T]``, a
strided ``(C, T)`` view that a GEMM reads in place. The forward is a sum of ``kH*kW`` shifted products: per tap
and group one GEMM ``(O/G, C/G) @ (C/G, T)``, accumulated into the block's output (``addmm_``). The columns an
im2col would copy are never written. With fewer than 8 input channels per group such products are too thin to run well
(:func:`shifted_products`), and the block's im2col is copied instead: the ``C/G*kH*kW`` runs above, one strided
view and one copy into a cache-sized buffer, then one GEMM.

An output column near the right edge (``col >= W_out``) runs past the end of its row into the next sample's row:
those ``dW*(kW - 1)`` garbage columns per row are computed and thrown away (the price of the layout: ``Wp / W_out``
more work).

Backward lays the output gradient ``g`` out the same way, ``(O, H_out, N, Wp)``, with zeros in the garbage
columns, and goes block by block again:

- ``dL/dplane[:, t + off(i, j)] += W[:, :, i, j]^T @ g[:, t]``: per tap one GEMM added onto the plane
  ``off(i, j)`` further on, the same sum of shifted products run backwards (col2im without the columns); with
  fewer than 8 input channels per group, the block's gradient columns ``W^T @ g`` and one add per tap. The zero
  garbage columns add nothing (for finite weights; :mod:`.conv` sends infinite ones to the whole-batch columns),
  so this is the exact gradient of every padded pixel; the adjoint of the padding then sums it onto the input.
- ``dL/dW[o, (c, i, j)] = sum over t of g[o, t] * plane[c, t + off(i, j)]``: here a product per tap would be a
  tiny ``(O, C)`` result of a very long sum, which GEMMs run badly, so each block's columns are copied (im2col
  of one block, into a buffer of cache size) and multiplied by the block of ``g`` in one GEMM, accumulated over
  the blocks.

In float16 and bfloat16 every sum is kept in float32 and rounded once, as a single GEMM would.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from ._windows import Pair, pad, unpad

Padding = tuple[int, int, int, int]  # (left, right, top, bottom), as F.pad takes it

CPU_BLOCK_BYTES = 4 << 20  # one block of columns: of the order of a CPU's L2 cache
SHIFTED_BLOCK_SCALE = 2  # blocks of shifted products hold no columns: they can be larger
COL2IM_BLOCK_SCALE = 2  # col2im adds one slice per tap and block: larger blocks, fewer adds
SHIFTED_MIN_CHANNELS = 8  # see shifted_products
CUDA_BLOCK_BYTES = 64 << 20  # on a GPU a kernel launch costs more than memory traffic: few, large blocks
TRANSPOSED_MIN_ROWS = 16  # see gemm_result


def to_plane(x: Tensor, padding: Padding, padding_mode: str, tail: int, dtype: torch.dtype) -> Tensor:
    """``x (N, C, H, W)``, padded, laid out as ``(C, Hp*N*Wp + tail)`` in ``dtype`` (see the module docstring).

    Zero padding is written straight into the plane: its borders zeroed, the image copied inside them (one strided
    copy, no padded copy of ``x`` first). Other modes pad first. ``tail`` zeros after the last row keep the garbage
    columns of the last output row inside the plane.
    """
    left, right, top, bottom = padding
    if padding_mode != "zeros":
        x, left, right, top, bottom = pad(x, padding, padding_mode), 0, 0, 0, 0
    N, C, H, W = x.shape
    Hp, Wp = H + top + bottom, W + left + right
    plane = x.new_empty(C, Hp * N * Wp + tail, dtype=dtype)
    plane[:, Hp * N * Wp :].zero_()
    grid = plane[:, : Hp * N * Wp].view(C, Hp, N, Wp)
    for border in (grid[:, :top], grid[:, top + H :], grid[:, top : top + H, :, :left], grid[..., left + W :]):
        border.zero_()
    grid[:, top : top + H, :, left : left + W].copy_(x.permute(1, 2, 0, 3))
    return plane


def block_columns(data: Tensor, kernel: Pair, step: tuple[int, int], t0: int, T: int, buffer: Tensor) -> Tensor:
    """im2col of one block into ``buffer``: ``(Cg, L) -> (Cg*kH*kW, T)``, row ``(c, i, j)`` is
    ``data[c, t0 + off(i, j) :][:T]``. One buffer serves every block of a call (fresh large allocations page-fault).

    The windows are views: ``unfold`` along the plane every ``step[0]`` for the kernel rows, then every ``step[1]``
    for the taps of a row.
    """
    Cg, (kH, kW), (s0, s1) = data.shape[0], kernel, step
    span = s1 * (kW - 1) + T  # one kernel row's taps, as one run
    rows = data[:, t0 : t0 + s0 * (kH - 1) + span].unfold(1, span, s0)  # (Cg, kH, span)
    view = rows.unfold(2, T, s1)  # (Cg, kH, kW, T)
    cols = buffer[: Cg * kH * kW * T].view(Cg, kH, kW, T)
    return cols.copy_(view).view(Cg * kH * kW, T)  # the copy: kH*kW contiguous runs per channel


def block_size(x: Tensor, K: int, total: int, scale: int = 1) -> int:
    """Columns per block: as many as fit ``scale`` times the cache budget with ``K`` rows, at least one, at most
    ``total``."""
    budget = scale * (CUDA_BLOCK_BYTES if x.is_cuda else CPU_BLOCK_BYTES)
    return min(max(1, budget // (K * x.element_size())), total)


def blocks(groups: int, total: int, T: int) -> Iterator[tuple[int, int, int]]:
    """``(group, first column, columns)`` of every block: each group's ``total`` columns, ``T`` at a time."""
    for g in range(groups):
        for s in range(0, total, T):
            yield g, s, min(T, total - s)


def gemm_result(like: Tensor, shape: tuple[int, ...], rows: int) -> Tensor:
    """An empty result ``(..., R, Q)`` for GEMMs with ``rows`` output rows each, laid out for the fastest GEMM.

    On the CPU with ``rows >= TRANSPOSED_MIN_ROWS`` it is stored transposed, as ``(..., Q, R)``: torch then hands
    MKL each ``(rows, K) @ (K, T)`` product as ``(T, K) @ (K, rows)``, which MKL runs faster for such short,
    wide products (and slower for a few rows: the threshold). Elsewhere, row-major.
    """
    if like.device.type != "cpu" or rows < TRANSPOSED_MIN_ROWS:
        return like.new_empty(shape)
    return like.new_empty((*shape[:-2], shape[-1], shape[-2])).transpose(-1, -2)


def accumulator(dtype: torch.dtype) -> torch.dtype:
    """The dtype sums are kept in: float32 for float16 and bfloat16, else ``dtype`` itself."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def contiguous(t: Tensor, dtype: torch.dtype) -> Tensor:
    """``t`` as a contiguous tensor of ``dtype``: at most one copy."""
    return t.contiguous() if t.dtype == dtype else t.new_empty(t.shape, dtype=dtype).copy_(t)


def tap_offsets(kernel: Pair, step: tuple[int, int]) -> list[int]:
    """``off(i, j)`` of every tap, row-major: how far on in the plane tap ``(i, j)`` reads."""
    return [i * step[0] + j * step[1] for i in range(kernel[0]) for j in range(kernel[1])]


def shifted_products(channels: int) -> bool:
    """Whether the forward and dL/dx run as shifted products (one GEMM per tap) rather than on block columns.

    Per tap, the forward's product sums over only the ``channels = C/G`` input channels of a group, and dL/dx's
    has only that many rows; below ``SHIFTED_MIN_CHANNELS`` such thin products run badly and one GEMM over block
    columns (``C/G*kH*kW`` deep) wins.
    """
    return channels >= SHIFTED_MIN_CHANNELS


def plane_conv(src: Tensor, weight: Tensor, groups: int, step: tuple[int, int], total: int) -> Tensor:
    """``out[:, t] = sum over taps of weight[:, :, i, j] @ src[:, t + off(i, j)]``, block by block.

    ``src`` is a plane's ``(C, L)`` data and ``weight`` ``(O, C/groups, kH, kW)`` of the same dtype; returns
    ``out``, ``(O, total)``, row-major or transposed (:func:`gemm_result`). Shifted products or block columns, as
    :func:`shifted_products` picks.
    """
    O, Cg, kH, kW = weight.shape
    Og, K = O // groups, Cg * kH * kW
    out = gemm_result(src, (O, total), Og)
    if not shifted_products(Cg):
        w = weight.reshape(groups, Og, K)
        T = block_size(src, K, total)
        buffer = src.new_empty(K * T)
        for g, s, n in blocks(groups, total, T):
            cols = block_columns(src[g * Cg : (g + 1) * Cg], (kH, kW), step, s, n, buffer)
            torch.mm(w[g], cols, out=out[g * Og : (g + 1) * Og, s : s + n])
        return out
    w_taps = weight.reshape(groups, Og, Cg, kH * kW).permute(0, 3, 1, 2).contiguous()  # (G, kH*kW, O/G, C/G)
    T = block_size(src, Og + Cg, total, SHIFTED_BLOCK_SCALE)
    offsets = tap_offsets((kH, kW), step)
    for g, s, n in blocks(groups, total, T):
        dst, data = out[g * Og : (g + 1) * Og, s : s + n], src[g * Cg : (g + 1) * Cg]
        first, *rest = zip(offsets, w_taps[g].unbind(0), strict=True)
        torch.mm(first[1], data.narrow(1, s + first[0], n), out=dst)  # the first tap writes, the others add
        for off, w in rest:
            dst.addmm_(w, data.narrow(1, s + off, n))
    return out


def plane_weight_grad(src: Tensor, grad: Tensor, weight_shape: torch.Size, groups: int, step: tuple[int, int]):
    """``dL/dW[o, (c, i, j)] = sum over t of grad[o, t] * src[c, t + off(i, j)]``, accumulated block by block.

    Returns ``(G, O/G, C/G*kH*kW)``, row-major or transposed (:func:`gemm_result`).
    """
    O, Cg, kH, kW = weight_shape
    Og, K, total = O // groups, Cg * kH * kW, grad.shape[1]
    grad_w = gemm_result(grad, (groups, Og, K), Og).zero_()
    T = block_size(src, K, total)
    buffer = src.new_empty(K * T)
    for g, s, n in blocks(groups, total, T):
        cols = block_columns(src[g * Cg : (g + 1) * Cg], (kH, kW), step, s, n, buffer)
        grad_w[g].addmm_(grad[g * Og : (g + 1) * Og, s : s + n], cols.T)
    return grad_w


def plane_geometry(x: Tensor, kernel: Pair, padding: Padding, dilation: Pair) -> tuple[int, int, tuple[int, int], int]:
    """``(Hp, Wp, step, tail)`` of ``x``'s plane: its padded size; ``step``, how far on in the plane the next kernel
    row and the next tap of a row read (``off(i, j) = i*step[0] + j*step[1]``); and ``tail``, how far past the last
    padded row the garbage columns of the last output row read."""
    (N, _, H, W), (left, right, top, bottom) = x.shape, padding
    Hp, Wp = H + top + bottom, W + left + right
    step = (dilation[0] * N * Wp, dilation[1])  # N*Wp: one padded row of every sample, vertically adjacent pixels
    return Hp, Wp, step, step[1] * (kernel[1] - 1)


def conv2d_plane(
    x: Tensor, weight: Tensor, bias: Tensor | None, padding: Padding, padding_mode: str, dilation: Pair, groups: int
) -> Tensor:
    """Stride-1 ``conv2d`` of ``x (N, C, H, W)``: ``(N, O, H_out, W_out)``, contiguous."""
    N, O, (kH, kW) = x.shape[0], weight.shape[0], weight.shape[2:]
    Hp, Wp, step, tail = plane_geometry(x, (kH, kW), padding, dilation)
    oH, oW = Hp - dilation[0] * (kH - 1), Wp - dilation[1] * (kW - 1)
    acc = accumulator(x.dtype)
    src = to_plane(x, padding, padding_mode, tail, dtype=acc)
    flat = plane_conv(src, weight.to(acc), groups, step, oH * N * Wp)  # (O, H_out*N*Wp), garbage columns included
    out = flat.unflatten(1, (oH, N, Wp))[..., :oW].permute(2, 0, 1, 3)  # (N, O, H_out, W_out), a view
    result = x.new_empty(N, O, oH, oW)
    if bias is None:
        return result.copy_(out)
    if acc != x.dtype:  # the bias too is added before the one rounding
        return result.copy_(out + bias.to(acc).reshape(1, O, 1, 1))
    return torch.add(out, bias.reshape(1, O, 1, 1), out=result)


def plane_input_grad(grad: Tensor, weight: Tensor, groups: int, step: tuple[int, int], length: int) -> Tensor:
    """``dL/dplane[:, t + off(i, j)] += W[:, :, i, j]^T @ grad[:, t]``: ``(O, T) -> (C, length)``, block by block.

    Shifted products (:func:`shifted_products`): per tap, the block's ``(C/G, T)`` gradient is one GEMM
    accumulated straight onto the plane ``off(i, j)`` further on (``addmm_`` into a strided slice). Otherwise
    col2im: the block's gradient columns are one GEMM, ``W^T @ grad``, ``(C/G*kH*kW, T)``, and the row of tap
    ``(c, i, j)`` is added onto the plane ``off(i, j)`` further on (one add per tap).
    """
    O, Cg, kH, kW = weight.shape
    Og, K, total = O // groups, Cg * kH * kW, grad.shape[1]
    plane = grad.new_zeros(Cg * groups, length)
    offsets = tap_offsets((kH, kW), step)
    if not shifted_products(Cg):
        w_t = weight.reshape(groups, Og, K).transpose(1, 2)  # (G, C/G*kH*kW, O/G)
        T = block_size(grad, K, total, COL2IM_BLOCK_SCALE)
        buffer = grad.new_empty(K * T)
        for g, s, n in blocks(groups, total, T):
            block, dst = grad[g * Og : (g + 1) * Og, s : s + n], plane[g * Cg : (g + 1) * Cg]
            cols = torch.mm(w_t[g], block, out=buffer[: K * n].view(K, n))  # the block's gradient columns
            for off, tap in zip(offsets, cols.view(Cg, kH * kW, n).unbind(1), strict=True):
                dst.narrow(1, s + off, n).add_(tap)  # (C/G, T) onto the plane, off(i, j) further on
        return plane
    w_taps = weight.reshape(groups, Og, Cg, kH * kW).permute(0, 3, 2, 1).contiguous()  # (G, kH*kW, C/G, O/G)
    T = block_size(grad, Og + Cg, total, SHIFTED_BLOCK_SCALE)
    for g, s, n in blocks(groups, total, T):
        block, dst = grad[g * Og : (g + 1) * Og, s : s + n], plane[g * Cg : (g + 1) * Cg]
        for off, w_t in zip(offsets, w_taps[g].unbind(0), strict=True):
            dst.narrow(1, s + off, n).addmm_(w_t, block)
    return plane


def conv2d_plane_backward(
    grad_out: Tensor,
    x: Tensor,
    weight: Tensor,
    padding: Padding,
    padding_mode: str,
    dilation: Pair,
    groups: int,
    needs: tuple[bool, bool],
) -> tuple[Tensor | None, Tensor | None]:
    """``(dL/dx, dL/dW)`` of :func:`conv2d_plane` (``None`` where ``needs`` says it is not wanted)."""
    (N, C), O, (oH, oW) = x.shape[:2], weight.shape[0], grad_out.shape[2:]
    Hp, Wp, step, tail = plane_geometry(x, weight.shape[2:], padding, dilation)
    row = N * Wp
    acc = accumulator(x.dtype)
    g = grad_out.new_empty(O, oH, N, Wp, dtype=acc)  # g as (O, H_out, N, Wp), zero in the garbage columns
    g[..., :oW] = grad_out.permute(1, 2, 0, 3)
    g[..., oW:] = 0
    g = g.view(O, oH * row)
    grad_x = grad_w = None
    if needs[1]:
        grad_w = plane_weight_grad(to_plane(x, padding, padding_mode, tail, acc), g, weight.shape, groups, step)
        grad_w = contiguous(grad_w, x.dtype).view(weight.shape)
    if needs[0]:
        grad_plane = plane_input_grad(g, weight.to(acc), groups, step, Hp * row + tail)  # (C, Hp*N*Wp + tail)
        grad_xp = grad_plane[:, : Hp * row].view(C, Hp, N, Wp).permute(2, 0, 1, 3)  # (N, C, Hp, Wp)
        grad_xp = unpad(grad_xp, x.shape[2:], padding, padding_mode)  # zero padding: a crop
        grad_x = contiguous(grad_xp, x.dtype)
    return grad_x, grad_w
