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

Speed. Written out in full, the columns of a batch are ``kH*kW`` copies of it (46 MB for the study's second conv at
batch 256), and building them costs more than the product. :class:`Conv2dFunction` (the ``'manual'`` engine)
therefore computes convolutions on a batch-interleaved layout where every kernel tap reads the input a fixed
distance further on (the plane path, :mod:`._plane`): from 8 input channels per group, the product with the
columns becomes a sum of ``kH*kW`` shifted products, one per tap, each reading the input in place, and only dL/dW
copies columns; with fewer channels, columns are copied a cache-sized block at a time. A strided convolution is
split into one such stride-1 convolution per phase of the input (every ``sH``-th row from row ``p``, every
``sW``-th column from column ``q``). The same formulas, the same results up to float rounding, and no
``kH*kW``-sized buffer. Strides larger than the kernel, strided convolutions on a GPU, double backward and the
``'autograd'`` engine use the whole-batch columns written above.

Registration. The ``'manual'`` engine's kernels are the custom ops ``scratchnn::conv2d``, ``conv2d_input_grad`` and
``conv2d_weight_grad``, opaque to ``torch.compile`` and ``torch.export`` (their fast paths look at the data);
:class:`Conv2dFunction` holds the backward that calls them (docs/ops.md explains the whole arrangement).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import Tensor

from .._dtypes import check_tensor, surely_finite
from .._library import (
    Function,
    autocast_inputs,
    conv_formats,
    custom_op,
    differentiable_backward,
    grad_format,
    like,
    register_autocast,
    vmap_batch_first,
    vmap_loop,
)
from ._conv_args import ConvArgs, check_input, check_padding_mode, check_steps, conv_padding, out_size
from ._mode import composite
from ._plane import conv2d_plane, conv2d_plane_backward, every_phase_read
from ._windows import Size2, batched, fold_taps, pad, unpad, window_view


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


