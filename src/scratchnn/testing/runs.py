"""One comparison run of the harness: both layers on one input, in one mode, under one backward engine.

A run starts by copying the reference's buffers into the candidate (so that a buffer that drifted in an earlier
run does not fail every later one), runs each layer's forward from the same generator state, compares the
outputs, then the buffers (running statistics, counters: a forward in training mode updates them, one in eval
mode must leave them as the reference does), then the gradients for the same seeded output gradient.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .inputs import seeded
from .report import CheckRow, errors, reason

Compare = Callable[[Tensor, Tensor], None]
Leaves = dict[str, Tensor]  # name -> a tensor the gradients are taken with respect to


@dataclass(frozen=True)
class Plan:
    """What every run of one ``check_layer`` call shares, with the engine and mode of the current run."""

    label: str
    compare: Compare
    seed: int
    device: torch.device
    extras: Callable[[Tensor], tuple[Tensor, ...]]  # the inputs after the first (a loss's target), from it
    engine: str = "-"
    mode: str | None = None  # 'train', 'eval', or None: the modules' own mode, not named in the rows

    def name(self, check: str, variant: str = "") -> str:
        """``forward [train, batched]``; ``gradcheck (float64) [eval]``; ``forward [batched]`` without a mode."""
        tags = ", ".join(t for t in (self.mode, variant) if t)
        return f"{check} [{tags}]" if tags else check

    def row(self, check: str, passed: bool, detail: str = "", errs=(math.nan, math.nan)) -> CheckRow:
        return CheckRow(self.label, self.engine, check, passed, *errs, detail)


def compare_run(candidate: nn.Module, reference: nn.Module, x: Tensor, variant: str, plan: Plan) -> list[CheckRow]:
    """Rows for one input: the forward, the buffers, then the gradients (one row each on the batched input).

    An exception in the candidate's forward fails the forward row; one in its backward fails a gradient row
    (``backward [batched]`` or ``gradients [...]``) after a forward row that may well pass.
    """
    forward = plan.name("forward", variant)
    sync_buffers(candidate, reference)
    try:
        leaves_r, expected = _forward(reference, x, plan)
    except Exception as e:  # the reference does not take this kind of input: nothing to compare
        if variant != "batched":
            return []
        detail = f"the reference rejects input_shape {list(x.shape)}: {reason(e)}"
        if isinstance(e, TypeError) and "required positional argument" in str(e):
            detail += " (a loss needs a target: target='indices' or 'probabilities')"
        return [plan.row(forward, False, detail)]
    try:
        leaves_c, actual = _forward(candidate, x, plan)
    except Exception as e:
        return [plan.row(forward, False, reason(e))]
    if len(actual) != len(expected):
        return [plan.row(forward, False, f"{len(actual)} outputs, expected {len(expected)}")]
    rows = [_row(plan, actual, expected, forward)]
    buffers = buffer_row(candidate, reference, plan, plan.name("buffers", variant))
    rows += [buffers] if buffers else []
    return rows + _gradient_rows(candidate, reference, (leaves_c, actual), (leaves_r, expected), variant, plan)


def _gradient_rows(candidate, reference, ours, theirs, variant: str, plan: Plan) -> list[CheckRow]:
    """One row per gradient on the batched input, one row for all of them on the other inputs."""
    g = torch.Generator().manual_seed(plan.seed + 1)
    grads = [torch.randn(o.shape, generator=g, dtype=torch.float64).to(o) for o in theirs[1] if o.is_floating_point()]
    backward = plan.name("backward" if variant == "batched" else "gradients", variant)
    grads_r = _backward(reference, *theirs, grads)
    if not grads_r:
        return []
    try:
        grads_c = _backward(candidate, *ours, grads)
    except Exception as e:
        return [plan.row(backward, False, reason(e))]
    if variant == "batched":
        return [_row(plan, (grads_c.get(n),), (grads_r[n],), plan.name(f"grad {n}", variant)) for n in grads_r]
    names = list(grads_r)
    return [_row(plan, [grads_c.get(n) for n in names], [grads_r[n] for n in names], backward, names)]


def sync_buffers(candidate: nn.Module, reference: nn.Module) -> None:
    """Copy each of the reference's buffers into the candidate's of the same name and shape."""
    ours = dict(candidate.named_buffers())
    with torch.no_grad():
        for name, theirs in reference.named_buffers():
            if name in ours and ours[name].shape == theirs.shape:
                ours[name].copy_(theirs)


def buffer_row(candidate: nn.Module, reference: nn.Module, plan: Plan, check: str) -> CheckRow | None:
    """The candidate's buffers against the reference's, by name; None when the reference has none."""
    theirs = dict(reference.named_buffers())
    if not theirs:
        return None
    ours = dict(candidate.named_buffers())
    names = list(theirs)
    return _row(plan, [ours.get(n) for n in names], [theirs[n] for n in names], check, names)


def _forward(module: nn.Module, x: Tensor, plan: Plan) -> tuple[Leaves, tuple[Tensor, ...]]:
    """The input (and a float target) as fresh leaves, and the module's outputs as a tuple.

    The module runs from torch's generator seeded with ``plan.seed``, the same state for both layers, on a copy
    of the input leaf (an in-place layer, ``Dropout(inplace=True)``, cannot write into a leaf).
    """
    x = x.detach().clone(memory_format=torch.preserve_format).requires_grad_(x.is_floating_point())
    extras = tuple(t.detach().clone().requires_grad_(t.is_floating_point()) for t in plan.extras(x))
    with seeded(plan.seed, plan.device):
        out = module(x.clone(memory_format=torch.preserve_format), *extras)  # a copy: an in-place layer may write
    names = ["target"] if len(extras) == 1 else [f"input {i + 1}" for i in range(len(extras))]
    leaves = {"input": x, **{n: t for n, t in zip(names, extras, strict=True) if t.is_floating_point()}}
    return leaves, as_tuple(out)


def as_tuple(out) -> tuple[Tensor, ...]:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _backward(module: nn.Module, leaves: Leaves, outs: Sequence[Tensor], grads: Sequence[Tensor]) -> dict[str, Tensor]:
    """The gradients of the float outputs w.r.t. the inputs and every parameter, by name (zeros where unused)."""
    named = [*leaves.items(), *((n, p) for n, p in module.named_parameters() if p.requires_grad)]
    floats = [o for o in outs if o.is_floating_point() and o.requires_grad]
    got = torch.autograd.grad(floats, [t for _, t in named], grads, allow_unused=True) if floats else ()
    return {n: (g if g is not None else torch.zeros_like(t)) for (n, t), g in zip(named, got, strict=False)}


def _row(plan: Plan, actual, expected, check: str, names: Sequence[str] | None = None) -> CheckRow:
    """Compare tensors pairwise; the row fails on the first mismatch and names it."""
    worst, detail = (0.0, 0.0), ""
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        what = names[i] if names else f"output {i}" if len(expected) > 1 else ""
        if a is None:
            return plan.row(check, False, f"{what or 'tensor'} missing")
        err = errors(a, e)
        worst = (max(worst[0], err[0]), max(worst[1], err[1]))
        try:
            plan.compare(a, e)
        except AssertionError as exc:
            detail = detail or f"{what + ': ' if what else ''}{reason(exc)}"
    return plan.row(check, not detail, detail, worst)
