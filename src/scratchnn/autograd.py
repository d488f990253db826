"""Activations as ``torch.autograd.Function`` subclasses, each with its derivative written out.

Every ``backward`` multiplies the incoming gradient ``g = dL/dy`` by the local derivative ``dy/dx`` (the chain
rule, element-wise). Each is built from differentiable tensor ops, so double backward works as well. Where the
derivative can be written with the output ``y`` we save ``y`` (it survives in-place use).

Each Function's ``forward`` is plain tensor ops that ``torch.compile``, ``torch.export`` and ONNX export trace;
called without ``.apply`` it is the ``'autograd'`` engine's forward. ``setup_context`` (the form ``torch.func``
transforms need) saves what ``backward`` uses, and ``generate_vmap_rule`` lets ``vmap`` run them batched. ReLU's
backward has an eager fast path that looks at the data; it is the custom op ``scratchnn::relu_backward``, opaque to
``torch.compile`` (see :mod:`scratchnn._library`).

========  ======================  ==============================================
Function  forward ``y = f(x)``    backward ``dL/dx``
========  ======================  ==============================================
ReLU      ``max(x, 0)``           ``g if y > 0 else 0``  (0 at ``x = 0``, as torch; on the CPU ``-0.0``
                                  where ``g < 0``, as ``g * 0`` gives)
LeakyReLU ``x if x > 0 else a*x`` ``g * (1 if x > 0 else a)``  (``a`` at ``x = 0``)
Sigmoid   ``1 / (1 + e^-x)``      ``g * y * (1 - y)``
Tanh      ``tanh(x)``             ``g * (1 - y^2)``
SiLU      ``x * sigmoid(x)``      ``g * s * (1 + x * (1 - s))``, ``s = sigmoid(x)``
Square    ``x^2``                 ``g * 2x``
========  ======================  ==============================================
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._dtypes import surely_finite
from ._library import differentiable_backward, vmap_elementwise

__all__ = [
    "LeakyReLUFunction",
    "ReLUFunction",
    "SiLUFunction",
    "SigmoidFunction",
    "SquareFunction",
    "TanhFunction",
]


@torch.library.custom_op("scratchnn::relu_backward", mutates_args=())
def relu_backward(grad: Tensor, y: Tensor) -> Tensor:
    """``g`` where ``y != 0`` (``y > 0``, or NaN, as torch), else 0; the eager kernel.

    On the CPU: one compare written as floats and one multiply, cheaper than ``torch.where``'s select. But
    ``0 * inf`` and ``0 * NaN`` are NaN where torch gives 0, so a non-finite gradient takes the select (its sum is
    finite only if every element is). Elsewhere the select is one kernel, and the check would make the host wait.
    """
    out = torch.empty_like(y)  # laid out like x, as torch's gradient is
    if grad.device.type != "cpu" or not surely_finite(grad):
        return torch.where(y != 0, grad, grad.new_zeros(()), out=out)
    return torch.ne(y, 0, out=out).mul_(grad)


@relu_backward.register_fake
def _(grad: Tensor, y: Tensor) -> Tensor:
    return torch.empty_like(grad)


@relu_backward.register_vmap
def _(info, in_dims, grad: Tensor, y: Tensor):
    return vmap_elementwise(relu_backward, info, in_dims, grad, y)


class ReLUFunction(torch.autograd.Function):
    """``y = max(x, 0)``; ``dy/dx = 1`` where ``x > 0``, else 0."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor) -> Tensor:
        return x.clamp(min=0)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        """``g`` where ``y > 0`` (y >= 0, so: ``y != 0``, which NaN passes, as in torch), else 0."""
        (y,) = ctx.saved_tensors
        if differentiable_backward():  # double backward: ops that autograd follows
            return torch.where(y != 0, grad, grad.new_zeros(()))
        return relu_backward(grad, y)


class LeakyReLUFunction(torch.autograd.Function):
    """``y = x`` where ``x > 0`` else ``a * x``; ``dy/dx = 1`` where ``x > 0`` else ``a``."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, negative_slope: float = 0.01) -> Tensor:
        return torch.where(x > 0, x, x * negative_slope)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        x, negative_slope = (*inputs, 0.01)[:2]
        ctx.negative_slope = negative_slope
        # with a slope >= 0, y > 0 exactly where x > 0: keep y, which survives in-place use
        ctx.save_for_backward(output if negative_slope >= 0 else x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (x_or_y,) = ctx.saved_tensors
        slope = torch.where(x_or_y > 0, 1.0, ctx.negative_slope).to(grad.dtype)
        return slope * grad, None  # slope first: the product is laid out like x, as torch's gradient is


class SigmoidFunction(torch.autograd.Function):
    """``y = 1 / (1 + exp(-x))``; ``dy/dx = y * (1 - y)``."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor) -> Tensor:
        return torch.sigmoid(x)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        return grad * y * (1 - y)


class TanhFunction(torch.autograd.Function):
    """``y = tanh(x)``; ``dy/dx = 1 - y^2``."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor) -> Tensor:
        return torch.tanh(x)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        return grad * (1 - y * y)


class SiLUFunction(torch.autograd.Function):
    """``y = x * s`` with ``s = sigmoid(x)``; ``dy/dx = s + x * s * (1 - s) = s * (1 + x * (1 - s))``."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor) -> Tensor:
        return x * torch.sigmoid(x)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(x)
        return grad * s * (1 + x * (1 - s))


class SquareFunction(torch.autograd.Function):
    """``y = x^2``; ``dy/dx = 2x`` (the seed project's example of a hand-written Function)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor) -> Tensor:
        return x * x

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad * 2 * x
