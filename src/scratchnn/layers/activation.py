"""Activation modules: thin ``nn.Module`` wrappers over the functional forms in :mod:`scratchnn.functional.activation`.

Each has the arguments, defaults and ``repr`` of its torch.nn namesake (``Square`` has none in torch), plus the
keyword-only ``backward`` of the other layers (``'manual'`` or ``'autograd'``; ``None`` follows the global default).
Shape: any; the output has the input's shape.
"""

from __future__ import annotations

from torch import Tensor, nn

from .. import functional as F
from ._layer import Layer


class _InplaceActivation(Layer):
    """An activation that can overwrite its input. Args: inplace (bool): overwrite the input. Default: ``False``."""

    def __init__(self, inplace: bool = False, *, backward: str | None = None) -> None:
        super().__init__(backward=backward)
        self.inplace = inplace

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class ReLU(_InplaceActivation):
    """``max(x, 0)`` element-wise. Args: inplace (bool): overwrite the input. Default: ``False``."""

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(input, self.inplace, backward=self.backward)


class LeakyReLU(_InplaceActivation):
    """``x`` where ``x > 0``, else ``negative_slope * x``.

    Args:
        negative_slope (float): slope for negative inputs. Default: ``0.01``.
        inplace (bool): overwrite the input. Default: ``False``.
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False, *, backward: str | None = None) -> None:
        super().__init__(inplace, backward=backward)
        self.negative_slope = negative_slope

    def forward(self, input: Tensor) -> Tensor:
        return F.leaky_relu(input, self.negative_slope, self.inplace, backward=self.backward)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Sigmoid(Layer):
    """``1 / (1 + exp(-x))`` element-wise."""

    def forward(self, input: Tensor) -> Tensor:
        return F.sigmoid(input, backward=self.backward)


class Tanh(Layer):
    """``tanh(x)`` element-wise."""

    def forward(self, input: Tensor) -> Tensor:
        return F.tanh(input, backward=self.backward)


class SiLU(_InplaceActivation):
    """``x * sigmoid(x)`` element-wise. Args: inplace (bool): write into the input. Default: ``False``."""

    def forward(self, input: Tensor) -> Tensor:
        return F.silu(input, self.inplace, backward=self.backward)


class Square(Layer):
    """``x * x`` element-wise: the seed project's example of a hand-written autograd Function."""

    def forward(self, input: Tensor) -> Tensor:
        return F.square(input, backward=self.backward)


ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "silu": SiLU,
    "square": Square,
}
