"""Stride-1 convolution on a batch-interleaved plane: im2col in cache-sized pieces, without a k²-sized buffer.

The reference convolution (:func:`scratchnn.functional.conv.columns`) copies every window of the whole batch into
one ``(C*kH*kW, N*L)`` matrix: ``kH*kW`` times the input, 46 MB for the study's second conv at batch 256. Writing
that buffer costs more than the matrix product that reads it, and a GEMM streaming it from main memory runs at a
third of the speed it reaches on data in cache. This module computes the same convolution (stride 1, any padding,
dilation and groups) in column blocks that stay in cache.

The layout. Pad the input and lay it out as ``(C, Hp, N, Wp)``: for each channel, padded row 0 of every sample,
then padded row 1 of every sample, and so on. Flatten it per channel to ``t = row*N*Wp + n*Wp + col``. Tap
``(i, j)`` of the kernel reads the pixel ``(i*dH, j*dW)`` further on, which in this layout is always the same
distance ``off(i, j) = i*dH*N*Wp + j*dW``. So output ``t`` is::

    out[o, t] = sum over c, i, j of  W[o, c, i, j] * plane[c, t + off(i, j)]

For a block of outputs ``[t0, t0 + T)`` the columns of tap ``(c, i, j)`` are one contiguous run of the plane,
``plane[c, t0 + off(i, j) : t0 + off(i, j) + T]``, so the block's im2col is one strided view and one fast copy,
and its output one GEMM. An output column near the right edge (``col >= W_out``) runs past the end of its row
into the next sample's row: those ``dW*(kW - 1)`` garbage columns per row are computed and thrown away (the price of
the layout: ``Wp / W_out`` more work, 1.07x and 1.27x for the study's convs).

Backward lays the output gradient ``g`` out the same way, ``(O, H_out, N, Wp)``, with zeros in the garbage
columns, and goes block by block again:

- ``dL/dW[o, (c, i, j)] = sum over t of g[o, t] * plane[c, t + off(i, j)]``: a GEMM of the block of ``g`` with the
  block's columns (rebuilt: keeping them would bring back the big buffer), accumulated over the blocks;
- ``dL/dplane[c, t + off(i, j)] += sum over o of W[o, c, i, j] * g[o, t]``: the block's gradient columns
  ``W^T @ g`` (one GEMM), each tap's row added onto the plane ``off(i, j)`` further on (col2im). The zero
  garbage columns add nothing (for finite weights; :mod:`.conv` sends infinite ones to the whole-batch
  columns), so this is the exact gradient of every padded pixel; the adjoint of the padding then sums it onto
  the input.

dL/dW sums over many blocks: in float16 and bfloat16 the sum is kept in float32, as a single GEMM would.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from ._windows import Pair, pad, unpad

Padding = tuple[int, int, int, int]  # (left, right, top, bottom), as F.pad takes it

CPU_BLOCK_BYTES = 4 << 20  # one block of columns: measured best between 1 and 8 MB on 2 cores (L2 2x1 MB)
INPUT_GRAD_SCALE = 2  # col2im adds one slice per tap and block: larger blocks, fewer adds (measured in a CNN step)
CUDA_BLOCK_BYTES = 64 << 20  # on a GPU a kernel launch costs more than memory traffic: few, large blocks (unmeasured)
TRANSPOSED_MIN_ROWS = 16  # see gemm_result


def to_plane(xp: Tensor, tail: int) -> Tensor:
    """A padded ``(N, C, Hp, Wp)`` batch laid out as ``(C, Hp*N*Wp + tail)`` (see the module docstring): one
    strided copy. ``tail`` zeros after the last row keep the garbage columns of the last output row inside it."""
    N, C, Hp, Wp = xp.shape
    plane = xp.new_empty(C, Hp * N * Wp + tail)
    plane[:, Hp * N * Wp :].zero_()
    plane[:, : Hp * N * Wp].view(C, Hp, N, Wp).copy_(xp.permute(1, 2, 0, 3))
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


def gemm_result(like: Tensor, shape: tuple[int, ...], rows: int, dtype: torch.dtype | None = None) -> Tensor:
    """An empty result ``(..., R, Q)`` for GEMMs with ``rows`` output rows each, laid out for the fastest GEMM.

    On the CPU with ``rows >= TRANSPOSED_MIN_ROWS`` it is stored transposed, as ``(..., Q, R)``: torch then hands
    MKL each ``(rows, K) @ (K, T)`` product as ``(T, K) @ (K, rows)``, which ran 15-30% faster for 16-64 rows
    (conv2's 16 included) and 3-5x slower for 8 or fewer (2 cores, AMD EPYC, MKL 2024.2). Elsewhere, row-major.
    """
    if like.device.type != "cpu" or rows < TRANSPOSED_MIN_ROWS:
        return like.new_empty(shape, dtype=dtype)
    return like.new_empty((*shape[:-2], shape[-1], shape[-2]), dtype=dtype).transpose(-1, -2)


def plane_conv(src: Tensor, weight: Tensor, groups: int, step: tuple[int, int], total: int) -> Tensor:
    """``out[:, t] = sum over (c, i, j) of weight[:, c, i, j] * src[c, t + off(i, j)]``, block by block.

    ``src`` is a plane's ``(C, L)`` data and ``weight`` ``(O, C/groups, kH, kW)``; returns ``out``, ``(O, total)``,
    row-major or transposed (:func:`gemm_result`).
    """
    O, Cg, kH, kW = weight.shape
    Og, K = O // groups, Cg * kH * kW
    w = weight.reshape(groups, Og, K)
    out = gemm_result(src, (O, total), Og)
    T = block_size(src, K, total)
    buffer = src.new_empty(K * T)
    for g, s, n in blocks(groups, total, T):
        cols = block_columns(src[g * Cg : (g + 1) * Cg], (kH, kW), step, s, n, buffer)
        torch.mm(w[g], cols, out=out[g * Og : (g + 1) * Og, s : s + n])
    return out


def plane_weight_grad(src: Tensor, grad: Tensor, weight_shape: torch.Size, groups: int, step: tuple[int, int]):
    """``dL/dW[o, (c, i, j)] = sum over t of grad[o, t] * src[c, t + off(i, j)]``, accumulated block by block."""
    O, Cg, kH, kW = weight_shape
    Og, K, total = O // groups, Cg * kH * kW, grad.shape[1]
    low_precision = src.dtype in (torch.float16, torch.bfloat16)  # sum the blocks' products in float32
    grad_w = gemm_result(grad, (groups, Og, K), Og, dtype=torch.float32 if low_precision else grad.dtype).zero_()
    T = block_size(src, K, total)
    buffer = src.new_empty(K * T)
    for g, s, n in blocks(groups, total, T):
        cols = block_columns(src[g * Cg : (g + 1) * Cg], (kH, kW), step, s, n, buffer)
        block = grad[g * Og : (g + 1) * Og, s : s + n]
        if low_precision:
            grad_w[g] += torch.mm(block, cols.T)
        else:
            grad_w[g].addmm_(block, cols.T)
    return grad_w.to(grad.dtype).contiguous().view(weight_shape)


def conv2d_plane(
    x: Tensor, weight: Tensor, bias: Tensor | None, padding: Padding, padding_mode: str, dilation: Pair, groups: int
) -> Tensor:
    """Stride-1 ``conv2d`` of ``x (N, C, H, W)``: ``(N, O, H_out, W_out)``, contiguous."""
    xp = pad(x, padding, padding_mode)
    N, _, Hp, Wp = xp.shape
    O, _, kH, kW = weight.shape
    oH, oW = Hp - dilation[0] * (kH - 1), Wp - dilation[1] * (kW - 1)
    row = N * Wp  # one padded row of every sample: the distance between vertically adjacent pixels
    step = (dilation[0] * row, dilation[1])
    flat = plane_conv(to_plane(xp, tail=dilation[1] * (kW - 1)), weight, groups, step, oH * row)  # garbage incl.
    out = flat.unflatten(1, (oH, N, Wp))[..., :oW].permute(2, 0, 1, 3)  # (N, O, H_out, W_out), a view
    result = x.new_empty(N, O, oH, oW)
    if bias is None:
        return result.copy_(out)
    return torch.add(out, bias.reshape(1, O, 1, 1), out=result)


def plane_input_grad(grad: Tensor, weight: Tensor, groups: int, step: tuple[int, int], length: int) -> Tensor:
    """``dL/dplane[c, t + off(i, j)] += W[o, c, i, j] * grad[o, t]``: ``(O, T) -> (C, length)``, block by block.

    Each block's gradient columns are one GEMM, ``W^T @ grad``, ``(C/G*kH*kW, T)``; the row of tap ``(c, i, j)``
    is then added onto the plane at ``off(i, j)`` further on (col2im: one add per tap).
    """
    O, Cg, kH, kW = weight.shape
    Og, K, total = O // groups, Cg * kH * kW, grad.shape[1]
    w_t = weight.reshape(groups, Og, K).transpose(1, 2)  # (G, C/G*kH*kW, O/G)
    plane = grad.new_zeros(Cg * groups, length)
    T = block_size(grad, K, total, INPUT_GRAD_SCALE)
    buffer = grad.new_empty(K * T)
    offsets = [i * step[0] + j * step[1] for i in range(kH) for j in range(kW)]  # off(i, j), row-major taps
    for g, s, n in blocks(groups, total, T):
        block, dst = grad[g * Og : (g + 1) * Og, s : s + n], plane[g * Cg : (g + 1) * Cg]
        cols = torch.mm(w_t[g], block, out=buffer[: K * n].view(K, n))  # the block's gradient columns
        for off, tap in zip(offsets, cols.view(Cg, kH * kW, n).unbind(1), strict=True):
            dst.narrow(1, s + off, n).add_(tap)  # (C/G, T) onto the plane, off(i, j) further on
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
    xp = pad(x, padding, padding_mode)
    N, C, Hp, Wp = xp.shape
    O, kW = weight.shape[0], weight.shape[3]
    oH, oW = grad_out.shape[2:]
    row = N * Wp
    step = (dilation[0] * row, dilation[1])
    tail = step[1] * (kW - 1)  # the garbage columns of the last output row read this far past the last padded row
    g = grad_out.new_empty(O, oH, N, Wp)  # g as (O, H_out, N, Wp), zero in the garbage columns
    g[..., :oW] = grad_out.permute(1, 2, 0, 3)
    g[..., oW:] = 0
    g = g.view(O, oH * row)
    grad_x = grad_w = None
    if needs[1]:
        grad_w = plane_weight_grad(to_plane(xp, tail), g, weight.shape, groups, step)
    if needs[0]:
        grad_plane = plane_input_grad(g, weight, groups, step, Hp * row + tail)  # (C, Hp*N*Wp + tail)
        grad_xp = grad_plane[:, : Hp * row].view(C, Hp, N, Wp).permute(2, 0, 1, 3)  # (N, C, Hp, Wp)
        grad_x = unpad(grad_xp, x.shape[2:], padding, padding_mode).contiguous()  # zero padding: a crop
    return grad_x, grad_w
