"""2-D convolution as pad -> unfold -> one matrix product -> reshape, with its backward written out.

Forward. Pad the input (zeros, or reflect/replicate/circular copies of its own border), then unfold it: copy each
``C x kH x kW`` patch that the kernel visits into a column (im2col; the same columns ``F.unfold`` returns, here
with the samples side by side)::

    x (N, C, H, W) --pad--> (N, C, Hp, Wp) --unfold--> cols (C*kH*kW, N*L),   L = H_out * W_out

A convolution is a dot product of the flattened kernel with each patch, so all outputs of all filters for the
whole batch come from one matrix product ``W (O, C*kH*kW) @ cols``. With ``groups=G`` the channels split into G
independent blocks: ``W (G, O/G, C/G*kH*kW) @ cols (G, C/G*kH*kW, N*L)``. Reshaping ``(O, N*L)`` to
``(O, N, H_out, W_out)`` and swapping the first two dims gives the output, where
``H_out = floor((H + pad_top + pad_bottom - dH*(kH - 1) - 1) / sH) + 1``.

Backward. With ``y = W @ cols + b`` and ``g = dL/dy`` laid out like the columns, ``(G, O/G, N*L)``:

- ``dL/db = sum of g over N and L``;
- ``dL/dW = g @ cols^T`` -> ``(G, O/G, C/G*kH*kW)``, one GEMM contracting over all ``N*L`` columns;
- ``dL/dcols = W^T @ g`` -> ``(C*kH*kW, N*L)``: the gradient of every copy of every pixel. Folding (col2im, the
  adjoint of unfold, ``F.fold``) adds the copies back onto the padded image, and the adjoint of the padding adds
  each padded pixel onto the pixel it was copied from (for zeros: a crop).

Every step of the backward is itself a differentiable tensor op, so double backward works too.

Speed. Written out in full, the columns of a batch are ``kH*kW`` copies of it (46 MB for the study's second conv
at batch 256), and building them costs more than the product. :class:`Conv2dFunction` (the ``'manual'`` engine)
therefore computes stride-1 convolutions on a batch-interleaved layout where every kernel tap reads the input a
fixed distance further on (:mod:`._plane`): from 8 input channels per group, the product with the columns
becomes a sum of ``kH*kW`` shifted products, one per tap, each reading the input in place, and only dL/dW copies
columns; with fewer channels, columns are copied a cache-sized block at a time. The same formulas, the same
results up to float rounding, and no ``kH*kW``-sized buffer. Strided convolutions, double backward and the
``'autograd'`` engine use the whole-batch columns written above.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from .._dtypes import check_float_input, surely_finite
from ._mode import resolve_backward
from ._plane import conv2d_plane, conv2d_plane_backward
from ._windows import (
    PADDING_MODES,
    Pair,
    batched,
    check_non_negative,
    check_positive,
    fold_taps,
    pad,
    pair,
    unpad,
    window_view,
)


class ConvArgs(NamedTuple):
    """Resolved conv arguments: padding is ``(left, right, top, bottom)`` as ``F.pad`` takes it."""

    stride: Pair
    padding: tuple[int, int, int, int]
    dilation: Pair
    groups: int
    padding_mode: str


def conv_padding(
    padding: str | int | tuple[int, int], kernel_size: Pair, dilation: Pair, stride: Pair
) -> tuple[int, int, int, int]:
    """``padding`` (int, pair, 'valid' or 'same') as ``(left, right, top, bottom)``.

    'same' pads a total of ``d*(k-1)`` per dimension, ``total // 2`` before and the rest after, as torch does.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding != "same":
            raise RuntimeError(f"Invalid padding string {padding!r}, should be one of ('valid', 'same')")
        if stride != (1, 1):
            raise RuntimeError(f"padding='same' is not supported for strided convolutions, but got stride={stride}")
        (tH, tW) = (d * (k - 1) for d, k in zip(dilation, kernel_size, strict=True))
        return (tW // 2, tW - tW // 2, tH // 2, tH - tH // 2)
    pH, pW = pair(padding, "padding")
    check_non_negative((pH, pW), "padding")
    return (pW, pW, pH, pH)


def _check_input(x: Tensor, weight: Tensor, bias: Tensor | None, a: ConvArgs) -> None:
    check_float_input(x, "conv2d")
    if weight.dim() != 4:
        raise RuntimeError(f"conv2d expects a 4D weight (O, C/groups, kH, kW), but got size {list(weight.shape)}")
    if x.dtype != weight.dtype:
        raise RuntimeError(f"conv2d: input dtype {x.dtype} does not match weight dtype {weight.dtype}")
    if bias is not None and bias.dtype != x.dtype:
        raise RuntimeError(f"conv2d: input dtype {x.dtype} does not match bias dtype {bias.dtype}")
    C = x.shape[1]
    if weight.shape[1] * a.groups != C:
        raise RuntimeError(
            f"Given groups={a.groups}, weight of size {list(weight.shape)}, expected input{list(x.shape)} to have "
            f"{weight.shape[1] * a.groups} channels, but got {C} channels instead"
        )
    if weight.shape[0] % a.groups:
        raise RuntimeError(f"conv2d: out_channels={weight.shape[0]} is not divisible by groups={a.groups}")
    left, right, top, bottom = a.padding
    Hp, Wp = x.shape[2] + top + bottom, x.shape[3] + left + right
    kH, kW = (d * (k - 1) + 1 for d, k in zip(a.dilation, weight.shape[2:], strict=True))
    if kH > Hp or kW > Wp:
        raise RuntimeError(
            f"conv2d: padded input size per channel ({Hp} x {Wp}) is smaller than the dilated kernel size "
            f"({kH} x {kW}); kernel size can't be greater than the padded input"
        )


def columns(x: Tensor, weight_shape: torch.Size, a: ConvArgs) -> Tensor:
    """Pad and unfold, one column per output pixel of every sample: ``(N, C, H, W) -> (G, C/G*kH*kW, N*L)``.

    The columns of all samples sit side by side, so the whole batch is one matrix product per group (one large
    GEMM) instead of N small ones.
    """
    G = a.groups
    xp = pad(x, a.padding, a.padding_mode)  # (N, C, Hp, Wp)
    win = window_view(xp, tuple(weight_shape[2:]), a.dilation, a.stride)  # (N, C, oH, oW, kH, kW)
    N, C, oH, oW, kH, kW = win.shape
    cols = win.permute(1, 4, 5, 0, 2, 3)  # (C, kH, kW, N, oH, oW), still a view
    return cols.reshape(G, C // G * kH * kW, N * oH * oW)  # (G, C/G*kH*kW, N*L): the one copy


def out_size(x: Tensor, weight_shape: torch.Size, a: ConvArgs) -> tuple[int, int]:
    """``(H_out, W_out) = floor((H + pad_top + pad_bottom - dH*(kH - 1) - 1) / sH) + 1``, and likewise W."""
    left, right, top, bottom = a.padding
    (H, W), (kH, kW), (dH, dW), (sH, sW) = x.shape[2:], weight_shape[2:], a.dilation, a.stride
    return (H + top + bottom - dH * (kH - 1) - 1) // sH + 1, (W + left + right - dW * (kW - 1) - 1) // sW + 1


def conv2d_forward(x: Tensor, weight: Tensor, bias: Tensor | None, a: ConvArgs, cols: Tensor | None = None) -> Tensor:
    """The forward with plain tensor ops: ``(N, C, H, W) -> (N, O, H_out, W_out)``."""
    N, O, G = x.shape[0], weight.shape[0], a.groups
    cols = columns(x, weight.shape, a) if cols is None else cols  # (G, C/G*kH*kW, N*L)
    w = weight.reshape(G, O // G, cols.shape[1])  # (G, O/G, C/G*kH*kW)
    out = torch.matmul(w, cols)  # (G, O/G, N*L)
    out = out.reshape(O, N, *out_size(x, weight.shape, a)).permute(1, 0, 2, 3)  # (N, O, H_out, W_out), a view
    if bias is not None:
        out = out + bias.reshape(1, O, 1, 1)
    return out


def _grad_input(grad: Tensor, x: Tensor, weight: Tensor, a: ConvArgs) -> Tensor:
    """``unpad(fold(W^T @ g))``: ``g (G, O/G, N*L) -> (N, C, H, W)``."""
    G, O_G, _ = grad.shape
    N, C, (kH, kW), (oH, oW) = x.shape[0], x.shape[1], weight.shape[2:], out_size(x, weight.shape, a)
    left, right, top, bottom = a.padding
    w = weight.reshape(G, O_G, weight[0].numel())  # (G, O/G, C/G*kH*kW)
    grad_cols = torch.matmul(w.transpose(1, 2), grad)  # (G, C/G*kH*kW, N*L)
    taps = grad_cols.reshape(C, kH, kW, N, oH, oW).permute(3, 0, 1, 2, 4, 5)  # (N, C, kH, kW, oH, oW), a view
    padded = (x.shape[2] + top + bottom, x.shape[3] + left + right)
    grad_xp = fold_taps(taps, padded, a.dilation, a.stride)  # (N, C, Hp, Wp)
    return unpad(grad_xp, x.shape[2:], a.padding, a.padding_mode)  # (N, C, H, W)


class Conv2dFunction(torch.autograd.Function):
    """Convolution with the backward derived in the module docstring."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, args: ConvArgs) -> Tensor:
        ctx.args = args
        ctx.has_bias = bias is not None
        ctx.blocked = _blocked(x, weight, args)
        if ctx.blocked:  # the same sums, block by block on a plane layout (functional/_plane.py)
            ctx.save_for_backward(x, weight, None)
            return conv2d_plane(x, weight, bias, args.padding, args.padding_mode, args.dilation, args.groups)
        cols = columns(x, weight.shape, args)  # (G, C/G*kH*kW, N*L)
        # dL/dW needs the columns again: keep them rather than unfold twice (autograd through unfold keeps them too)
        ctx.save_for_backward(x, weight, cols if weight.requires_grad else None)
        return conv2d_forward(x, weight, bias, args, cols)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        """``dL/dx = unpad(fold(W^T @ g))``, ``dL/dW = g @ cols^T`` (over all N*L columns), ``dL/db = sum(g)``."""
        x, weight, cols = ctx.saved_tensors
        a: ConvArgs = ctx.args
        O, G = grad_out.shape[1], a.groups
        grad_x = grad_w = grad_b = None
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_out.sum((0, 2, 3))  # (O,)
        if not any(ctx.needs_input_grad[:2]):  # the bias alone (a frozen layer's): nothing else to lay out
            return None, None, grad_b, None
        if ctx.blocked and not torch.is_grad_enabled() and _finite(x, weight):
            needs = ctx.needs_input_grad[:2]
            grad_x, grad_w = conv2d_plane_backward(
                grad_out, x, weight, a.padding, a.padding_mode, a.dilation, a.groups, needs
            )
            return grad_x, grad_w, grad_b, None
        g = grad_out.transpose(0, 1).reshape(G, O // G, -1)  # (G, O/G, N*L), the layout of the columns
        if ctx.needs_input_grad[0]:
            grad_x = _grad_input(g, x, weight, a)  # (N, C, H, W)
        if ctx.needs_input_grad[1]:
            if cols is None or torch.is_grad_enabled():  # not kept (plane forward), or double backward: columns
                # that carry the graph back to x
                cols = columns(x, weight.shape, a)  # (G, C/G*kH*kW, N*L)
            grad_w = torch.matmul(g, cols.transpose(1, 2))  # (G, O/G, C/G*kH*kW): one GEMM over all N*L columns
            grad_w = grad_w.reshape(weight.shape)  # (O, C/G, kH, kW)
        return grad_x, grad_w, grad_b, None


def _blocked(x: Tensor, weight: Tensor, a: ConvArgs) -> bool:
    """Stride-1 convolutions of a non-empty batch take the blocked path of :mod:`._plane`; on a GPU only ungrouped
    ones (the blocks loop over the groups, one kernel launch per tap and block, where the whole-batch columns
    make one batched product)."""
    if x.is_cuda and a.groups > 1:
        return False
    return a.stride == (1, 1) and x.numel() > 0 and weight.numel() > 0


def _finite(x: Tensor, weight: Tensor) -> bool:
    """The blocked backward also multiplies the zero gradient of its discarded edge columns by real pixels and
    weights, which is 0 for finite values but NaN for an infinite one: those cases take the whole-batch columns,
    which pair each gradient only with the pixels its output saw (double backward, which needs ops that autograd
    can follow, does too). Under ``torch.compile`` the check would depend on the data, which a graph cannot, so
    compiled backward passes always take the whole-batch columns."""
    if torch.compiler.is_compiling():
        return False
    return surely_finite(x) and surely_finite(weight)


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
    *,
    padding_mode: str = "zeros",
    backward: str | None = None,
) -> Tensor:
    """2-D convolution of ``input (N, C, H, W)`` or ``(C, H, W)`` with ``weight (O, C/groups, kH, kW)``.

    The signature of ``torch.nn.functional.conv2d``, plus keyword-only ``padding_mode`` (as on ``nn.Conv2d``) and
    ``backward`` (``'manual'`` or ``'autograd'``, default: :func:`scratchnn.get_backward`).
    """
    stride, dilation = pair(stride, "stride"), pair(dilation, "dilation")
    check_positive(stride, "stride")
    check_positive(dilation, "dilation")
    if not isinstance(groups, int) or groups <= 0:
        raise RuntimeError(f"groups must be a positive integer, but got groups={groups!r}")
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {PADDING_MODES}, but got padding_mode={padding_mode!r}")
    kernel = tuple(weight.shape[2:]) if weight.dim() == 4 else (1, 1)
    args = ConvArgs(stride, conv_padding(padding, kernel, dilation, stride), dilation, groups, padding_mode)
    x, unbatched = batched(input, "conv2d")
    _check_input(x, weight, bias, args)
    if resolve_backward(backward) == "manual":
        out = Conv2dFunction.apply(x, weight, bias, args)
    else:
        out = conv2d_forward(x, weight, bias, args)
    return out.squeeze(0) if unbatched else out
