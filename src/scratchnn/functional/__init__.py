"""Functional ops written from tensor operations, each with its hand-written backward.

Signatures follow ``torch.nn.functional``; the keyword-only ``backward`` argument picks the hand-written backward
(``'manual'``, default) or autograd through the forward (``'autograd'``), see :mod:`._mode`.
"""

from ._mode import BACKWARDS, get_backward, set_backward, use_backward
from .activation import leaky_relu, relu, sigmoid, silu, square, tanh
from .conv import Conv2dFunction, conv2d
from .linear import LinearFunction, linear
from .normalization import FrozenNormFunction, NormalizeFunction
from .normalization_ops import batch_norm, group_norm, layer_norm
from .pooling import AvgPool2dFunction, MaxPool2dFunction, avg_pool2d, max_pool2d

__all__ = [
    "BACKWARDS",
    "AvgPool2dFunction",
    "Conv2dFunction",
    "FrozenNormFunction",
    "LinearFunction",
    "MaxPool2dFunction",
    "NormalizeFunction",
    "avg_pool2d",
    "batch_norm",
    "conv2d",
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
