"""Activation modules: thin ``nn.Module`` wrappers over the hand-written Functions in :mod:`scratchnn.autograd`.

Each has the arguments, defaults and ``repr`` of its torch.nn namesake (``Square`` has none in torch).
"""

from __future__ import annotations

from torch import Tensor, nn

from .. import functional as F


class ReLU(nn.Module):
    """``max(x, 0)`` element-wise. Args: inplace (bool): overwrite the input. Default: ``False``.

    Shape: any; the output has the input's shape.
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(input, self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(nn.Module):
    """``x`` where ``x > 0``, else ``negative_slope * x``.

    Args:
        negative_slope (float): slope for negative inputs. Default: ``0.01``.
        inplace (bool): overwrite the input. Default: ``False``.
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Sigmoid(nn.Module):
    """``1 / (1 + exp(-x))`` element-wise."""

    def forward(self, input: Tensor) -> Tensor:
        return F.sigmoid(input)


class Tanh(nn.Module):
    """``tanh(x)`` element-wise."""

    def forward(self, input: Tensor) -> Tensor:
        return F.tanh(input)


class SiLU(nn.Module):
    """``x * sigmoid(x)`` element-wise. Args: inplace (bool): write into the input. Default: ``False``."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.silu(input, self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Square(nn.Module):
    """``x * x`` element-wise: the seed project's example of a hand-written autograd Function."""

    def forward(self, input: Tensor) -> Tensor:
        return F.square(input)


ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "silu": SiLU,
    "square": Square,
}
