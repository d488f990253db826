"""The fully connected layer ``y = x @ W^T + b`` and its backward.

Shapes: ``x (*, I)``, ``W (O, I)``, ``b (O,)``, ``y (*, O)``, where ``*`` is any number of leading dims (none for
an unbatched vector). Each output feature is the dot product of the input with one row of ``W``, plus its bias.

Backward, with ``g = dL/dy (*, O)`` and the leading dims flattened to ``M`` rows (``X (M, I)``, ``G (M, O)``):

- ``dL/dx = g @ W``            -> ``(*, I)``: every input feeds every output through ``W[o, i]``;
- ``dL/dW = G^T @ X``          -> ``(O, I)``: ``W[o, i]`` multiplies ``x[i]`` in output ``o``, summed over rows;
- ``dL/db = G.sum(0)``         -> ``(O,)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._dtypes import check_float_input, check_tensor
from .._library import Function, autocast_inputs, custom_op, register_autocast, vmap_loop
from ._mode import composite


def linear_forward(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``x @ W^T + b`` with plain tensor ops; one fused ``addmm`` when ``x`` is a matrix."""
    if bias is not None and x.dim() == 2:
        return torch.addmm(bias, x, weight.t())  # (N, O)
    out = torch.matmul(x, weight.t())  # (*, O)
    return out if bias is None else out + bias


@custom_op("linear")
def linear_op(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """The eager kernel: :func:`linear_forward`."""
    return linear_forward(x, weight, bias)


@linear_op.register_fake
def _(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    return x.new_empty((*x.shape[:-1], weight.shape[0]))  # (*, O)


@linear_op.register_vmap
def _(info, in_dims, x: Tensor, weight: Tensor, bias: Tensor | None):
    """Only ``x`` batched: its vmapped dim is one more leading dim. Otherwise one call per vmapped index."""
    if in_dims[1] is None and in_dims[2] is None:
        return linear_op(x.movedim(in_dims[0], 0), weight, bias), 0  # (B, *, O)
    return vmap_loop(linear_op, info, in_dims, x, weight, bias)


class LinearFunction(Function):
    """``y = x @ W^T + b`` with the backward derived in the module docstring."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        return linear_op(x, weight, bias)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        x, weight, bias = inputs
        ctx.has_bias = bias is not None
        ctx.save_for_backward(x, weight)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        """``dL/dx = g @ W``, ``dL/dW = g^T @ x`` over all rows, ``dL/db = sum of g over rows``."""
        x, weight = ctx.saved_tensors
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.matmul(grad_out, weight)  # (*, I)
        G = grad_out.reshape(-1, weight.shape[0])  # (M, O)
        if ctx.needs_input_grad[1]:
            grad_w = G.t().matmul(x.reshape(-1, weight.shape[1]))  # (O, I)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = G.sum(0)  # (O,)
        return grad_x, grad_w, grad_b


linear_op.register_autograd(LinearFunction.backward, setup_context=LinearFunction.setup_context)
register_autocast("linear")


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None, *, backward: str | None = None) -> Tensor:
    """``input @ weight.T + bias`` with the signature of ``torch.nn.functional.linear``."""
    check_tensor(input, "linear")
    input, weight, bias = autocast_inputs(input, weight, bias)
    if input.dim() == 0:
        raise RuntimeError("linear: input must be at least 1-D (in_features,), but got a 0-D tensor")
    check_float_input(input, "linear")
    if input.shape[-1] != weight.shape[-1]:
        raise RuntimeError(
            f"linear: input has {input.shape[-1]} features (size {list(input.shape)}) but weight expects "
            f"in_features={weight.shape[-1]}"
        )
    if input.dtype != weight.dtype:
        raise RuntimeError(f"linear: input dtype {input.dtype} does not match weight dtype {weight.dtype}")
    if bias is not None and bias.dtype != input.dtype:
        raise RuntimeError(f"linear: input dtype {input.dtype} does not match bias dtype {bias.dtype}")
    if composite(backward):
        return linear_forward(input, weight, bias)
    return LinearFunction.apply(input, weight, bias)
