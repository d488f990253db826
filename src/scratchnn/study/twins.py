"""Train a scratch model, its torch.nn twin and a rounding control in lockstep, measuring their gaps every epoch.

The three runs share everything that can be shared: the seed (so the same initial weights), the schedule and the
order in which the training examples are drawn. They differ in one thing each:

- ``scratch`` is built from scratchnn's layers, ``torch`` from torch.nn's;
- ``control`` is built from torch.nn's layers like ``torch``, but the samples inside every batch are permuted
  among themselves (a separate generator draws the permutation; the batches and their order are unchanged).
  The loss is a mean over the batch, so the control computes the same mathematical function as ``torch``; only
  the order of the sums over the batch differs (the loss's mean and every weight gradient's sum over samples).
  Its drift from ``torch`` is therefore pure float rounding, amplified by training: the yardstick for the scratch
  twin's drift. A different seed would change the weights, and a different thread count often changes nothing
  at all; a permutation inside the batch changes the rounding and nothing else.

The runs advance one epoch at a time, side by side, so the largest weight difference after every epoch is measured
on the live models (parameters and buffers, such as batch norm's running statistics) without keeping a copy of
any of them. Before the first step, one forward and backward pass of
each model on the same first batch measures the first step's difference (loss and gradients from identical
weights), the earliest place where a wrong layer shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..models import build_model
from ..training import TrainConfig, process_device
from ..training.distributed import World
from ..training.loop import Run, Splits, data_parallel, deterministic_mode, make_optimizer, run_epoch, to_device

ROLES = ("scratch", "torch", "control")
GAP_METRICS = ("test_loss", "train_loss", "test_accuracy", "max_abs_dw")
CONTROL_SEED_OFFSET = 1  # the control's in-batch permutations are drawn from a generator seeded with seed + 1

Builder = Callable[[str, str, str], nn.Module]  # build(model, impl, activation), e.g. scratchnn.models.build_model


@dataclass
class TwinRuns:
    """The result of :func:`train_twins`.

    ``gaps[role][metric]`` is the per-epoch absolute difference between ``role`` (scratch, control) and the torch
    run; ``first_step[role]`` holds the relative ``loss`` and ``grad`` differences before any step.
    """

    members: dict[str, Run]
    gaps: dict[str, dict[str, list[float]]]
    first_step: dict[str, dict[str, float]]


def _member(config: TrainConfig, role: str, build: Builder, device: torch.device) -> Run:
    torch.manual_seed(config.seed)
    impl = "scratch" if role == "scratch" else "torch"
    model = build(config.model, impl, config.activation).to(device)
    within = torch.Generator().manual_seed(config.seed + CONTROL_SEED_OFFSET) if role == "control" else None
    order = torch.Generator().manual_seed(config.seed)
    return Run(model, data_parallel(model, device), make_optimizer(config, model), order, within)


def loss_and_grads(model: nn.Module, x: Tensor, y: Tensor) -> tuple[float, list[Tensor]]:
    """The cross-entropy of ``model`` on ``(x, y)`` in train mode and its gradient for every parameter.

    The model is left as it was: ``.grad`` empty, and its buffers (batch norm's running statistics, which a
    forward in train mode updates) restored, so that training starts from the state the twins were built in.
    """
    buffers = [b.clone() for b in model.buffers()]
    model.train()
    model.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    grads = [p.grad.detach().clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        for buffer, saved in zip(model.buffers(), buffers, strict=True):
            buffer.copy_(saved)
    return loss.item(), grads


def first_step_gap(ours: tuple[float, list[Tensor]], reference: tuple[float, list[Tensor]]) -> dict[str, float]:
    """How far one model's loss and gradients (from :func:`loss_and_grads`) are from the reference's.

    ``loss``: ``|l - l_ref| / |l_ref|``; ``grad``: the largest, over parameter tensors, of
    ``max|g - g_ref| / max|g_ref|`` (each tensor's error measured against its own largest component).
    """
    (loss, grads), (ref_loss, ref_grads) = ours, reference
    worst = 0.0
    for g, ref in zip(grads, ref_grads, strict=True):
        error, scale = (g - ref).abs().max().item(), ref.abs().max().item()
        worst = max(worst, error / scale if scale > 0 else error)
    return {"loss": abs(loss - ref_loss) / abs(ref_loss), "grad": worst}


def _first_steps(members: dict[str, Run], data: Splits, batch_size: int | None, seed: int) -> dict:
    """The first step's gaps on the first ``batch_size`` training images (the control sees them permuted)."""
    x, y = data.x_train[: batch_size or len(data.x_train)], data.y_train[: batch_size or len(data.y_train)]
    reference = loss_and_grads(members["torch"].model, x, y)
    gaps = {"scratch": first_step_gap(loss_and_grads(members["scratch"].model, x, y), reference)}
    if "control" in members:
        perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed + CONTROL_SEED_OFFSET))
        perm = perm.to(y.device)
        gaps["control"] = first_step_gap(loss_and_grads(members["control"].model, x[perm], y[perm]), reference)
    return gaps


@torch.no_grad()
def max_abs_dw(model: nn.Module, reference: nn.Module) -> float:
    """The largest absolute difference between corresponding entries of the two models' state_dicts."""
    pairs = zip(model.state_dict().values(), reference.state_dict().values(), strict=True)
    return max((a.float() - b.float()).abs().max().item() for a, b in pairs)


def _record_gaps(gaps: dict[str, list[float]], member: Run, reference: Run) -> None:
    ours, theirs = member.history[-1], reference.history[-1]
    for metric in GAP_METRICS[:3]:
        gaps[metric].append(abs(ours[metric] - theirs[metric]))
    gaps["max_abs_dw"].append(max_abs_dw(member.model, reference.model))


def train_twins(
    config: TrainConfig,
    data,
    *,
    control: bool = True,
    build: Builder = build_model,
    on_epoch: Callable[[str, dict[str, float]], None] | None = None,
) -> TwinRuns:
    """Train ``config.model`` as scratch, torch (and control) in lockstep; ``config.impl`` is not used.

    Args:
        config: the schedule, seed and device shared by every run.
        data: anything with ``x_train, y_train, x_test, y_test``.
        control: also train the rounding control.
        build: ``build(model, impl, activation)`` returns the model; tests pass one with a broken layer.
        on_epoch: called as ``on_epoch(role, metrics)`` after each run's epoch.
    """
    device, world = process_device(config.device), World.current()
    roles = ROLES if control else ROLES[:2]
    with deterministic_mode(config.deterministic):
        members = {role: _member(config, role, build, device) for role in roles}
        data = to_device(data, device)
        first_step = _first_steps(members, data, config.batch_size, config.seed)
        gaps = {role: {metric: [] for metric in GAP_METRICS} for role in roles if role != "torch"}
        for epoch in range(1, config.epochs + 1):
            for role, member in members.items():
                row = run_epoch(member, data, config.batch_size, world, epoch)
                if on_epoch is not None:
                    on_epoch(role, row)
            for role, role_gaps in gaps.items():
                _record_gaps(role_gaps, members[role], members["torch"])
    return TwinRuns(members, gaps, first_step)
