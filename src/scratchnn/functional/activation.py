"""Functional forms of the activations, with the signatures of their ``torch.nn.functional`` namesakes.

The math and the hand-written derivatives live in :mod:`scratchnn.autograd`.
"""

from __future__ import annotations

from torch import Tensor

from ..autograd import (
    LeakyReLUFunction,
    ReLUFunction,
    SigmoidFunction,
    SiLUFunction,
    SquareFunction,
    TanhFunction,
)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """``max(x, 0)`` element-wise."""
    return ReLUFunction.apply(input, inplace)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """``x`` where ``x > 0``, else ``negative_slope * x``."""
    return LeakyReLUFunction.apply(input, negative_slope, inplace)


def sigmoid(input: Tensor) -> Tensor:
    """``1 / (1 + exp(-x))`` element-wise."""
    return SigmoidFunction.apply(input)


def tanh(input: Tensor) -> Tensor:
    """``tanh(x)`` element-wise."""
    return TanhFunction.apply(input)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """``x * sigmoid(x)``. With ``inplace=True`` the result is written into ``input`` (the derivative needs
    the original ``x``, so a copy of it is kept for backward)."""
    if not inplace:
        return SiLUFunction.apply(input)
    return input.copy_(SiLUFunction.apply(input.clone()))


def square(input: Tensor) -> Tensor:
    """``x * x`` element-wise."""
    return SquareFunction.apply(input)
