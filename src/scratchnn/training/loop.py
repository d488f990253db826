"""The training loop: seeded, optionally deterministic, checkpointed, resumable to the bit.

A run is fully determined by its :class:`TrainConfig` and data: the model's initial weights come from
``torch.manual_seed(seed)``, the order of the training examples from a separate generator seeded the same way.
Every ``checkpoint_every`` epochs (and at the end) the complete state is saved, so a run killed at any moment and
resumed from its directory ends — on the CPU in deterministic mode — with bit-identical weights and metrics.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..models import build_model
from .checkpoint import CHECKPOINT, atomic_write_bytes, load_checkpoint, restore_rng_state, rng_state, save_checkpoint
from .config import TrainConfig

CONFIG, METRICS = "config.json", "metrics.json"


class Splits(NamedTuple):
    """Training and test data: images ``(N, 1, 28, 28)`` float, labels ``(N,)`` int64 (e.g. a
    :class:`scratchnn.data.Split`, whose fields these are)."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor


@dataclass
class TrainResult:
    model: nn.Module
    history: list[dict[str, float]]
    wall_time: float

    @property
    def final(self) -> dict[str, float]:
        last = self.history[-1]
        return {k: last[k] for k in ("train_loss", "test_loss", "test_accuracy")}


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


@contextlib.contextmanager
def deterministic_mode(enabled: bool) -> Iterator[None]:
    """``torch.use_deterministic_algorithms`` for the block, then restore the previous setting."""
    before = torch.are_deterministic_algorithms_enabled()
    if enabled:  # cuBLAS needs a fixed workspace to be deterministic; read when its handle is created
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled or before)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


def make_optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


@torch.no_grad()
def evaluate(model: nn.Module, x: Tensor, y: Tensor, chunk: int = 4096) -> tuple[float, float, Tensor]:
    """Mean cross-entropy, accuracy and the predicted labels over ``(x, y)``."""
    model.eval()
    logits = torch.cat([model(x[i : i + chunk]) for i in range(0, len(x), chunk)])  # (N, 10)
    predictions = logits.argmax(1)
    return F.cross_entropy(logits, y).item(), (predictions == y).float().mean().item(), predictions


def _train_epoch(
    model,
    optimizer,
    data: Splits,
    batch_size: int | None,
    generator: torch.Generator,
    within_batch: torch.Generator | None = None,
):
    """One pass over the training data; returns the mean loss and accuracy of the batches as trained.

    ``within_batch``: when given, each batch's samples are permuted among themselves with it (the batches and
    their order are unchanged; only the order of the sums over the batch differs - the study's rounding control).
    """
    model.train()
    n = len(data.x_train)
    order = torch.randperm(n, generator=generator).to(data.x_train.device) if batch_size else None
    total_loss, correct = 0.0, 0
    for start in range(0, n, batch_size or n):
        idx = order[start : start + batch_size] if order is not None else slice(None)
        if within_batch is not None:
            rows = torch.arange(n, device=data.x_train.device)[idx]
            idx = rows[torch.randperm(len(rows), generator=within_batch).to(rows.device)]
        xb, yb = data.x_train[idx], data.y_train[idx]
        logits = model(xb)  # (B, 10)
        loss = F.cross_entropy(logits, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(yb)
        correct += (logits.argmax(1) == yb).sum().item()
    return total_loss / n, correct / n


def train(
    config: TrainConfig,
    data,
    run_dir: Path | None = None,
    *,
    resume: bool = False,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train ``config.model`` on ``data``; with ``run_dir``, write config, checkpoints and metrics there.

    Args:
        config: the run's configuration.
        data: anything with ``x_train, y_train, x_test, y_test`` (a :class:`Splits` or a
            :class:`scratchnn.data.Split`), moved to the run's device here.
        run_dir: an existing, writable directory for this run, or ``None`` to keep nothing on disk.
        resume: continue from ``run_dir/checkpoint.pt``; its config must equal ``config``.
        on_epoch: called with each epoch's metrics (the command line's progress bar).
    """
    device = resolve_device(config.device)
    with deterministic_mode(config.deterministic):
        torch.manual_seed(config.seed)
        model = build_model(config.model, config.impl, config.activation).to(device)
        optimizer = make_optimizer(config, model)
        generator = torch.Generator().manual_seed(config.seed)
        history, done, wall = [], 0, 0.0
        if resume:
            history, done, wall = _resume(run_dir, config, model, optimizer, generator)
        elif run_dir is not None:
            write_json(run_dir / CONFIG, config.to_dict())
        data = Splits(*(t.to(device) for t in (data.x_train, data.y_train, data.x_test, data.y_test)))
        for epoch in range(done + 1, config.epochs + 1):
            start = time.perf_counter()
            train_loss, train_acc = _train_epoch(model, optimizer, data, config.batch_size, generator)
            test_loss, test_acc, _ = evaluate(model, data.x_test, data.y_test)
            wall += time.perf_counter() - start
            history.append(
                {
                    "epoch": epoch,
                    "train_loss": train_loss,
                    "train_accuracy": train_acc,
                    "test_loss": test_loss,
                    "test_accuracy": test_acc,
                }
            )
            if on_epoch is not None:
                on_epoch(history[-1])
            every = config.checkpoint_every
            if run_dir is not None and ((every and epoch % every == 0) or epoch == config.epochs):
                _checkpoint(run_dir, config, model, optimizer, generator, history, wall)
    result = TrainResult(model, history, wall)
    if run_dir is not None:
        write_json(run_dir / METRICS, {"final": result.final, "history": history, "wall_time": wall})
    return result


def _checkpoint(run_dir: Path, config, model, optimizer, generator, history, wall: float) -> None:
    save_checkpoint(
        run_dir / CHECKPOINT,
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "epoch": history[-1]["epoch"],
            "config": config.to_dict(),
            "rng": rng_state(generator),
            "history": history,
            "wall_time": wall,
        },
    )


def _resume(run_dir: Path | None, config: TrainConfig, model, optimizer, generator):
    if run_dir is None:
        raise ValueError("resume needs the run directory")
    state = load_checkpoint(run_dir / CHECKPOINT)
    saved = TrainConfig.from_dict(state["config"])
    if saved != config:
        raise ValueError(f"cannot resume {run_dir} with a different config: {'; '.join(saved.differences(config))}")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    restore_rng_state(state["rng"], generator)
    return list(state["history"]), int(state["epoch"]), float(state.get("wall_time", 0.0))


def write_json(path: Path, value: Any) -> None:
    """Atomically write ``value`` as indented JSON."""
    atomic_write_bytes(path, lambda f: f.write(json.dumps(value, indent=2).encode() + b"\n"))
