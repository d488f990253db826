"""The models the study and ``scratchnn train`` use, each buildable from scratchnn layers (``impl='scratch'``) or
from torch.nn layers (``impl='torch'``) with identical initial weights under the same seed.

- :class:`CNN` and :class:`MLP`: the seed project's small models (:mod:`.small`);
- :class:`ResNet`: a small residual network with batch norm (:mod:`.resnet`).
"""

from __future__ import annotations

from torch import nn

from ._check import IMPLS
from .resnet import ResNet
from .small import CNN, MLP

__all__ = ["CNN", "IMPLS", "MLP", "MODELS", "ResNet", "build_model"]

MODELS: dict[str, type[nn.Module]] = {"cnn": CNN, "mlp": MLP, "resnet": ResNet}


def build_model(name: str, impl: str = "scratch", activation: str = "relu") -> nn.Module:
    """``build_model('cnn', 'torch')``; a ValueError names an unknown model."""
    if name not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, but got model={name!r}")
    return MODELS[name](impl, activation)
