"""Activations as ``torch.autograd.Function`` subclasses, each with its derivative written out.

Every ``backward`` multiplies the incoming gradient ``g = dL/dy`` by the local derivative ``dy/dx`` (the chain
rule, element-wise). Each is built from differentiable tensor ops, so double backward works as well. Where the
derivative can be written with the output ``y`` we save ``y`` (it survives in-place use).

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

from ._dtypes import check_float_input, surely_finite

__all__ = [
    "LeakyReLUFunction",
    "ReLUFunction",
    "SiLUFunction",
    "SigmoidFunction",
    "SquareFunction",
    "TanhFunction",
]


class ReLUFunction(torch.autograd.Function):
    """``y = max(x, 0)``; ``dy/dx = 1`` where ``x > 0``, else 0."""

    @staticmethod
    def forward(ctx, x: Tensor, inplace: bool = False) -> Tensor:
        if inplace:
            ctx.mark_dirty(x)
            y = x.clamp_(min=0)
        else:
            y = x.clamp(min=0)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: Tensor):
        (y,) = ctx.saved_tensors
        # y >= 0, so the mask "y > 0, or y is NaN" (as torch) is y != 0. On the CPU: one compare written as floats,
        # one multiply, where torch.where costs 4x the multiply. But 0 * inf and 0 * NaN are NaN where torch gives 0,
        # so a non-finite gradient takes the select (its sum is finite only if every element is: a 0.05 ms check).
        # Elsewhere the select is one kernel, and the check would make the host wait for the device.
        if grad.device.type != "cpu" or torch.compiler.is_compiling() or not surely_finite(grad):
            return torch.where(y != 0, grad, torch.zeros((), dtype=grad.dtype, device=grad.device)), None
        mask = torch.ne(y, 0, out=torch.empty_like(grad))
        return mask.mul_(grad), None


class LeakyReLUFunction(torch.autograd.Function):
    """``y = x`` where ``x > 0`` else ``a * x``; ``dy/dx = 1`` where ``x > 0`` else ``a``."""

    @staticmethod
    def forward(ctx, x: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
        check_float_input(x, "leaky_relu")
        if inplace and negative_slope < 0:
            raise RuntimeError(f"in-place leaky_relu needs negative_slope >= 0, but got {negative_slope}")
        positive = x > 0
        ctx.negative_slope = negative_slope
        if inplace:
            ctx.mark_dirty(x)
            y = x.mul_(torch.where(positive, 1.0, negative_slope).to(x.dtype))
            ctx.save_for_backward(y)
            return y
        y = torch.where(positive, x, x * negative_slope)
        ctx.save_for_backward(x)
        return y

    @staticmethod
    def backward(ctx, grad: Tensor):
        (x_or_y,) = ctx.saved_tensors  # the sign of y equals the sign of x when the slope is >= 0
        slope = torch.where(x_or_y > 0, 1.0, ctx.negative_slope).to(grad.dtype)
        return grad * slope, None, None


class SigmoidFunction(torch.autograd.Function):
    """``y = 1 / (1 + exp(-x))``; ``dy/dx = y * (1 - y)``."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        y = torch.sigmoid(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        return grad * y * (1 - y)


class TanhFunction(torch.autograd.Function):
    """``y = tanh(x)``; ``dy/dx = 1 - y^2``."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        return grad * (1 - y * y)


class SiLUFunction(torch.autograd.Function):
    """``y = x * s`` with ``s = sigmoid(x)``; ``dy/dx = s + x * s * (1 - s) = s * (1 + x * (1 - s))``."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        check_float_input(x, "silu")
        ctx.save_for_backward(x)
        return x * torch.sigmoid(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(x)
        return grad * s * (1 + x * (1 - s))


class SquareFunction(torch.autograd.Function):
    """``y = x^2``; ``dy/dx = 2x`` (the seed project's example of a hand-written Function)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        check_float_input(x, "square")
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad * 2 * x
