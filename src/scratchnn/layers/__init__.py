"""``nn.Module`` twins of torch.nn: arguments, parameters, ``reset_parameters`` and ``repr``; math in functional."""

from .activation import ACTIVATIONS, LeakyReLU, ReLU, Sigmoid, SiLU, Square, Tanh
from .adaptive_pool import AdaptiveAvgPool2d
from .conv import Conv2d
from .conv_transpose import ConvTranspose2d
from .dropout import Dropout
from .flatten import Flatten
from .linear import Linear
from .loss import CrossEntropyLoss
from .normalization import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm
from .pooling import AvgPool2d, MaxPool2d

__all__ = [
    "ACTIVATIONS",
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
]
