"""The study's configuration and its presets: a frozen dataclass mapped one-to-one to ``scratchnn compare``'s
flags. A preset fills every field; any flag overrides one."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..layers import ACTIVATIONS
from ..models import MODELS
from ..training.config import DATASETS, DEVICES, OPTIMIZERS


@dataclass(frozen=True)
class StudyConfig:
    """Trains each of ``models``, as ``scratch`` and ``torch``, for every seed in ``range(seeds)``.

    Each model has its own learning rate and weight decay (``cnn_lr``, ``resnet_weight_decay``, ...).
    """

    preset: str = "quick"
    models: tuple[str, ...] = ("cnn", "mlp")
    seeds: int = 1
    epochs: int = 8
    batch_size: int | None = 256
    optimizer: str = "adam"
    cnn_lr: float = 0.003
    mlp_lr: float = 0.005
    cnn_weight_decay: float = 0.0
    mlp_weight_decay: float = 0.0
    resnet_lr: float = 0.001
    resnet_weight_decay: float = 0.0
    activation: str = "relu"
    train_size: int | None = 4000  # None: all (see prepare_data)
    test_size: int | None = 1000
    dataset: str = "mnist"
    data_dir: str | None = None
    download: bool = False
    device: str = "auto"
    deterministic: bool = False
    control: bool = True  # train the rounding control beside each torch.nn model

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", tuple(self.models))  # a list from JSON or the command line
        checks = [
            ("models", 1 <= len(self.models) == len(set(self.models)) and set(self.models) <= set(MODELS)),
            ("preset", self.preset in PRESETS),
            ("optimizer", self.optimizer in OPTIMIZERS),
            ("activation", self.activation in ACTIVATIONS),
            ("dataset", self.dataset in DATASETS),
            ("device", self.device in DEVICES),
            ("seeds", self.seeds >= 1),
            ("epochs", self.epochs >= 1),
            ("batch_size", self.batch_size is None or self.batch_size >= 1),
            *((f"{model}_lr", self.lr(model) > 0) for model in MODELS),
            *((f"{model}_weight_decay", self.weight_decay(model) >= 0) for model in MODELS),
            ("train_size", self.train_size is None or self.train_size >= 10),
            ("test_size", self.test_size is None or self.test_size >= 10),
        ]
        for name, ok in checks:
            if not ok:
                raise ValueError(f"invalid {name}: {getattr(self, name)!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def lr(self, model: str) -> float:
        return getattr(self, f"{model}_lr")

    def weight_decay(self, model: str) -> float:
        return getattr(self, f"{model}_weight_decay")


PRESETS: dict[str, dict[str, Any]] = {
    # All four models in well under 3 minutes on 2 CPU cores; enough epochs to separate CNN from MLP. A gentle
    # CNN learning rate keeps float rounding (scratch vs torch.nn sum in different orders) from being amplified
    # by training: with lr 0.005 and batch 128 the CNN twins drifted 5e-3 apart in test loss, here < 1e-3.
    "quick": {"epochs": 8, "batch_size": 256, "cnn_lr": 0.003, "mlp_lr": 0.005},
    # The seed project's schedule: 5,000 images split 4,000/1,000, full-batch Adam for 2,000 epochs.
    "seed": {
        "epochs": 2000,
        "batch_size": None,
        "cnn_lr": 0.01,
        "cnn_weight_decay": 1e-5,
        "mlp_lr": 0.001,
        "mlp_weight_decay": 0.0,
        "train_size": 4000,
        "test_size": 1000,
    },
    # The ResNet twins (models.ResNet, batch norm) on the full Fashion-MNIST, 60,000/10,000: three epochs of Adam
    # at batch 128. Without the rounding control, which would add a third of the time (docs/resnet.md).
    "resnet": {
        "models": ("resnet",),
        "control": False,
        "epochs": 3,
        "batch_size": 128,
        "resnet_lr": 0.001,
        "dataset": "fashion-mnist",
        "train_size": None,
        "test_size": None,
    },
}


def study_config(preset: str = "quick", **overrides: Any) -> StudyConfig:
    """The preset's values, then ``overrides`` (the flags given), as a validated :class:`StudyConfig`."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}, but got preset={preset!r}")
    return StudyConfig(preset=preset, **{**PRESETS[preset], **overrides})
