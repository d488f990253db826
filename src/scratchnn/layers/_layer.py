"""What the layers share: the ``backward`` engine argument, and torch.nn's weight and bias of a linear map."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import init

from ..functional._mode import resolve_backward


class Layer(nn.Module):
    """An ``nn.Module`` twin whose op takes the keyword-only ``backward``: ``'manual'`` (the hand-written backward),
    ``'autograd'`` (autograd through the forward) or ``None``, which follows :func:`scratchnn.get_backward` at each
    call. A bad name is a ValueError at construction."""

    def __init__(self, *, backward: str | None = None) -> None:
        super().__init__()
        self.backward = backward if backward is None else resolve_backward(backward)


def add_weight_and_bias(module: nn.Module, weight_shape: tuple[int, ...], bias_size: int | None, factory: dict) -> None:
    """Register ``weight`` (uninitialised, ``weight_shape``) and ``bias`` (``(bias_size,)``, or ``None``)."""
    module.weight = nn.Parameter(torch.empty(weight_shape, **factory))
    module.register_parameter("bias", None if bias_size is None else nn.Parameter(torch.empty(bias_size, **factory)))


def reset_weight_and_bias(weight: nn.Parameter, bias: nn.Parameter | None) -> None:
    """torch.nn's initialisation of Linear and the convolutions, the same random calls in the same order: ``weight``
    by ``kaiming_uniform_(a=sqrt(5))``, which is ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, and ``bias`` from the same
    range; ``fan_in`` is the weight's dim 1 times its kernel size (``in_features``; ``C_in/groups * kH * kW``)."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in = weight.shape[1] * math.prod(weight.shape[2:])
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(bias, -bound, bound)
