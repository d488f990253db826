"""What one timed sample runs, per phase: a :class:`Task` is an untimed ``setup()`` and the timed ``run(state)``.

Layer phases (with gradient tracking on, as in training; parameter and input gradients cleared in ``setup``, as
``zero_grad(set_to_none=True)`` does each step):

- ``forward``: ``layer(x)``;
- ``backward``: ``setup`` runs a fresh forward, ``run`` only ``out.backward(g)`` (``g`` a fixed random gradient);
- ``fwd+bwd``: ``layer(x).backward(g)``.

Step phases (``setup`` runs ``optimizer.zero_grad(set_to_none=True)``): ``step`` is forward, cross-entropy,
backward and ``Adam.step()`` of the eager model; ``step+compile`` the same with the model wrapped in
``torch.compile`` (default mode; the loss and the optimizer stay eager). Compilation happens during the warm-up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .cases import SEED, Case, Contender, LayerCase, StepCase

LAYER_PHASES = ("forward", "backward", "fwd+bwd")
STEP_PHASES = ("step", "step+compile")


class Task(NamedTuple):
    """``run(setup())`` is one sample; only ``run`` is timed and measured for memory."""

    setup: Callable[[], Any]
    run: Callable[[Any], Any]


def phases(case: Case, compile: bool) -> tuple[str, ...]:
    """The phases measured for ``case``: the three layer phases, or ``step`` (and ``step+compile``)."""
    if isinstance(case, LayerCase):
        return LAYER_PHASES
    return STEP_PHASES if compile else STEP_PHASES[:1]


def build_tasks(case: Case, phase: str, device: torch.device) -> dict[str, Task]:
    """One :class:`Task` per contender of ``case`` for ``phase``, each with its own module and input."""
    make = _layer_task if isinstance(case, LayerCase) else _step_task
    if phase == "step+compile":
        torch.compiler.reset()  # a fresh cache per case, so no case runs into the recompilation limit
    return {c.name: make(case, c, phase, device) for c in case.contenders()}


def _inputs(shape: tuple[int, ...], device: torch.device) -> Tensor:
    generator = torch.Generator().manual_seed(SEED)
    return torch.randn(shape, generator=generator).to(device)


def _layer_task(case: LayerCase, contender: Contender, phase: str, device: torch.device) -> Task:
    module = case.build(contender, device)
    x = _inputs(case.input_shape, device).requires_grad_(case.input_grad)
    with torch.no_grad():
        grad_out = torch.randn_like(module(x))

    def clear() -> None:
        module.zero_grad(set_to_none=True)
        x.grad = None

    if phase == "forward":
        return Task(clear, lambda _: module(x))
    if phase == "backward":
        return Task(lambda: (clear(), module(x))[1], lambda out: out.backward(grad_out))
    if phase == "fwd+bwd":
        return Task(clear, lambda _: module(x).backward(grad_out))
    raise ValueError(f"phase must be one of {LAYER_PHASES} for a layer case, but got phase={phase!r}")


def _step_task(case: StepCase, contender: Contender, phase: str, device: torch.device) -> Task:
    if phase not in STEP_PHASES:
        raise ValueError(f"phase must be one of {STEP_PHASES} for a step case, but got phase={phase!r}")
    model = case.build(contender, device)
    forward = torch.compile(model) if phase == "step+compile" else model
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = _inputs((case.batch, 1, 28, 28), device)
    y = torch.randint(0, 10, (case.batch,), generator=torch.Generator().manual_seed(SEED)).to(device)
    return Task(lambda: optimizer.zero_grad(set_to_none=True), lambda _: _train_step(forward, optimizer, x, y))


def _train_step(forward: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor) -> None:
    """One optimisation step, as the training loop takes it (after ``zero_grad``)."""
    F.cross_entropy(forward(x), y).backward()
    optimizer.step()
