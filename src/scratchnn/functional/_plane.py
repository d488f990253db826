"""The plane path: convolution on batch-interleaved planes, with no k²-sized buffer.

The reference convolution (:func:`scratchnn.functional.conv.columns`) copies every window of the whole batch into
one ``(C*kH*kW, N*L)`` matrix: ``kH*kW`` times the input, 46 MB for the study's second conv at batch 256. Writing
that buffer costs more than the matrix product that reads it. This module computes the same convolution (any
padding, dilation and groups; strides as below) without it: the plane path. It multiplies in one of two ways, *shifted
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
columns (and around it), and goes block by block again:

- ``dL/dplane[:, u] = sum over taps (i, j) of W[:, :, i, j]^T @ g[:, u - off(i, j)]``: the adjoint of the
  forward's sum, written as a gather, so that every block of ``dL/dplane`` is computed once, from the ``g`` it
  needs. Read with the taps in reverse order, ``u - off(i, j) = u - off_max + off(kH-1-i, kW-1-j)``: this is the
  forward's sum of shifted products again, on ``g`` started ``off_max`` early (zeros before it), with the kernel
  flipped and its two channel dimensions swapped, the classic result that a convolution's input gradient is the
  convolution of the output gradient with the flipped, transposed kernel. The zero garbage columns add nothing
  (for finite weights; :mod:`.conv` sends infinite ones to the whole-batch columns), so this is the exact gradient
  of every padded pixel; the adjoint of the padding then sums it onto the input.
- ``dL/dW[o, (c, i, j)] = sum over t of g[o, t] * plane[c, t + off(i, j)]``: here a product per tap would be a
  tiny ``(O, C)`` result of a very long sum, which GEMMs run badly, so each block's columns are copied (im2col
  of one block, into a buffer of cache size) and multiplied by the block of ``g`` in one GEMM, accumulated over
  the blocks.

Strides: phases. With stride ``s`` along a dimension, output ``o`` reads padded pixel ``o*s + i*d`` for tap ``i``,
and ``o*s + i*d = s*(o + (i*d) // s) + (i*d) % s``. Split the padded image into its ``s`` phases, phase ``p``
holding pixels ``p, p + s, p + 2s, ...``: tap ``i`` reads phase ``(i*d) % s`` at ``o + (i*d) // s``, so within
its phase it is a stride-1 tap again. The taps that share a phase are every ``s/g``-th one (``g = gcd(s, d)``),
``d/g`` apart in the phase. So a strided convolution is a sum of stride-1 convolutions, one per phase plane
(``sH*sW`` of them, laid out as above, ``ceil(Hp/sH) x ceil(Wp/sW)`` each) with the sub-kernel of the taps that
read it, all adding into the same output::

    out = sum over phases (p, q) of  conv_stride1(plane[p, q], W[:, :, rows(p), cols(q)])

The planes together hold each padded pixel once, where the whole batch's columns hold it ``kH*kW/(sH*sW)``
times. Stride 1 is the one-phase case. The backward runs per phase too: dL/dW of each sub-kernel, and dL/dx
accumulated onto each phase plane, which then interleave back into the padded image. A stride larger than the
kernel leaves phases no tap reads, where laying them out is wasted: :func:`every_phase_read` says when the
planes pay.

In float16 and bfloat16 every sum is kept in float32 and rounded once, as a single GEMM would.
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import torch
from torch import Tensor

from ._parallel import BLOCKS_PER_THREAD, run_shares, shares, thread_buffers
from ._windows import Pair, pad, unpad

Padding = tuple[int, int, int, int]  # (left, right, top, bottom), as F.pad takes it

CPU_BLOCK_BYTES = 2 << 20  # the block columns of all threads of a loop: of the order of a CPU's L2 cache
SHIFTED_BLOCK_SCALE = 4  # blocks of shifted products hold no columns: they can be larger
SHIFTED_MIN_CHANNELS = 8  # see shifted_products
CUDA_BLOCK_BYTES = 64 << 20  # on a GPU a kernel launch costs more than memory traffic: few, large blocks
TRANSPOSED_MIN_ROWS = 16  # see gemm_result
MIN_SHARE_COLUMNS = 16384  # see loop_threads
MIN_BLOCK_COLUMNS = 4096  # no narrower blocks for BLOCKS_PER_THREAD (below that, per-product overhead costs more than
# the balance gains)


def to_planes(x: Tensor, padding: Padding, padding_mode: str, stride: Pair, tail: int, dtype: torch.dtype) -> Tensor:
    """``x (N, C, H, W)``, padded, split into its ``sH*sW`` phases, each laid out as ``(C, Hq*N*Wq + tail)`` in
    ``dtype``: ``(sH*sW, C, Hq*N*Wq + tail)``, phase ``(p, q)`` at ``p*sW + q`` (see the module docstring).

    Zero padding is written straight into the planes (no padded copy of ``x`` first): they are zeroed, then each
    phase of the image is copied into its plane, two passes in all (zeroing only the borders took one pass per
    border). Other modes pad first. ``tail`` zeros after the last row keep the garbage columns of the last output
    row inside the plane.
    """
    left, right, top, bottom = padding
    if padding_mode != "zeros":
        x, left, right, top, bottom = pad(x, padding, padding_mode), 0, 0, 0, 0
    (N, C, H, W), (sH, sW) = x.shape, stride
    Hq, Wq = -(-(H + top + bottom) // sH), -(-(W + left + right) // sW)
    planes = x.new_zeros(sH * sW, C, Hq * N * Wq + tail, dtype=dtype)
    grids = planes[..., : Hq * N * Wq].unflatten(-1, (Hq, N, Wq))  # (sH*sW, C, Hq, N, Wq)
    for p in range(sH):
        y0 = (p - top) % sH  # the first image row in phase row p: padded row top + y0 = p + sH*r0
        r0, rows = (top + y0) // sH, len(range(y0, H, sH))
        for q in range(sW):
            x0 = (q - left) % sW
            c0, cols = (left + x0) // sW, len(range(x0, W, sW))
            image = x[:, :, y0::sH, x0::sW].permute(1, 2, 0, 3)  # (C, rows, N, cols)
            grids[p * sW + q, :, r0 : r0 + rows, :, c0 : c0 + cols].copy_(image)
    return planes


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


def block_size(x: Tensor, K: int, total: int, threads: int, scale: int = 1) -> int:
    """Columns per block: as many as fit ``scale`` times the cache budget with ``K`` rows, at least one, at most
    ``total``. The budget is shared by the ``threads`` of the loop (:mod:`._parallel`), each with a block in hand."""
    budget = scale * (CUDA_BLOCK_BYTES if x.is_cuda else CPU_BLOCK_BYTES) // threads
    return min(max(1, budget // (K * x.element_size())), total)


def blocks(groups: int, total: int, T: int, threads: int = 1, unit: int = 1) -> list[tuple[int, int, int]]:
    """``(group, first, count)`` of every block: each group's ``total`` units (columns, or rows of ``unit``
    columns), ``T`` at a time, or fewer so that each of the ``threads`` that run the loop (:mod:`._parallel`) gets
    ``BLOCKS_PER_THREAD`` blocks, but none narrower than ``MIN_BLOCK_COLUMNS`` columns unless a thread would
    otherwise get none."""

    def width(parts: int) -> int:  # units per block for `parts` blocks in all
        return -(-total // -(-parts // groups))

    if threads > 1:
        narrowest = -(-MIN_BLOCK_COLUMNS // unit)
        T = min(T, max(width(BLOCKS_PER_THREAD * threads), min(narrowest, width(threads))))
    return [(g, s, min(T, total - s)) for g in range(groups) for s in range(0, total, T)]


def loop_threads(device: torch.device, columns: int) -> int:
    """The threads that run a loop over ``columns`` output columns: every share (:mod:`._parallel`) when each gets
    ``MIN_SHARE_COLUMNS`` of them, else 1, the caller, whose products are then parallel regions of their own (for
    small images, handing blocks to threads costs more than it saves)."""
    threads = shares(device)
    return threads if columns >= threads * MIN_SHARE_COLUMNS else 1


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


def plane_conv(src: Tensor, weight: Tensor, groups: int, step: tuple[int, int], out: Tensor, accumulate: bool) -> None:
    """``out[:, t] (+)= sum over taps of weight[:, :, i, j] @ src[:, t + off(i, j)]``, block by block.

    ``src`` is a plane's ``(C, L)`` data, ``weight`` ``(O, C/groups, kH, kW)`` of the same dtype and ``out`` ``(O,
    total)``, row-major or transposed (:func:`gemm_result`); ``accumulate`` adds to what ``out`` holds instead of
    overwriting it. Shifted products or block columns, as :func:`shifted_products` picks; the blocks run in
    parallel shares (:mod:`._parallel`), each writing its own columns of ``out``.
    """
    O, Cg, kH, kW = weight.shape
    (Og, K), total = (O // groups, Cg * kH * kW), out.shape[1]
    parts = loop_threads(src.device, groups * total)
    if not shifted_products(Cg):
        w = weight.reshape(groups, Og, K)
        T = block_size(src, K, total, parts)
        todo = blocks(groups, total, T, parts)
        take = thread_buffers(src, K * T, todo, parts)

        def block_columns_share(share) -> None:
            buffer = take()
            for g, s, n in share:
                cols = block_columns(src[g * Cg : (g + 1) * Cg], (kH, kW), step, s, n, buffer)
                dst = out[g * Og : (g + 1) * Og, s : s + n]
                if accumulate:
                    dst.addmm_(w[g], cols)
                else:
                    torch.mm(w[g], cols, out=dst)

        run_shares(todo, block_columns_share, src.device, parts)
        return
    w_taps = weight.reshape(groups, Og, Cg, kH * kW).permute(0, 3, 1, 2).contiguous()  # (G, kH*kW, O/G, C/G)
    T = block_size(src, Og + Cg, total, parts, SHIFTED_BLOCK_SCALE)
    offsets = tap_offsets((kH, kW), step)

    def shifted_share(share) -> None:
        for g, s, n in share:
            dst, data = out[g * Og : (g + 1) * Og, s : s + n], src[g * Cg : (g + 1) * Cg]
            taps = zip(offsets, w_taps[g].unbind(0), strict=True)
            if not accumulate:
                off, w = next(taps)
                torch.mm(w, data.narrow(1, s + off, n), out=dst)  # the first tap writes, the others add
            for off, w in taps:
                dst.addmm_(w, data.narrow(1, s + off, n))

    run_shares(blocks(groups, total, T, parts), shifted_share, src.device, parts)


def plane_weight_grad(
    src: Tensor, grad: Tensor, weight_shape: torch.Size, groups: int, step: tuple[int, int], Wq: int
) -> Tensor:
    """``dL/dW[o, (c, i, j)] = sum over t of g[o, t] * src[c, t + off(i, j)]`` over the output columns ``t`` that
    are not garbage, accumulated block by block.

    ``grad`` is ``g`` without its garbage columns, ``(O, U, W_out)``: ``U = H_out*N`` output rows of ``W_out``,
    row ``u`` starting at column ``t = u*Wq`` of the plane. A block is a run of whole rows; its columns are copied
    from ``src`` (:func:`row_columns`) and multiplied by its rows of ``grad``, a view, in one GEMM. Returns ``(G,
    O/G, C/G*kH*kW)``, row-major or transposed (:func:`gemm_result`); the blocks run in parallel shares
    (:mod:`._parallel`), whose sums are added at the end.
    """
    O, Cg, kH, kW = weight_shape
    (Og, K), (_, U, oW) = (O // groups, Cg * kH * kW), grad.shape
    threads = loop_threads(src.device, groups * U * oW)
    rows = max(1, block_size(src, K, U * oW, threads) // oW)  # per block

    def chunk_sums(chunks) -> None:  # each chunk of blocks summed into its own dL/dW
        buffer = take()
        for index, chunk in chunks:
            for g, u, n in chunk:
                cols = row_columns(src[g * Cg : (g + 1) * Cg], (kH, kW), step, (u, n, Wq, oW), buffer)
                sums[index, g].addmm_(grad[g * Og : (g + 1) * Og, u : u + n].flatten(1), cols.T)

    # Fixed chunks, added up in their order: the result does not depend on which thread summed which chunk
    todo = blocks(groups, U, rows, threads, oW)
    parts = min(BLOCKS_PER_THREAD * threads, len(todo))
    cuts = [len(todo) * k // parts for k in range(parts + 1)]
    chunks = [(k, todo[a:b]) for k, (a, b) in enumerate(itertools.pairwise(cuts)) if b > a]
    take = thread_buffers(src, K * rows * oW, chunks, threads)
    sums = gemm_result(grad, (len(chunks), groups, Og, K), Og).zero_()  # in the caller, as the buffers
    run_shares(chunks, chunk_sums, src.device, threads)
    first = sums[0]
    for part in sums[1:]:
        first += part
    return first


def row_columns(data: Tensor, kernel: Pair, step: tuple[int, int], rows: tuple[int, int, int, int], buffer: Tensor):
    """im2col of ``n`` whole output rows into ``buffer``, their garbage columns left out: ``(Cg, L) -> (Cg*kH*kW,
    n*W_out)``, row ``(c, i, j)`` holding ``data[c, u*Wq + w + off(i, j)]`` for the rows ``u`` from ``u0`` and the
    columns ``w < W_out``, ``rows = (u0, n, Wq, W_out)``. The windows are one strided view of ``data``."""
    (Cg, kH, kW), (u0, n, Wq, oW) = (data.shape[0], *kernel), rows
    sizes, strides = (Cg, kH, kW, n, oW), (data.stride(0), step[0], step[1], Wq, 1)
    view = data.as_strided(sizes, strides, data.storage_offset() + u0 * Wq)
    return buffer[: Cg * kH * kW * n * oW].view(sizes).copy_(view).view(Cg * kH * kW, n * oW)


class Phase(NamedTuple):
    """The taps that read one phase plane (``index = p*sW + q``): the sub-kernel ``W[:, :, rows, cols]``, read
    ``base`` into the plane, its tap ``(i, j)`` ``i*step[0] + j*step[1]`` further on."""

    index: int
    rows: slice
    cols: slice
    base: int
    step: tuple[int, int]


class Geometry(NamedTuple):
    """The planes of ``x`` for one convolution: padded size ``(Hp, Wp)``, phase planes of ``Hq x Wq`` pixels,
    output ``(oH, oW)``, ``tail`` (how far past the last padded row the garbage columns of the last output row
    read), and the phases with their taps."""

    Hp: int
    Wp: int
    Hq: int
    Wq: int
    oH: int
    oW: int
    tail: int
    phases: list[Phase]


def axis_phases(k: int, s: int, d: int) -> tuple[list[tuple[int, slice, int]], int]:
    """Along one dimension (kernel ``k``, stride ``s``, dilation ``d``): for each phase that taps read, ``(phase,
    its taps as a slice of the kernel, where in the phase the first of them reads)``; and how far apart in the
    phase its taps read (see the module docstring)."""
    g = math.gcd(s, d)
    return [((i * d) % s, slice(i, None, s // g), (i * d) // s) for i in range(min(s // g, k))], d // g


def every_phase_read(kernel: Pair, stride: Pair, dilation: Pair) -> bool:
    """Whether the taps read every phase plane (``k >= s`` and ``gcd(s, d) = 1`` along both dimensions); if not,
    laying out the unread ones is wasted work."""
    return all(k >= s and math.gcd(s, d) == 1 for k, s, d in zip(kernel, stride, dilation, strict=True))


def plane_geometry(x: Tensor, kernel: Pair, padding: Padding, dilation: Pair, stride: Pair) -> Geometry:
    """The :class:`Geometry` of ``x``'s planes for a ``kernel`` with ``padding``, ``dilation`` and ``stride``."""
    (N, _, H, W), (left, right, top, bottom), (sH, sW) = x.shape, padding, stride
    Hp, Wp = H + top + bottom, W + left + right
    Hq, Wq = -(-Hp // sH), -(-Wp // sW)
    row = N * Wq  # one phase row of every sample: the distance between vertically adjacent pixels of a phase
    rows, dh = axis_phases(kernel[0], sH, dilation[0])
    cols, dw = axis_phases(kernel[1], sW, dilation[1])
    phases = [Phase(p * sW + q, r, c, bi * row + bj, (dh * row, dw)) for p, r, bi in rows for q, c, bj in cols]
    oH = (Hp - dilation[0] * (kernel[0] - 1) - 1) // sH + 1
    oW = (Wp - dilation[1] * (kernel[1] - 1) - 1) // sW + 1
    return Geometry(Hp, Wp, Hq, Wq, oH, oW, (dilation[1] * (kernel[1] - 1)) // sW, phases)


def conv2d_plane(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: Pair,
    padding: Padding,
    padding_mode: str,
    dilation: Pair,
    groups: int,
) -> Tensor:
    """``conv2d`` of ``x (N, C, H, W)``: ``(N, O, H_out, W_out)``, contiguous; one stride-1 convolution per phase."""
    N, O = x.shape[0], weight.shape[0]
    geo = plane_geometry(x, weight.shape[2:], padding, dilation, stride)
    acc = accumulator(x.dtype)
    planes = to_planes(x, padding, padding_mode, stride, geo.tail, dtype=acc)
    w = weight.to(acc)
    flat = gemm_result(planes, (O, geo.oH * N * geo.Wq), O // groups)  # garbage columns included
    for k, phase in enumerate(geo.phases):
        src = planes[phase.index, :, phase.base :]
        plane_conv(src, w[:, :, phase.rows, phase.cols], groups, phase.step, flat, accumulate=k > 0)
    out = flat.unflatten(1, (geo.oH, N, geo.Wq))[..., : geo.oW].permute(2, 0, 1, 3)  # (N, O, H_out, W_out), a view
    result = x.new_empty(N, O, geo.oH, geo.oW)
    if bias is None:
        return result.copy_(out)
    if acc != x.dtype:  # the bias too is added before the one rounding
        return result.copy_(out + bias.to(acc).reshape(1, O, 1, 1))
    return torch.add(out, bias.reshape(1, O, 1, 1), out=result)


def flipped_transposed(weight: Tensor, groups: int) -> Tensor:
    """The kernel of the input gradient: ``(O, C/G, kH, kW) -> (C, O/G, kH, kW)``, each group's two channel
    dimensions swapped and its taps in reverse order."""
    O, Cg, kH, kW = weight.shape
    swapped = weight.reshape(groups, O // groups, Cg, kH, kW).transpose(1, 2)  # (G, C/G, O/G, kH, kW)
    return swapped.reshape(groups * Cg, O // groups, kH, kW).flip(2, 3)


def reach(kernel: Pair, step: tuple[int, int]) -> int:
    """``off_max``: how far on in the plane the last tap of a ``kernel`` reads."""
    return (kernel[0] - 1) * step[0] + (kernel[1] - 1) * step[1]


def conv2d_plane_backward(
    grad_out: Tensor,
    x: Tensor,
    weight: Tensor,
    stride: Pair,
    padding: Padding,
    padding_mode: str,
    dilation: Pair,
    groups: int,
    needs: tuple[bool, bool],
) -> tuple[Tensor | None, Tensor | None]:
    """``(dL/dx, dL/dW)`` of :func:`conv2d_plane` (``None`` where ``needs`` says it is not wanted), phase by phase."""
    geo = plane_geometry(x, weight.shape[2:], padding, dilation, stride)
    acc = accumulator(x.dtype)
    w_acc = weight.to(acc)  # once, not per phase (a copy only in float16 and bfloat16)
    taps = [(w_acc[:, :, phase.rows, phase.cols], phase) for phase in geo.phases]  # each phase's sub-kernel
    grad_x = grad_w = None
    if needs[1]:  # first: dL/dx's buffers are larger, and would be alive here if it came first
        g = contiguous(grad_out.permute(1, 2, 0, 3), acc).flatten(1, 2)  # (O, H_out*N, W_out): no garbage columns
        planes = to_planes(x, padding, padding_mode, stride, geo.tail, acc)
        grad_w = weight.new_empty(weight.shape, dtype=acc)
        for w, phase in taps:  # every tap is in exactly one phase
            part = plane_weight_grad(planes[phase.index, :, phase.base :], g, w.shape, groups, phase.step, geo.Wq)
            grad_w[:, :, phase.rows, phase.cols] = part.reshape(w.shape)
        grad_w = contiguous(grad_w, x.dtype)
        del g, planes  # freed before dL/dx's buffers are allocated
    if needs[0]:
        kept = range(padding[2], padding[2] + x.shape[2]) if padding_mode == "zeros" else range(geo.Hp)
        grad_xp = plane_input_grad(grad_out, x.shape[1], taps, geo, stride, groups, kept)
        grad_xp = unpad(grad_xp[:, :, : geo.Hp, : geo.Wp], x.shape[2:], padding, padding_mode)  # zeros: a crop
        grad_x = contiguous(grad_xp, x.dtype)
    return grad_x, grad_w


def plane_input_grad(
    grad_out: Tensor, C: int, taps: list[tuple[Tensor, Phase]], geo: Geometry, stride: Pair, groups: int, kept: range
) -> Tensor:
    """dL/d(padded x) as ``(N, C, Hq*sH, Wq*sW)``, the phases interleaved (a view of the phase planes' gradient),
    from ``taps``, each phase's sub-kernel in the accumulator dtype. Only the plane rows that hold padded rows
    ``kept`` are computed (zero padding's adjoint, a crop, reads no others); the rest are garbage. ``g`` is laid out
    only as far as their gather reads it (:func:`grad_plane`)."""
    N, (sH, sW), row = grad_out.shape[0], stride, grad_out.shape[0] * geo.Wq
    first, stop = kept.start // sH * row, -(-kept.stop // sH) * row  # the plane columns of the kept rows
    spans = [(max(0, first - p.base), stop - p.base) for _, p in taps]  # per phase, the columns [t0, t1) after base
    front = max(0, *(reach(w.shape[2:], p.step) - t0 for (w, p), (t0, _) in zip(taps, spans, strict=True)))
    g_ext = grad_plane(grad_out, geo, front, max(geo.oH * row, *(t1 for _, t1 in spans)), taps[0][0].dtype)
    planes = gemm_result(g_ext, (sH * sW, C, geo.Hq * row + geo.tail), C // groups)  # dL/d(each phase plane)
    for (w, phase), (t0, t1) in zip(taps, spans, strict=True):
        out = planes[phase.index]
        out[:, first : phase.base].zero_()  # no tap reads the plane before its base
        if t1 > t0:  # out[:, base + t] gathers g[t - off_max + off(i, j)] over the flipped taps
            src = g_ext[:, front - reach(w.shape[2:], phase.step) + t0 :]
            kernel = flipped_transposed(w, groups)
            plane_conv(src, kernel, groups, phase.step, out[:, phase.base + t0 : phase.base + t1], False)
    grid = planes[..., : geo.Hq * row].view(sH, sW, C, geo.Hq, N, geo.Wq)
    return grid.permute(4, 2, 3, 0, 5, 1).reshape(N, C, geo.Hq * sH, geo.Wq * sW)  # phases interleaved


def grad_plane(grad_out: Tensor, geo: Geometry, front: int, length: int, dtype: torch.dtype) -> Tensor:
    """``g (N, O, H_out, W_out)`` laid out like the output plane, ``(O, front + length)`` in ``dtype``: ``front``
    zeros, then ``(O, H_out, N, Wq)`` with zeros in the garbage columns, then zeros up to ``length``. Only the
    zeros are written besides ``g`` (zeroing the whole buffer first would be one more pass over it)."""
    (N, O), rows = grad_out.shape[:2], geo.oH * grad_out.shape[0] * geo.Wq
    g_ext = grad_out.new_empty(O, front + length, dtype=dtype)
    g_ext[:, :front].zero_()
    grid = g_ext[:, front : front + rows].view(O, geo.oH, N, geo.Wq)
    grid[..., geo.oW :].zero_()
    grid[..., : geo.oW] = grad_out.permute(1, 2, 0, 3)
    g_ext[:, front + rows :].zero_()
    return g_ext
