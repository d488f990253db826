"""Functional ops written from tensor operations, each with its hand-written backward.

Signatures follow ``torch.nn.functional``; the keyword-only ``backward`` argument picks the hand-written backward
(``'manual'``, default) or autograd through the forward (``'autograd'``), see :mod:`._mode`.
"""

from ._mode import BACKWARDS, get_backward, set_backward, use_backward
from .activation import leaky_relu, relu, sigmoid, silu, square, tanh
from .adaptive_pool import AdaptiveAvgPool2dFunction, adaptive_avg_pool2d
from .avg_pool import AvgPool2dFunction, avg_pool2d
from .conv import Conv2dFunction, conv2d
from .conv_transpose import ConvTranspose2dFunction, conv_transpose2d
from .dropout import DropoutFunction, dropout
from .linear import LinearFunction, linear
from .loss import CrossEntropyFunction, cross_entropy
from .max_pool import MaxPool2dFunction, max_pool2d
from .normalization import FrozenNormFunction, NormalizeFunction
from .normalization_ops import batch_norm, group_norm, layer_norm

__all__ = [
    "BACKWARDS",
    "AdaptiveAvgPool2dFunction",
    "AvgPool2dFunction",
    "Conv2dFunction",
    "ConvTranspose2dFunction",
    "CrossEntropyFunction",
    "DropoutFunction",
    "FrozenNormFunction",
    "LinearFunction",
    "MaxPool2dFunction",
    "NormalizeFunction",
    "adaptive_avg_pool2d",
    "avg_pool2d",
    "batch_norm",
    "conv2d",
    "conv_transpose2d",
    "cross_entropy",
    "dropout",
    "get_backward",
    "group_norm",
    "layer_norm",
    "leaky_relu",
    "linear",
    "max_pool2d",
    "relu",
    "set_backward",
    "sigmoid",
    "silu",
    "square",
    "tanh",
    "use_backward",
]