def conv2d_forward(x: Tensor, weight: Tensor, bias: Tensor | None, a: ConvArgs) -> Tensor:
    """The forward with plain tensor ops: ``(N, C, H, W) -> (N, O, H_out, W_out)``, in torch's memory format."""
    N, O, G = x.shape[0], weight.shape[0], a.groups
    cols = columns(x, weight.shape, a)  # (G, C/G*kH*kW, N*L)
    w = weight.reshape(G, O // G, cols.shape[1])  # (G, O/G, C/G*kH*kW)
    out = torch.matmul(w, cols)  # (G, O/G, N*L)
    out = out.reshape(O, N, *out_size(x, weight.shape, a)).permute(1, 0, 2, 3)  # (N, O, H_out, W_out), a view
    if bias is not None:
        out = out + bias.reshape(1, O, 1, 1)
    return out.contiguous(memory_format=conv_formats(x, weight, a.padding_mode)[0])


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


# ------------------------------------------------------------------------- the custom ops and their Function
# The ops take ConvArgs as torch.library schemas take arguments: (stride, padding, dilation, groups, padding_mode).

CONV_ARGS_SCHEMA = "SymInt[] stride, SymInt[] padding, SymInt[] dilation, SymInt groups, str padding_mode"


def _op_args(a: ConvArgs) -> tuple:
    return list(a.stride), list(a.padding), list(a.dilation), a.groups, a.padding_mode


def _from_op(stride: list[int], padding: list[int], dilation: list[int], groups: int, padding_mode: str) -> ConvArgs:
    return ConvArgs(tuple(stride), tuple(padding), tuple(dilation), groups, padding_mode)


def _conv2d_kernel(x: Tensor, weight: Tensor, bias: Tensor | None, *op_args) -> Tensor:
    """The eager kernel: the plane path (:mod:`._plane`) where it applies, else the whole-batch columns."""
    a = _from_op(*op_args)
    if not _on_plane(x, weight, a):
        return conv2d_forward(x, weight, bias, a)
    out = conv2d_plane(x, weight, bias, a.stride, a.padding, a.padding_mode, a.dilation, a.groups)  # (N, O, oH, oW)
    return out.contiguous(memory_format=conv_formats(x, weight, a.padding_mode)[0])


def _grad_kernel(wanted: int) -> Callable[..., Tensor]:
    """The eager kernel of ``dL/dx = unpad(fold(W^T @ g))`` (``wanted=0``) or ``dL/dW = g @ cols^T`` (1): on the
    plane for finite values (see :func:`_plane_exact`), else on the whole-batch columns. Laid out like ``x`` or
    ``W``, in torch's memory format."""

    def kernel(grad_out: Tensor, x: Tensor, weight: Tensor, *op_args) -> Tensor:
        a = _from_op(*op_args)
        if _on_plane(x, weight, a) and _plane_exact(x, weight):
            needs = (wanted == 0, wanted == 1)
            plane_args = (a.stride, a.padding, a.padding_mode, a.dilation, a.groups)
            grad = conv2d_plane_backward(grad_out, x, weight, *plane_args, needs)[wanted]
        else:
            g = _grad_columns(grad_out, a.groups)  # (G, O/G, N*L)
            grad = _grad_input(g, x, weight, a) if wanted == 0 else _grad_weight(g, x, weight.shape, a)
        return like(grad, (x, weight)[wanted], conv_formats(x, weight, a.padding_mode)[1 + wanted])

    return kernel


conv2d_op = custom_op(
    "conv2d", _conv2d_kernel, schema=f"(Tensor x, Tensor weight, Tensor? bias, {CONV_ARGS_SCHEMA}) -> Tensor"
)
conv2d_input_grad, conv2d_weight_grad = (
    custom_op(
        f"conv2d_{name}_grad",
        _grad_kernel(wanted),
        schema=f"(Tensor grad_out, Tensor x, Tensor weight, {CONV_ARGS_SCHEMA}) -> Tensor",
    )
    for wanted, name in enumerate(("input", "weight"))
)


@conv2d_op.register_fake
def _(x, weight, bias, *op_args):
    a = _from_op(*op_args)
    shape = (x.shape[0], weight.shape[0], *out_size(x, weight.shape, a))
    return torch.empty(shape, dtype=x.dtype, device=x.device, memory_format=conv_formats(x, weight, a.padding_mode)[0])


for _grad_op, _which in ((conv2d_input_grad, 1), (conv2d_weight_grad, 2)):  # grad input is like x, grad weight W
    _grad_op.register_fake(
        lambda g, x, w, *a, i=_which: torch.empty_like((x, w)[i - 1], memory_format=conv_formats(x, w, a[-1])[i])
    )
conv2d_op.register_vmap(partial(vmap_batch_first, conv2d_op))  # only x batched: the vmapped dim folds into N
conv2d_input_grad.register_vmap(partial(vmap_batch_first, conv2d_input_grad, batch_args=2))  # samples independent
conv2d_weight_grad.register_vmap(partial(vmap_loop, conv2d_weight_grad))  # sums over the batch: one call per index


def _grad_columns(grad_out: Tensor, groups: int) -> Tensor:
    """``g`` laid out like the columns: ``(N, O, H_out, W_out) -> (G, O/G, N*L)``."""
    O = grad_out.shape[1]
    return grad_out.transpose(0, 1).reshape(groups, O // groups, -1)  # (G, O/G, N*L)


def _grad_weight(g: Tensor, x: Tensor, weight_shape: torch.Size, a: ConvArgs) -> Tensor:
    """``g @ cols^T``: ``(G, O/G, N*L) -> (O, C/G, kH, kW)``, one GEMM over all ``N*L`` columns."""
    cols = columns(x, weight_shape, a)  # (G, C/G*kH*kW, N*L)
    return torch.matmul(g, cols.transpose(1, 2)).reshape(weight_shape)  # (O, C/G, kH, kW)


class Conv2dFunction(Function):
    """Convolution with the backward derived in the module docstring."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, weight: Tensor, bias: Tensor | None, args: ConvArgs) -> Tensor:
        return conv2d_op(x, weight, bias, *_op_args(args))

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        x, weight, bias, args = inputs
        ctx.args, ctx.has_bias = args, bias is not None
        ctx.save_for_backward(x, weight)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        """``dL/dx = unpad(fold(W^T @ g))``, ``dL/dW = g @ cols^T`` (over all N*L columns), ``dL/db = sum(g)``.

        With ``create_graph`` (double backward) the same formulas run as tensor ops that autograd follows;
        otherwise as the custom ops above, whose eager kernels take the plane where they can."""
        x, weight = ctx.saved_tensors
        a: ConvArgs = ctx.args
        grad_x = grad_w = grad_b = None
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_out.sum((0, 2, 3))  # (O,)
        if differentiable_backward():
            g, (_, fx, fw) = _grad_columns(grad_out, a.groups), conv_formats(x, weight, a.padding_mode)
            grad_x = _grad_input(g, x, weight, a).contiguous(memory_format=fx) if ctx.needs_input_grad[0] else None
            grad_w = (
                _grad_weight(g, x, weight.shape, a).contiguous(memory_format=fw) if ctx.needs_input_grad[1] else None
            )
            return grad_x, grad_w, grad_b, None
        if ctx.needs_input_grad[1]:  # first: dL/dx would be alive during it otherwise
            grad_w = conv2d_weight_grad(grad_out, x, weight, *_op_args(a))
        if ctx.needs_input_grad[0]:
            grad_x = conv2d_input_grad(grad_out, x, weight, *_op_args(a))
        return grad_x, grad_w, grad_b, None


def _op_setup_context(ctx, inputs, output) -> None:
    x, weight, bias, *op_args = inputs
    Conv2dFunction.setup_context(ctx, (x, weight, bias, _from_op(*op_args)), output)


def _op_backward(ctx, grad_out: Tensor):
    return (*Conv2dFunction.backward(ctx, grad_out)[:3], None, None, None, None, None)


conv2d_op.register_autograd(_op_backward, setup_context=_op_setup_context)
register_autocast("conv2d")


def _on_plane(x: Tensor, weight: Tensor, a: ConvArgs) -> bool:
    """Convolutions of a non-empty batch take the plane path (:mod:`._plane`): stride 1, and on the CPU strided
    ones whose taps read every phase plane. On a GPU only ungrouped stride-1 ones (the blocks loop over the groups
    and phases, one kernel launch per tap and block, where the whole-batch columns make one batched product)."""
    if x.numel() == 0 or weight.numel() == 0:
        return False
    if a.stride == (1, 1):
        return not (x.is_cuda and a.groups > 1)
    return not x.is_cuda and every_phase_read(tuple(weight.shape[2:]), a.stride, a.dilation)


def _plane_exact(x: Tensor, weight: Tensor) -> bool:
    """The plane path's backward also multiplies the zero gradient of its discarded edge columns by real pixels and
    weights, which is 0 for finite values but NaN for an infinite one: those cases take the whole-batch columns,
    which pair each gradient only with the pixels its output saw. (Inside the opaque eager kernels, so the check
    on the data costs ``torch.compile`` no graph break.)"""
    return surely_finite(x) and surely_finite(weight)


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Size2 = 1,
    padding: Size2 | str = 0,
    dilation: Size2 = 1,
    groups: int = 1,
    *,
    padding_mode: str = "zeros",
    backward: str | None = None,
) -> Tensor:
    """2-D convolution of ``input (N, C, H, W)`` or ``(C, H, W)`` with ``weight (O, C/groups, kH, kW)``.

    The signature of ``torch.nn.functional.conv2d``, plus keyword-only ``padding_mode`` (as on ``nn.Conv2d``) and
    ``backward`` (``'manual'`` or ``'autograd'``, default: :func:`scratchnn.get_backward`).
    """
    check_tensor(input, "conv2d")
    stride, dilation = check_steps(stride, dilation, groups)
    check_padding_mode(padding_mode)
    kernel = tuple(weight.shape[2:]) if weight.dim() == 4 else (1, 1)
    args = ConvArgs(stride, conv_padding(padding, kernel, dilation, stride), dilation, groups, padding_mode)
    x, unbatched = batched(input, "conv2d")
    x, weight, bias = autocast_inputs(x, weight, bias)
    check_input(x, weight, bias, args)
    if x.shape[1] == 0:  # no input channels: torch returns an empty (N, 0, H_out, W_out)
        out = x.new_empty(x.shape[0], 0, *out_size(x, weight.shape, args))
    elif composite(backward):
        _, fx, fw = conv_formats(x, weight, padding_mode)  # the gradients in torch's layout, as the manual engine's
        out = conv2d_forward(grad_format(x, fx), grad_format(weight, fw), bias, args)
    else:
        out = Conv2dFunction.apply(x, weight, bias, args)
    return out.squeeze(0) if unbatched else out
