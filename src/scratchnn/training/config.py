"""The training run's configuration: a frozen dataclass mapped one-to-one to ``scratchnn train``'s flags."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any

from ..layers import ACTIVATIONS
from ..models import IMPLS, MODELS
from .distributed import BACKENDS

OPTIMIZERS = ("adam", "sgd")
DEVICES = ("auto", "cpu", "cuda", "mps")
DATASETS = ("mnist", "fashion-mnist")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run. ``batch_size=None`` means full batch (one step per epoch).

    ``batch_size`` is the global batch: under torchrun the ranks split every batch among themselves.
    ``backend`` is the torch.distributed backend used under torchrun (``'auto'``: nccl on CUDA, else gloo).
    """

    model: str = "cnn"
    impl: str = "scratch"
    activation: str = "relu"
    epochs: int = 10
    batch_size: int | None = 64
    lr: float = 0.01
    optimizer: str = "adam"
    weight_decay: float = 0.0
    momentum: float = 0.0
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"
    backend: str = "auto"
    checkpoint_every: int = 1
    dataset: str = "mnist"
    data_dir: str | None = None
    download: bool = False
    train_size: int | None = 4000  # None: all (see prepare_data)
    test_size: int | None = 1000

    def __post_init__(self) -> None:
        _choice("model", self.model, tuple(MODELS))
        _choice("impl", self.impl, IMPLS)
        _choice("activation", self.activation, tuple(ACTIVATIONS))
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("device", self.device, DEVICES)
        _choice("backend", self.backend, BACKENDS)
        _choice("dataset", self.dataset, DATASETS)
        _at_least("epochs", self.epochs, 1)
        if self.batch_size is not None:
            _at_least("batch_size", self.batch_size, 1)
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, but got lr={self.lr}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise ValueError(f"seed must be an integer in [0, 2**63), but got seed={self.seed!r}")
        for name in ("weight_decay", "momentum", "checkpoint_every"):
            _at_least(name, getattr(self, name), 0)
        for name in ("train_size", "test_size"):
            if getattr(self, name) is not None:
                _at_least(name, getattr(self, name), 10)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Rebuild a saved config; unknown keys are an error (a config from another program or version)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}")
        return cls(**values)

    def differences(self, other: TrainConfig) -> list[str]:
        """``['lr: 0.01 -> 0.1', ...]`` for every field that differs."""
        return [
            f"{f.name}: {getattr(self, f.name)!r} -> {getattr(other, f.name)!r}"
            for f in fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        ]


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, but got {name}={value!r}")


def _at_least(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
        raise ValueError(f"{name} must be >= {low}, but got {name}={value!r}")
