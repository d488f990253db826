"""The training loop: seeded, optionally deterministic, checkpointed, resumable to the bit.

A run is fully determined by its :class:`TrainConfig` and data: the model's initial weights come from
``torch.manual_seed(seed)``, the order of the training examples from a separate generator seeded the same way.
Every ``checkpoint_every`` epochs (and at the end) the complete state is saved, so a run killed at any moment and
resumed from its directory ends — on the CPU in deterministic mode — with bit-identical weights and metrics.

In a process group (``torchrun``; see :mod:`.distributed`) the model is wrapped in DistributedDataParallel and each
rank trains on its own slice of every global batch. A rank's mean loss is weighted by its share of the batch
(``n_rank * world_size / n_batch``), so DDP's mean of the ranks' gradients is the gradient of the whole batch's
mean loss, as in one process, for any batch size. Training losses and correct counts are summed over the ranks
once per epoch, the test set is split across the ranks the same way, and only rank 0 writes to ``run_dir``.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from .._atomic import write_json
from ..environment import environment
from ..models import build_model
from .checkpoint import (
    CHECKPOINT,
    check_world_size,
    load_checkpoint,
    restore_rng_state,
    rng_state,
    save_checkpoint,
)
from .config import TrainConfig
from .devices import process_device
from .distributed import World, check_examples, check_group, initialised

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


@dataclass
class Run:
    """One model in training: the model, what trains it (``net``: DistributedDataParallel in a process group,
    else the model), its optimizer, the data-order generator, the generator that permutes the samples within each
    batch (the study's rounding control; ``None``: no permutation), the per-epoch metrics so far and the time
    spent training and testing."""

    model: nn.Module
    net: nn.Module
    optimizer: torch.optim.Optimizer
    order: torch.Generator
    within_batch: torch.Generator | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    wall_time: float = 0.0


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
    """Mean cross-entropy, accuracy (correct / examples, exactly) and the predicted labels over ``(x, y)``."""
    logits = _logits(model, x, chunk)  # (N, 10)
    predictions = logits.argmax(1)
    return F.cross_entropy(logits, y).item(), (predictions == y).sum().item() / len(y), predictions


@torch.no_grad()
def _logits(model: nn.Module, x: Tensor, chunk: int = 4096) -> Tensor:
    """The model's logits over ``x`` in eval mode, ``chunk`` examples at a time (one empty chunk for empty x)."""
    model.eval()
    return torch.cat([model(x[i : i + chunk]) for i in range(0, max(len(x), 1), chunk)])  # (N, 10)


def _test_metrics(model: nn.Module, data: Splits, world: World) -> tuple[float, float]:
    """Test loss and accuracy: over the whole test set in one process; in many, each rank's slice, summed."""
    if world.size == 1:
        loss, accuracy, _ = evaluate(model, data.x_test, data.y_test)
        return loss, accuracy
    start, stop = world.share(len(data.y_test))
    y = data.y_test[start:stop]
    logits = _logits(model, data.x_test[start:stop])  # (n_rank, 10)
    mine = [F.cross_entropy(logits, y, reduction="sum").item(), (logits.argmax(1) == y).sum().item()]
    loss_sum, correct = world.sum(mine, y.device)
    return loss_sum / len(data.y_test), correct / len(data.y_test)


def _train_epoch(
    model,
    optimizer,
    data: Splits,
    batch_size: int | None,
    generator: torch.Generator,
    world: World,
    within_batch: torch.Generator | None = None,
):
    """One pass over the training data; returns the mean loss and accuracy of the batches as trained.

    Every rank draws the same order; of each global batch of ``size`` examples it trains on its slice
    (:meth:`World.share`) with its mean loss scaled by ``n_rank * world.size / size``. DDP averages the ranks'
    gradients, so the step follows ``(1/size) * sum of the batch's per-example gradients``, as one process does.

    ``within_batch``: when given, each global batch's samples are permuted among themselves with it before the
    ranks take their slices (the batches and their order are unchanged; only the order of the sums over the batch
    differs - the study's rounding control).
    """
    model.train()
    n = len(data.x_train)
    order = torch.randperm(n, generator=generator).to(data.x_train.device) if batch_size else None
    total_loss, correct = 0.0, 0
    for start in range(0, n, batch_size or n):
        size = min(batch_size or n, n - start)  # this global batch; the last one may be shorter
        idx = _batch_rows(order, start, size, within_batch, world, data.x_train.device)
        xb, yb = data.x_train[idx], data.y_train[idx]
        logits = model(xb)  # (n_rank, 10)
        loss = F.cross_entropy(logits, yb) if len(yb) else logits.sum()  # an empty slice: 0, zero gradients
        optimizer.zero_grad(set_to_none=True)
        (loss * (len(yb) * world.size / size)).backward()
        optimizer.step()
        total_loss += loss.item() * len(yb)
        correct += (logits.argmax(1) == yb).sum().item()
    total_loss, correct = world.sum([total_loss, correct], data.x_train.device)
    return total_loss / n, correct / n


def data_parallel(model: nn.Module, device: torch.device) -> nn.Module:
    """In a process group, DistributedDataParallel (its all-reduce averages the ranks' gradients); else the model."""
    if not initialised():
        return model
    return DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)


