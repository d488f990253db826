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

from .._dtypes import check_float_input
from ._mode import resolve_backward


def linear_forward(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``x @ W^T + b`` with plain tensor ops; one fused ``addmm`` when ``x`` is a matrix."""
    if bias is not None and x.dim() == 2:
        return torch.addmm(bias, x, weight.t())  # (N, O)
    out = torch.matmul(x, weight.t())  # (*, O)
    return out if bias is None else out + bias


class LinearFunction(torch.autograd.Function):
    """``y = x @ W^T + b`` with the backward derived in the module docstring."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        ctx.has_bias = bias is not None
        ctx.save_for_backward(x, weight)
        return linear_forward(x, weight, bias)

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


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None, *, backward: str | None = None) -> Tensor:
    """``input @ weight.T + bias`` with the signature of ``torch.nn.functional.linear``."""
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
    if resolve_backward(backward) == "manual":
        return LinearFunction.apply(input, weight, bias)
    return linear_forward(input, weight, bias)
