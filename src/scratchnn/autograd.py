"""The activations' ``torch.autograd.Function`` subclasses, each with its derivative written out.

They live beside their forwards and functional forms in :mod:`scratchnn.functional.activation`, which explains
each derivative; this module names them where users import them from.
"""

from .functional.activation import (
    LeakyReLUFunction,
    ReLUFunction,
    SigmoidFunction,
    SiLUFunction,
    SquareFunction,
    TanhFunction,
)

__all__ = [
    "LeakyReLUFunction",
    "ReLUFunction",
    "SiLUFunction",
    "SigmoidFunction",
    "SquareFunction",
    "TanhFunction",
]
