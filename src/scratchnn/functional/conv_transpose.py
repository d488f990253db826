"""2-D transposed convolution: the adjoint of the convolution, built from the convolution's own backward pieces.

The adjoint. Read the weight ``W (C_in, C_out/G, kH, kW)`` as the weight ``(O, C/G, kH, kW)`` of a convolution
from ``C_out`` to ``C_in`` channels (stride ``s``, padding ``p``, dilation ``d``, groups ``G``). That convolution
is linear in its input: ``v = A_W u`` maps images ``u (C_out, H_out, W_out)`` to ``v (C_in, H_in, W_in)``, and
its input gradient is ``A_W^T dL/dv``. The transposed convolution *is* that transposed map::

    y = conv_transpose(x; W) = A_W^T x          x (N, C_in, H_in, W_in) -> y (N, C_out, H_out, W_out)
    H_out = (H_in - 1)*s - 2p + d*(kH - 1) + output_padding + 1

A strided convolution maps ``s`` different heights onto the same ``H_in`` (its output size is a floor);
``output_padding`` (below ``s``) picks one of them, adding rows at the bottom and columns at the right. When the
dilation exceeds the stride it may reach ``d - 1``; the convolution of ``y`` then has ``floor(output_padding/s)``
more rows than ``x``, rows that no input pixel answers, and the backward drops them.

Forward, exactly :mod:`.conv`'s ``dL/dx``: lay ``x`` out as a convolution's output gradient ``(G, C_in/G, N*L)``
(``L = H_in*W_in``), multiply by the transposed weight, fold (col2im) the columns onto the padded image, and crop
the padding::

    cols = W^T @ x                       (G, C_out/G*kH*kW, N*L)
    y = crop(fold(cols)) + b             (N, C_out, H_out + 2p, W_out + 2p) -> (N, C_out, H_out, W_out)

Every input pixel stamps the kernel, scaled by its value, into the output, ``s`` pixels from its neighbour's
stamp: an upsampling.

Backward: the convolution's forward and its weight gradient. With ``g = dL/dy (N, C_out, H_out, W_out)``:

- ``y = A_W^T x`` is linear in ``x``, so ``dL/dx = (A_W^T)^T g = A_W g = conv2d(g; W)`` -> ``(N, C_in, H_in, W_in)``;
- ``dL/dW`` is the derivative of ``<y, g> = <A_W^T x, g> = <x, A_W g> = <x, conv2d(g; W)>`` with ``g`` held fixed:
  the convolution's weight gradient with ``g`` as its input and ``x`` as its output gradient,
  ``x @ cols(g)^T`` -> ``(C_in, C_out/G, kH, kW)``;
- ``dL/db = sum of g over N, H_out, W_out`` -> ``(C_out,)``.

Forward and backward swap roles: the convolution's backward is a transposed convolution, and this one's is a
convolution, which runs on :mod:`.conv`'s custom ops and their fast paths.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._dtypes import check_tensor
from .._library import Function, autocast_inputs, differentiable_backward, grad_format, like, memory_format
from ._conv_args import ConvArgs, check_steps, out_size, padding_pair
from ._mode import composite
from ._windows import Pair, Size2, batched, fold_taps, pad, pair
from .conv import _grad_columns, _grad_weight, _op_args, conv2d_forward, conv2d_op, conv2d_weight_grad


def transposed_size(in_hw, kernel: Pair, a: ConvArgs, output_padding: Pair) -> tuple[int, int]:
    """``H_out = (H_in - 1)*s - 2p + d*(kH - 1) + output_padding + 1``, and likewise ``W_out``."""
    paddings = (a.padding[2], a.padding[0])  # (top, left): symmetric
    return tuple(
        (n - 1) * s - 2 * p + d * (k - 1) + op + 1
        for n, s, p, d, k, op in zip(in_hw, a.stride, paddings, a.dilation, kernel, output_padding, strict=True)
    )


def conv_transpose2d_forward(x: Tensor, weight: Tensor, bias: Tensor | None, a: ConvArgs, out_hw: Pair) -> Tensor:
    """``crop(fold(W^T @ x)) + b``: ``(N, C_in, H_in, W_in) -> (N, C_out, H_out, W_out)`` in torch's memory format."""
    N, C_in, H_in, W_in = x.shape
    G, (kH, kW), C_out = a.groups, weight.shape[2:], weight.shape[1] * a.groups
    (H_out, W_out), p_h, p_w = out_hw, a.padding[2], a.padding[0]
    g = _grad_columns(x, G)  # (G, C_in/G, N*L): x laid out as a convolution's output gradient
    w = weight.reshape(G, C_in // G, C_out // G * kH * kW)  # (G, C_in/G, C_out/G*kH*kW)
    cols = torch.matmul(w.transpose(1, 2), g)  # (G, C_out/G*kH*kW, N*L)
    taps = cols.reshape(C_out, kH, kW, N, H_in, W_in).permute(3, 0, 1, 2, 4, 5)  # (N, C_out, kH, kW, H_in, W_in)
    padded = fold_taps(taps, (H_out + 2 * p_h, W_out + 2 * p_w), a.dilation, a.stride)  # (N, C_out, Hp, Wp)
    out = padded[:, :, p_h : p_h + H_out, p_w : p_w + W_out]  # (N, C_out, H_out, W_out), crop the padding
    if bias is not None:
        out = out + bias.reshape(1, C_out, 1, 1)
    return out.contiguous(memory_format=memory_format(x, weight))


def _as_conv_output(x: Tensor, g: Tensor, weight: Tensor, a: ConvArgs) -> Tensor:
    """``x`` zero-padded at the bottom and right to the size of ``conv2d(g; W)``: ``H_in + floor(op / s)`` rows,
    more than ``H_in`` only when ``s <= output_padding < d`` (rows of the convolution no input pixel answers)."""
    oH, oW = out_size(g, weight.shape, a)
    extra_h, extra_w = oH - x.shape[2], oW - x.shape[3]
    return pad(x, (0, extra_w, 0, extra_h)) if extra_h or extra_w else x  # (N, C_in, oH, oW)


class ConvTranspose2dFunction(Function):
    """Transposed convolution with the backward derived in the module docstring: a convolution."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, weight: Tensor, bias: Tensor | None, args: ConvArgs, out_hw: Pair) -> Tensor:
        return conv_transpose2d_forward(x, weight, bias, args, out_hw)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        x, weight, bias, ctx.args, _ = inputs
        ctx.has_bias = bias is not None
        ctx.save_for_backward(x, weight)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        """``dL/dx = conv2d(g; W)``, ``dL/dW = x @ cols(g)^T`` (the conv's weight gradient), ``dL/db = sum(g)``.

        When the backward is itself differentiated (:func:`differentiable_backward`) the convolution runs as plain
        tensor ops that autograd follows; otherwise as the custom ops of :mod:`.conv`, with their fast paths."""
        x, weight = ctx.saved_tensors
        a, g, grad_x, grad_w, grad_b = ctx.args, grad_out, None, None, None
        H_in, W_in = x.shape[2:]
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = g.sum((0, 2, 3))  # (C_out,)
        x_out = _as_conv_output(x, g, weight, a) if ctx.needs_input_grad[1] else None  # (N, C_in, oH, oW)
        if differentiable_backward():
            if ctx.needs_input_grad[0]:
                grad_x = conv2d_forward(g, weight, None, a)[:, :, :H_in, :W_in]  # (N, C_in, H_in, W_in)
            if ctx.needs_input_grad[1]:
                grad_w = _grad_weight(_grad_columns(x_out, a.groups), g, weight.shape, a)  # (C_in, C_out/G, kH, kW)
            return grad_x, grad_w, grad_b, None, None
        if ctx.needs_input_grad[0]:
            grad_x = like(conv2d_op(g, weight, None, *_op_args(a))[:, :, :H_in, :W_in], x)
        if ctx.needs_input_grad[1]:
            grad_w = conv2d_weight_grad(x_out, g, weight, *_op_args(a))
        return grad_x, grad_w, grad_b, None, None


def _check_output_padding(output_padding: Pair, stride: Pair, dilation: Pair) -> None:
    if any(op >= s and op >= d for op, s, d in zip(output_padding, stride, dilation, strict=True)):
        raise RuntimeError(
            "output padding must be smaller than either stride or dilation, but got "
            f"output_padding_height: {output_padding[0]} output_padding_width: {output_padding[1]} "
            f"stride_height: {stride[0]} stride_width: {stride[1]} "
            f"dilation_height: {dilation[0]} dilation_width: {dilation[1]}"
        )


def _check_input(x: Tensor, weight: Tensor, bias: Tensor | None, groups: int, out_hw: Pair) -> None:
    if weight.dim() != 4:
        raise RuntimeError(
            f"conv_transpose2d expects a 4D weight (C_in, C_out/groups, kH, kW), but got size {list(weight.shape)}"
        )
    if x.shape[1] != weight.shape[0]:
        raise RuntimeError(
            f"Given transposed=1, weight of size {list(weight.shape)}, expected input{list(x.shape)} to have "
            f"{weight.shape[0]} channels, but got {x.shape[1]} channels instead"
        )
    if weight.shape[0] % groups:
        raise RuntimeError(f"conv_transpose2d: in_channels={weight.shape[0]} is not divisible by groups={groups}")
    if x.dtype != weight.dtype or (bias is not None and bias.dtype != x.dtype):
        other = weight.dtype if x.dtype != weight.dtype else bias.dtype
        raise RuntimeError(f"conv_transpose2d: input dtype {x.dtype} does not match weight/bias dtype {other}")
    if min(out_hw) < 1:
        raise RuntimeError(
            f"Given input size per channel: ({x.shape[2]} x {x.shape[3]}). Calculated output size per channel: "
            f"({out_hw[0]} x {out_hw[1]}). Output size is too small"
        )


def conv_transpose2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Size2 = 1,
    padding: Size2 = 0,
    output_padding: Size2 = 0,
    groups: int = 1,
    dilation: Size2 = 1,
    *,
    backward: str | None = None,
) -> Tensor:
    """2-D transposed convolution of ``input (N, C_in, H, W)`` or ``(C_in, H, W)`` with
    ``weight (C_in, C_out/groups, kH, kW)``, with the signature of ``torch.nn.functional.conv_transpose2d`` (plus
    keyword-only ``backward``: ``'manual'`` or ``'autograd'``, default :func:`scratchnn.get_backward`)."""
    check_tensor(input, "conv_transpose2d")
    stride, dilation = check_steps(stride, dilation, groups)
    (p_h, p_w), output_padding = padding_pair(padding), pair(output_padding, "output_padding")
    _check_output_padding(output_padding, stride, dilation)
    args = ConvArgs(stride, (p_w, p_w, p_h, p_h), dilation, groups, "zeros")
    x, unbatched = batched(input, "conv_transpose2d")
    x, weight, bias = autocast_inputs(x, weight, bias)
    kernel = tuple(weight.shape[2:]) if weight.dim() == 4 else (1, 1)
    out_hw = transposed_size(x.shape[2:], kernel, args, output_padding)
    _check_input(x, weight, bias, groups, out_hw)
    if composite(backward):
        fmt = memory_format(x, weight)  # torch's layout of both gradients, as for the convolution
        out = conv_transpose2d_forward(grad_format(x, fmt), grad_format(weight, fmt), bias, args, out_hw)
    else:
        out = ConvTranspose2dFunction.apply(x, weight, bias, args, out_hw)
    return out.squeeze(0) if unbatched else out
