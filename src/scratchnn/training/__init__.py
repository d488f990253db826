"""Training: configuration, the loop, checkpoints and resuming."""

from .checkpoint import CHECKPOINT, load_checkpoint
from .config import TrainConfig
from .loop import CONFIG, METRICS, Splits, TrainResult, evaluate, resolve_device, train

__all__ = [
    "CHECKPOINT",
    "CONFIG",
    "METRICS",
    "Splits",
    "TrainConfig",
    "TrainResult",
    "evaluate",
    "load_checkpoint",
    "resolve_device",
    "train",
]
