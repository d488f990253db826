"""scratchnn: neural-network layers written from scratch on PyTorch tensors, proven identical to torch.nn.

Layers are drop-in twins of their torch.nn namesakes (same arguments, parameters, initialisation and results);
each op's forward and hand-written backward live together in :mod:`scratchnn.functional`.
"""

from . import autograd, functional, layers
from .functional import get_backward, set_backward, use_backward
from .layers import (  # noqa: F401 (exported through layers.__all__, below)
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    ConvTranspose2d,
    CrossEntropyLoss,
    Dropout,
    Flatten,
    GroupNorm,
    LayerNorm,
    LeakyReLU,
    Linear,
    MaxPool2d,
    ReLU,
    Sigmoid,
    SiLU,
    Square,
    Tanh,
)

__all__ = ["autograd", "functional", "get_backward", "set_backward", "use_backward"]
__all__ += [name for name in layers.__all__ if name != "ACTIVATIONS"]  # every layer; the registry stays in layers
__version__ = "0.1.0"
