"""Training: configuration, the loop, checkpoints and resuming, on one process or many (torchrun)."""

from .checkpoint import CHECKPOINT, load_checkpoint
from .config import TrainConfig
from .devices import process_device, resolve_device
from .loop import CONFIG, METRICS, Splits, TrainResult, evaluate, train

__all__ = [
    "CHECKPOINT",
    "CONFIG",
    "METRICS",
    "Splits",
    "TrainConfig",
    "TrainResult",
    "evaluate",
    "load_checkpoint",
    "process_device",
    "resolve_device",
    "train",
]
