"""Checkpoints: written atomically, loadable with ``torch.load(..., weights_only=True)``.

A checkpoint holds everything needed to continue a run as if it had never stopped: the model and optimizer
state, the epoch just finished, the config, the metrics so far and every random-number state (torch's global
generator, the data-order generator, CUDA's). Writing goes through :mod:`scratchnn._atomic`: a kill at any
moment leaves either the old checkpoint or the new one, never half a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .._atomic import atomic_write_bytes

CHECKPOINT = "checkpoint.pt"


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    atomic_write_bytes(path, lambda f: torch.save(state, f))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load with ``weights_only=True``; a missing or foreign file is a ValueError naming it."""
    if not path.is_file():
        raise ValueError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"{path} is not a scratchnn checkpoint: {str(e).splitlines()[0]}") from None
    missing = {"model", "optimizer", "epoch", "config", "rng", "history"} - set(
        state if isinstance(state, dict) else ()
    )
    if missing:
        raise ValueError(f"{path} is not a scratchnn checkpoint (missing {sorted(missing)})")
    return state


def check_world_size(state: dict[str, Any], run_dir: Path, size: int) -> None:
    """A ValueError unless the checkpoint was written by a run of ``size`` processes (one: no ``world_size``)."""
    trained_by = int(state.get("world_size", 1))
    if trained_by != size:
        raise ValueError(
            f"cannot resume {run_dir} with world size {size}: it was trained with world size {trained_by}, "
            "and only the same number of processes continues it exactly"
        )


def rng_state(data_generator: torch.Generator, device: torch.device | None = None) -> dict[str, Any]:
    """Every random-number state. ``device``: in a distributed run, this rank's CUDA device, whose state alone is
    kept (every rank draws the same numbers on its own GPU; the other GPUs belong to the other ranks)."""
    state = {"torch": torch.get_rng_state(), "data": data_generator.get_state()}
    if device is not None and device.type == "cuda":
        state["cuda"] = [torch.cuda.get_rng_state(device)]
    elif torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any], data_generator: torch.Generator, device: torch.device | None = None):
    """Set what :func:`rng_state` saved; ``device`` as there."""
    torch.set_rng_state(state["torch"])
    data_generator.set_state(state["data"])
    if "cuda" not in state or not torch.cuda.is_available():
        return
    if device is not None and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"][0], device)
    else:
        torch.cuda.set_rng_state_all(state["cuda"])
