"""What the benchmark measures, as data: every layer of the CNN and MLP at its real shape, a larger convolution, and
whole training steps of both models.

Layer cases run at the study's batch of 256, with the shapes the layer sees inside its model::

    cnn.conv1  conv 1->8 3x3 pad 2   (256, 1, 28, 28)  -> (256, 8, 30, 30)
    cnn.relu1  relu                  (256, 8, 30, 30)
    cnn.pool1  max-pool 2            (256, 8, 30, 30)  -> (256, 8, 15, 15)
    cnn.conv2  conv 8->16 5x5 pad 2  (256, 8, 15, 15)  -> (256, 16, 15, 15)
    cnn.relu2  relu                  (256, 16, 15, 15)
    cnn.pool2  max-pool 2            (256, 16, 15, 15) -> (256, 16, 7, 7)
    cnn.fc     linear 784->10        (256, 784)        -> (256, 10)
    mlp.fc1    linear 784->16        (256, 784)        -> (256, 16)
    mlp.relu   relu                  (256, 16)
    mlp.fc2    linear 16->10         (256, 16)         -> (256, 10)
    big.conv   conv 64->64 3x3 pad 1 (32, 64, 56, 56)  -> (32, 64, 56, 56)   (a ResNet stage; heavy)

Step cases are one whole training step (forward, cross-entropy, backward, Adam) of the CNN or MLP at batch 256 and
at the full batch of 4,000 (heavy). ``--quick`` skips the heavy cases.

Every contender is built under the same seed, so scratch and torch.nn start from identical weights. A layer that
reads no input gradient in its model (the first layer) gets an input without ``requires_grad``, as in training.
"""

from __future__ import annotations

import fnmatch
import inspect
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import nn

from .. import layers
from ..models import build_model

SEED = 0
ENGINES = ("manual", "autograd")


class Contender(NamedTuple):
    """One implementation under test: ``impl`` is ``'scratch'`` or ``'torch'``; ``engine`` the scratch backward."""

    name: str
    impl: str
    engine: str | None


TORCH = Contender("torch", "torch", None)


@dataclass(frozen=True)
class LayerCase:
    """One layer, built as ``layers.<layer>(*args, **kwargs)`` and as ``torch.nn.<layer>(*args, **kwargs)``."""

    name: str
    layer: str
    args: tuple
    input_shape: tuple[int, ...]
    input_grad: bool = True
    kwargs: dict[str, Any] = field(default_factory=dict)
    heavy: bool = False

    @property
    def description(self) -> str:
        arguments = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.layer}({', '.join(arguments)}) on {tuple(self.input_shape)}"

    def contenders(self) -> list[Contender]:
        return _contenders(has_engine(getattr(layers, self.layer)))

    def build(self, contender: Contender, device: torch.device) -> nn.Module:
        """The layer for ``contender``, initialised under :data:`SEED`, on ``device``."""
        cls = getattr(layers if contender.impl == "scratch" else nn, self.layer)
        torch.manual_seed(SEED)
        return pin_engine(cls(*self.args, **self.kwargs), contender.engine).to(device)


@dataclass(frozen=True)
class StepCase:
    """One training step of ``model`` (``'cnn'`` or ``'mlp'``) on a batch of ``batch`` images."""

    name: str
    model: str
    batch: int
    heavy: bool = False

    @property
    def description(self) -> str:
        return f"training step of the {self.model.upper()}, batch {self.batch}, Adam, cross-entropy"

    def contenders(self) -> list[Contender]:
        return _contenders(True)  # the models' convs, pools and linears all have both engines

    def build(self, contender: Contender, device: torch.device) -> nn.Module:
        """The model for ``contender``, initialised under :data:`SEED`, on ``device``."""
        torch.manual_seed(SEED)
        return pin_engine(build_model(self.model, contender.impl), contender.engine).to(device)


Case = LayerCase | StepCase

CASES: tuple[Case, ...] = (
    LayerCase("cnn.conv1", "Conv2d", (1, 8, 3), (256, 1, 28, 28), input_grad=False, kwargs={"padding": 2}),
    LayerCase("cnn.relu1", "ReLU", (), (256, 8, 30, 30)),
    LayerCase("cnn.pool1", "MaxPool2d", (2,), (256, 8, 30, 30)),
    LayerCase("cnn.conv2", "Conv2d", (8, 16, 5), (256, 8, 15, 15), kwargs={"padding": 2}),
    LayerCase("cnn.relu2", "ReLU", (), (256, 16, 15, 15)),
    LayerCase("cnn.pool2", "MaxPool2d", (2,), (256, 16, 15, 15)),
    LayerCase("cnn.fc", "Linear", (784, 10), (256, 784)),
    LayerCase("mlp.fc1", "Linear", (784, 16), (256, 784), input_grad=False),
    LayerCase("mlp.relu", "ReLU", (), (256, 16)),
    LayerCase("mlp.fc2", "Linear", (16, 10), (256, 16)),
    LayerCase("big.conv", "Conv2d", (64, 64, 3), (32, 64, 56, 56), kwargs={"padding": 1}, heavy=True),
    StepCase("step.cnn.b256", "cnn", 256),
    StepCase("step.mlp.b256", "mlp", 256),
    StepCase("step.cnn.b4000", "cnn", 4000, heavy=True),
    StepCase("step.mlp.b4000", "mlp", 4000, heavy=True),
)


def select_cases(pattern: str | None = None, quick: bool = False, cases: tuple[Case, ...] = CASES) -> list[Case]:
    """The cases whose name matches the glob ``pattern`` (all if ``None``), without the heavy ones when ``quick``.

    Raises:
        ValueError: nothing matches; the message lists the case names.
    """
    chosen = [c for c in cases if (pattern is None or fnmatch.fnmatchcase(c.name, pattern)) and not (quick and c.heavy)]
    if not chosen:
        names = ", ".join(c.name for c in cases if not (quick and c.heavy))
        raise ValueError(f"no benchmark case matches cases={pattern!r}{' with quick' * quick}; cases: {names}")
    return chosen


def has_engine(cls: type) -> bool:
    """Whether a scratchnn layer class takes ``backward=`` (every scratchnn layer does, activations included)."""
    return cls.__module__.startswith("scratchnn.") and "backward" in inspect.signature(cls).parameters


def pin_engine(module: nn.Module, engine: str | None) -> nn.Module:
    """Fix the backward engine of every scratchnn layer inside ``module`` (so it holds under ``torch.compile``)."""
    if engine is not None:
        for m in module.modules():
            if has_engine(type(m)):
                m.backward = engine
    return module


def _contenders(engines: bool) -> list[Contender]:
    """``scratch-manual``, ``scratch-autograd`` and ``torch``; ``scratch`` and ``torch`` for a layer without engines."""
    if not engines:
        return [Contender("scratch", "scratch", None), TORCH]
    return [*(Contender(f"scratch-{e}", "scratch", e) for e in ENGINES), TORCH]
