"""``nn.Module`` twins of torch.nn: arguments, parameters, ``reset_parameters`` and ``repr``; math in functional."""

from .activation import ACTIVATIONS, LeakyReLU, ReLU, Sigmoid, SiLU, Square, Tanh
from .conv import Conv2d
from .linear import Linear
from .normalization import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm
from .pooling import AvgPool2d, MaxPool2d

__all__ = [
    "ACTIVATIONS",
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
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
]
