"""Activation modules: thin ``nn.Module`` wrappers over the functional forms in :mod:`scratchnn.functional.activation`.

Each has the arguments, defaults and ``repr`` of its torch.nn namesake (``Square`` has none in torch), plus the
keyword-only ``backward`` of the other layers (``'manual'`` or ``'autograd'``; ``None`` follows the global default).
"""

from __future__ import annotations

from torch import Tensor, nn

from .. import functional as F
from ..functional._mode import resolve_backward


class ReLU(nn.Module):
    """``max(x, 0)`` element-wise. Args: inplace (bool): overwrite the input. Default: ``False``.

    Shape: any; the output has the input's shape.
    """

    def __init__(self, inplace: bool = False, *, backward: str | None = None) -> None:
        super().__init__()
        self.inplace = inplace
        self.backward = backward if backward is None else resolve_backward(backward)

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(input, self.inplace, backward=self.backward)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(nn.Module):
    """``x`` where ``x > 0``, else ``negative_slope * x``.

    Args:
        negative_slope (float): slope for negative inputs. Default: ``0.01``.
        inplace (bool): overwrite the input. Default: ``False``.
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False, *, backward: str | None = None) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace
        self.backward = backward if backward is None else resolve_backward(backward)

    def forward(self, input: Tensor) -> Tensor:
        return F.leaky_relu(input, self.negative_slope, self.inplace, backward=self.backward)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Sigmoid(nn.Module):
    """``1 / (1 + exp(-x))`` element-wise."""

    def __init__(self, *, backward: str | None = None) -> None:
        super().__init__()
        self.backward = backward if backward is None else resolve_backward(backward)

    def forward(self, input: Tensor) -> Tensor:
        return F.sigmoid(input, backward=self.backward)


class Tanh(nn.Module):
    """``tanh(x)`` element-wise."""

    def __init__(self, *, backward: str | None = None) -> None:
        super().__init__()
        self.backward = backward if backward is None else resolve_backward(backward)

    def forward(self, input: Tensor) -> Tensor:
        return F.tanh(input, backward=self.backward)


class SiLU(nn.Module):
    """``x * sigmoid(x)`` element-wise. Args: inplace (bool): write into the input. Default: ``False``."""

    def __init__(self, inplace: bool = False, *, backward: str | None = None) -> None:
        super().__init__()
        self.inplace = inplace
        self.backward = backward if backward is None else resolve_backward(backward)

    def forward(self, input: Tensor) -> Tensor:
        return F.silu(input, self.inplace, backward=self.backward)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Square(nn.Module):
    """``x * x`` element-wise: the seed project's example of a hand-written autograd Function."""

    def __init__(self, *, backward: str | None = None) -> None:
        super().__init__()
        self.backward = backward if backward is None else resolve_backward(backward)

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