def _batch_rows(order, start: int, size: int, within_batch, world: World, device):
    """This rank's rows of the global batch of ``size`` examples at ``start`` of the epoch's ``order``."""
    lo, hi = world.share(size)
    if within_batch is None:
        return order[start + lo : start + hi] if order is not None else slice(start + lo, start + hi)
    rows = order[start : start + size] if order is not None else torch.arange(start, start + size, device=device)
    rows = rows[torch.randperm(size, generator=within_batch).to(device)]  # (size,)
    return rows[lo:hi]


def train(
    config: TrainConfig,
    data,
    run_dir: Path | None = None,
    *,
    resume: bool = False,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train ``config.model`` on ``data``; with ``run_dir``, write config, checkpoints and metrics there.

    In a process group every rank calls this with the same arguments (the same data on every rank); each
    trains on its share of every batch and only rank 0 writes to ``run_dir``.

    Args:
        config: the run's configuration.
        data: anything with ``x_train, y_train, x_test, y_test`` (a :class:`Splits` or a
            :class:`scratchnn.data.Split`), moved to the run's device here.
        run_dir: an existing, writable directory for this run, or ``None`` to keep nothing on disk.
        resume: continue from ``run_dir/checkpoint.pt``; its config and world size must equal this run's.
        on_epoch: called with each epoch's metrics (the command line's progress bar).
    """
    device, world = process_device(config.device), World.current()
    check_group(config.backend)
    check_examples(len(data.x_train), world.size)
    writes = run_dir is not None and world.rank == 0
    with deterministic_mode(config.deterministic):
        run, done = _start(config, run_dir, resume, writes, world, device)
        data = to_device(data, device)
        for epoch in range(done + 1, config.epochs + 1):
            row = run_epoch(run, data, config.batch_size, world, epoch)
            if on_epoch is not None:
                on_epoch(row)
            if writes and _checkpoint_due(config, epoch):
                _checkpoint(run_dir, config, run, world, device)
    result = TrainResult(run.model, run.history, run.wall_time)
    env = environment(device)  # in a process group, gathers every rank's device: every rank calls it
    if writes:
        metrics = {"final": result.final, "history": run.history, "wall_time": run.wall_time, "environment": env}
        write_json(run_dir / METRICS, metrics)
    return result


def to_device(data, device: torch.device) -> Splits:
    """``data``'s four tensors (``x_train, y_train, x_test, y_test``) on ``device``."""
    return Splits(*(t.to(device) for t in (data.x_train, data.y_train, data.x_test, data.y_test)))


def run_epoch(run: Run, data: Splits, batch_size: int | None, world: World, epoch: int) -> dict[str, float]:
    """Train ``run`` for one epoch, then test it; its metrics are appended to ``run.history`` and returned, the time
    it took added to ``run.wall_time``."""
    start = time.perf_counter()
    train_args = (run.net, run.optimizer, data, batch_size, run.order, world, run.within_batch)
    train_loss, train_accuracy = _train_epoch(*train_args)
    test_loss, test_accuracy = _test_metrics(run.model, data, world)
    run.wall_time += time.perf_counter() - start
    metrics = {
        "epoch": epoch,
        "train_loss": train_loss,
        "train_accuracy": train_accuracy,
        "test_loss": test_loss,
        "test_accuracy": test_accuracy,
    }
    run.history.append(metrics)
    return metrics


def _start(config: TrainConfig, run_dir: Path | None, resume: bool, writes: bool, world: World, device):
    """``(run, epochs done)``: the seeded run, restored from ``run_dir``'s checkpoint when resuming; else a new run
    (0 epochs), whose config is written to ``run_dir`` when this process ``writes``."""
    torch.manual_seed(config.seed)
    model = build_model(config.model, config.impl, config.activation).to(device)
    optimizer = make_optimizer(config, model)
    generator = torch.Generator().manual_seed(config.seed)
    history, done, wall = [], 0, 0.0
    if resume:
        history, done, wall = _resume(run_dir, config, model, optimizer, generator, world, device)
    elif writes:
        write_json(run_dir / CONFIG, config.to_dict())
    net = data_parallel(model, device)
    return Run(model, net, optimizer, generator, history=history, wall_time=wall), done


def _checkpoint_due(config: TrainConfig, epoch: int) -> bool:
    """Every ``checkpoint_every`` epochs (never, for 0) and after the last."""
    every = config.checkpoint_every
    return bool(every and epoch % every == 0) or epoch == config.epochs


def _checkpoint(run_dir: Path, config: TrainConfig, run: Run, world: World, device) -> None:
    save_checkpoint(
        run_dir / CHECKPOINT,
        {
            "model": run.model.state_dict(),
            "optimizer": run.optimizer.state_dict(),
            "epoch": run.history[-1]["epoch"],
            "config": config.to_dict(),
            "rng": rng_state(run.order, device if initialised() else None),
            "history": run.history,
            "wall_time": run.wall_time,
            "world_size": world.size,
        },
    )


def _resume(run_dir: Path | None, config: TrainConfig, model, optimizer, generator, world: World, device):
    if run_dir is None:
        raise ValueError("resume needs the run directory")
    state = load_checkpoint(run_dir / CHECKPOINT)
    saved = TrainConfig.from_dict(state["config"])
    if saved != config:
        raise ValueError(f"cannot resume {run_dir} with a different config: {'; '.join(saved.differences(config))}")
    check_world_size(state, run_dir, world.size)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    restore_rng_state(state["rng"], generator, device if initialised() else None)
    return list(state["history"]), int(state["epoch"]), float(state.get("wall_time", 0.0))
