"""scratchnn: neural-network layers written from scratch on PyTorch tensors, proven identical to torch.nn.

Layers are drop-in twins of their torch.nn namesakes (same arguments, parameters, initialisation and results);
each op's forward and hand-written backward live together in :mod:`scratchnn.functional`.
"""

from . import autograd, functional
from .functional import get_backward, set_backward, use_backward
from .layers import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    Conv2d,
    ConvTranspose2d,
    CrossEntropyLoss,
    Dropout,
    Flatten,
    LeakyReLU,
    Linear,
    MaxPool2d,
    ReLU,
    Sigmoid,
    SiLU,
    Square,
    Tanh,
)
from .layers.normalization import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm

__all__ = [
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "ConvTranspose2d",
    "CrossEntropyLoss",
    "Dropout",
    "Flatten",
    "GroupNorm",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "MaxPool2d",
    "ReLU",
    "SiLU",
    "Sigmoid",
    "Square",
    "Tanh",
    "autograd",
    "functional",
    "get_backward",
    "set_backward",
    "use_backward",
]
__version__ = "0.1.0"
