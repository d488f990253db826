"""Activations: each forward, its ``torch.autograd.Function`` with the derivative written out, and its functional form.

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

Each Function's ``forward`` is plain tensor ops that ``torch.compile``, ``torch.export`` and ONNX export trace;
called without ``.apply`` it is the ``'autograd'`` engine's forward. ``setup_context`` (the form ``torch.func``
transforms need) saves what ``backward`` uses, and ``generate_vmap_rule`` lets ``vmap`` run them batched. ReLU's
backward has an eager fast path that looks at the data; it is the custom op ``scratchnn::relu_backward``, opaque to
``torch.compile`` (see :mod:`scratchnn._library`). The Function classes are also importable from
:mod:`scratchnn.autograd`.

The functional forms have the signatures of their ``torch.nn.functional`` namesakes and take the keyword-only
``backward`` of the layer ops: ``'manual'`` runs the Function (its hand-written backward), ``'autograd'`` its
``forward`` alone, which autograd differentiates. ``inplace=True`` writes the result into ``input``: the Function
runs out of place and its result is copied in, so what the backward keeps stays intact.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._dtypes import check_float_input, check_tensor, surely_finite
from .._library import Function, custom_op, differentiable_backward, vmap_elementwise
from ._mode import composite

# ------------------------------------------------------------------------------------ the autograd Functions


@custom_op("relu_backward")
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


class _SavesOutput(Function):
    """An element-wise Function whose derivative is written with its output ``y``, which it saves."""

    generate_vmap_rule = True

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(output)


class _SavesInput(Function):
    """An element-wise Function whose derivative is written with its input ``x``, which it saves."""

    generate_vmap_rule = True

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(inputs[0])


class ReLUFunction(_SavesOutput):
    """``y = max(x, 0)``; ``dy/dx = 1`` where ``x > 0``, else 0."""

    @staticmethod
    def forward(x: Tensor) -> Tensor:
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        """``g`` where ``y > 0`` (y >= 0, so: ``y != 0``, which NaN passes, as in torch), else 0."""
        (y,) = ctx.saved_tensors
        if differentiable_backward():  # double backward: ops that autograd follows
            return torch.where(y != 0, grad, grad.new_zeros(()))
        return relu_backward(grad, y)


class LeakyReLUFunction(Function):
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
        """``g * a`` where ``x <= 0``, else ``g``."""
        (x_or_y,) = ctx.saved_tensors
        slope = torch.where(x_or_y > 0, 1.0, ctx.negative_slope).to(grad.dtype)
        return slope * grad, None  # slope first: the product is laid out like x, as torch's gradient is


class SigmoidFunction(_SavesOutput):
    """``y = 1 / (1 + exp(-x))``, the logistic function, from 0 at ``-inf`` through 1/2 at 0 to 1 at ``+inf``;
    ``dy/dx = y * (1 - y)``."""

    @staticmethod
    def forward(x: Tensor) -> Tensor:
        return torch.sigmoid(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        """``g * y * (1 - y)``: ``dy/dx = e^-x / (1 + e^-x)^2 = y * e^-x / (1 + e^-x)``, and
        ``e^-x / (1 + e^-x) = 1 - y``."""
        (y,) = ctx.saved_tensors
        return grad * y * (1 - y)


class TanhFunction(_SavesOutput):
    """``y = tanh(x)``; ``dy/dx = 1 - y^2``."""

    @staticmethod
    def forward(x: Tensor) -> Tensor:
        return torch.tanh(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        """``g * (1 - y^2)``: ``dy/dx = (cosh^2 x - sinh^2 x) / cosh^2 x = 1 - tanh^2 x``."""
        (y,) = ctx.saved_tensors
        return grad * (1 - y * y)


class SiLUFunction(_SavesInput):
    """``y = x * s`` with ``s = sigmoid(x)``; ``dy/dx = s + x * s * (1 - s) = s * (1 + x * (1 - s))``."""

    @staticmethod
    def forward(x: Tensor) -> Tensor:
        return x * torch.sigmoid(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(x)
        return grad * s * (1 + x * (1 - s))


class SquareFunction(_SavesInput):
    """``y = x^2``; ``dy/dx = 2x`` (the seed project's example of a hand-written Function)."""

    @staticmethod
    def forward(x: Tensor) -> Tensor:
        return x * x

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad * 2 * x


# ------------------------------------------------------------------------------------- the functional forms


def _run(function: type[torch.autograd.Function], backward: str | None, input: Tensor, *args) -> Tensor:
    if composite(backward):
        return function.forward(input, *args)
    return function.apply(input, *args)


def relu(input: Tensor, inplace: bool = False, *, backward: str | None = None) -> Tensor:
    """``max(x, 0)`` element-wise."""
    check_tensor(input, "relu")
    out = _run(ReLUFunction, backward, input)
    return input.copy_(out) if inplace else out


def leaky_relu(
    input: Tensor, negative_slope: float = 0.01, inplace: bool = False, *, backward: str | None = None
) -> Tensor:
    """``x`` where ``x > 0``, else ``negative_slope * x``."""
    check_tensor(input, "leaky_relu")
    check_float_input(input, "leaky_relu")
    if inplace and negative_slope < 0:
        raise RuntimeError(f"in-place leaky_relu needs negative_slope >= 0, but got {negative_slope}")
    out = _run(LeakyReLUFunction, backward, input, negative_slope)
    return input.copy_(out) if inplace else out


def sigmoid(input: Tensor, *, backward: str | None = None) -> Tensor:
    """``1 / (1 + exp(-x))`` element-wise."""
    check_tensor(input, "sigmoid")
    return _run(SigmoidFunction, backward, input)


def tanh(input: Tensor, *, backward: str | None = None) -> Tensor:
    """``tanh(x)`` element-wise."""
    check_tensor(input, "tanh")
    return _run(TanhFunction, backward, input)


def silu(input: Tensor, inplace: bool = False, *, backward: str | None = None) -> Tensor:
    """``x * sigmoid(x)``. With ``inplace=True`` the result is written into ``input``."""
    check_tensor(input, "silu")
    check_float_input(input, "silu")
    out = _run(SiLUFunction, backward, input.clone() if inplace else input)  # the backward keeps x itself
    return input.copy_(out) if inplace else out


def square(input: Tensor, *, backward: str | None = None) -> Tensor:
    """``x * x`` element-wise."""
    check_tensor(input, "square")
    check_float_input(input, "square")
    return _run(SquareFunction, backward, input)
