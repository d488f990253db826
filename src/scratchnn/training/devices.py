"""Which device a run trains on: the ``--device`` choice resolved on this machine, and this process's own device
under torchrun (CUDA: the GPU numbered by its local rank)."""

from __future__ import annotations

import torch

from .distributed import initialised, launch


def resolve_device(name: str) -> torch.device:
    """``'auto'``: cuda if present, else mps, else cpu. Asking for an absent device is a ValueError."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        return torch.device("mps" if mps is not None and mps.is_available() else "cpu")
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()),
    }
    if not available.get(name, False):
        raise ValueError(f"device {name!r} is not available on this machine")
    return torch.device(name)


def process_device(name: str) -> torch.device:
    """The device this process trains on: :func:`resolve_device` for one process; under torchrun (or in any
    process group) ``'auto'`` means cuda if present, else cpu, and CUDA means this local rank's own GPU."""
    started = launch()
    if started is None and not initialised():
        return resolve_device(name)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = resolve_device(name)
    if device.type != "cuda":
        return device
    return torch.device("cuda", started.local_rank if started else torch.cuda.current_device())
