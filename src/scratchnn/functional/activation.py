"""Functional forms of the activations, with the signatures of their ``torch.nn.functional`` namesakes.

The math and the hand-written derivatives live in :mod:`scratchnn.autograd`. Each takes the keyword-only
``backward`` of the layer ops: ``'manual'`` runs the Function (its hand-written backward), ``'autograd'`` its
``forward`` alone, which autograd differentiates. ``inplace=True`` writes the result into ``input``: the Function
runs out of place and its result is copied in, so what the backward keeps stays intact.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._dtypes import check_float_input, check_tensor
from ..autograd import (
    LeakyReLUFunction,
    ReLUFunction,
    SigmoidFunction,
    SiLUFunction,
    SquareFunction,
    TanhFunction,
)
from ._mode import resolve_backward


def _run(function: type[torch.autograd.Function], backward: str | None, input: Tensor, *args) -> Tensor:
    if resolve_backward(backward) == "autograd":
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
