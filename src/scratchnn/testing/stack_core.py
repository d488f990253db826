"""What the stack rows share: a feature's probe, its outcome on one side, and the row's verdict.

Each feature of the PyTorch stack is run on the candidate and on the reference; each run yields observations (the
output, the gradients, their dtype or memory format) and the row compares the candidate's with the reference's:

- both run: ``pass`` if the observations match, else ``FAIL`` naming the first that differs;
- the reference runs and the candidate raises: ``FAIL`` with the candidate's error in one line;
- neither runs: ``n/a`` (not a failure), with the reference's reason;
- a tool the feature needs is not installed (onnx, onnxruntime): ``skip`` with that reason.

The rows are assembled in :mod:`.stack`; the features live in :mod:`.stack_trace` (compile, export, ONNX),
:mod:`.stack_eager` (torch.func, autocast, channels_last, pickle, meta device) and :mod:`.stack_ddp`
(DistributedDataParallel in two processes).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .report import CheckRow, errors, reason

Observations = dict[str, object]  # name -> a tensor (compared with tolerance) or any value (compared with ==)
Compare = Callable[[Tensor, Tensor], None]


class Skip(Exception):
    """The feature cannot be checked here (a tool is missing): the row is skipped, on both sides."""


@dataclass
class Probe:
    """What a feature needs: the module, a seeded input (and the inputs after it, such as a loss's target, made
    from an input), how to build a fresh module, and the seed of torch's generator for a random layer."""

    module: nn.Module
    x: Tensor  # (N, ...) with N = 2
    build: Callable[[], nn.Module] | None
    device: torch.device
    compile_backend: str
    extras: Callable[[Tensor], tuple[Tensor, ...]] = lambda x: ()
    seed: int = 0

    def args(self, x: Tensor) -> tuple[Tensor, ...]:
        """The inputs after ``x`` for input ``x`` (a loss's target)."""
        return tuple(self.extras(x))


@dataclass(frozen=True)
class Outcome:
    """One side of a row: its observations, or the error that stopped it."""

    seen: Observations | None = None
    error: BaseException | None = None


def attempt(feature: Callable[[Probe], Observations], probe: Probe) -> Outcome:
    """Run ``feature`` quietly (torch's warnings and log lines are not the library's to print), from torch's
    generator seeded with ``probe.seed`` (the same state on both sides)."""
    from .inputs import seeded

    try:
        with quiet(), seeded(probe.seed, probe.device):
            return Outcome(seen=feature(probe))
    except Skip:
        raise
    except Exception as e:
        return Outcome(error=e)


def verdict(
    label: str, engine: str, check: str, ours: Outcome, theirs: Outcome, compare: Compare, why=reason
) -> CheckRow:
    """The row for one feature from both sides' outcomes (see the module's docstring)."""
    if theirs.error is not None:
        if ours.error is not None:
            detail = f"neither supports it; the reference: {why(theirs.error)}"
            return CheckRow(label, engine, check, True, math.nan, math.nan, detail, status="n/a")
        detail = f"the reference does not support it: {why(theirs.error)}"
        return CheckRow(label, engine, check, True, math.nan, math.nan, detail)
    if ours.error is not None:
        return CheckRow(label, engine, check, False, math.nan, math.nan, why(ours.error))
    return match(label, engine, check, ours.seen or {}, theirs.seen or {}, compare)


def match(label: str, engine: str, check: str, ours: Observations, theirs: Observations, compare: Compare) -> CheckRow:
    """Compare observations name by name; the row fails on the first difference and names it."""
    worst = (0.0, 0.0)
    for name, expected in theirs.items():
        actual = ours.get(name)
        if isinstance(expected, Tensor) and isinstance(actual, Tensor):
            err = errors(actual, expected)
            worst = (max(worst[0], err[0]), max(worst[1], err[1]))
            try:
                compare(actual, expected)
            except AssertionError as exc:
                return CheckRow(label, engine, check, False, *worst, f"{name}: {reason(exc)}")
        elif actual != expected:
            detail = f"{name}: {_show(actual)}, the reference's {_show(expected)}"
            return CheckRow(label, engine, check, False, math.nan, math.nan, detail)
    return CheckRow(label, engine, check, True, *worst)


def _show(value: object) -> str:
    return "missing" if value is None else str(value)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence Python warnings, torch's log lines below CRITICAL and what torch prints to ``sys.stderr`` (the
    exporter prints its partial graph there when it fails) for the duration."""
    logger = logging.getLogger("torch")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def engine_context(engine: str) -> contextlib.AbstractContextManager:
    """scratchnn's backward engine ``engine`` for a block (``'-'``: leave it as it is)."""
    if engine == "-":
        return contextlib.nullcontext()
    from ..functional import use_backward

    return use_backward(engine)


def outputs(out) -> tuple[Tensor, ...]:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def seeded_like(outs: Sequence[Tensor], seed: int) -> list[Tensor]:
    """A seeded gradient for every floating output."""
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(o.shape, generator=g, dtype=torch.float64).to(o) for o in outs if o.is_floating_point()]


def forward_backward(
    fn: Callable[..., object], x: Tensor, params: dict[str, Tensor], seed: int, args=(), holder: nn.Module | None = None
) -> Observations:
    """Outputs of ``fn(x, *args)``, the buffers of ``holder`` after it, and the gradients of the outputs' seeded
    projection w.r.t. the input and ``params``."""
    x = x.detach().clone().requires_grad_()
    outs = outputs(fn(x.clone(), *args))  # a copy: an in-place layer cannot write into the leaf
    seen: Observations = {_out_name(i, len(outs)): o.detach() for i, o in enumerate(outs)}
    if holder is not None:
        seen.update({f"buffer {n}": b.detach().clone() for n, b in holder.named_buffers()})
    floats = [o for o in outs if o.is_floating_point() and o.requires_grad]
    if floats:
        names, leaves = ["input", *params], [x, *params.values()]
        grads = torch.autograd.grad(floats, leaves, seeded_like(floats, seed), allow_unused=True)
        seen.update({f"grad {n}": g for n, g in zip(names, grads, strict=True) if g is not None})
    return seen


def _out_name(i: int, n: int) -> str:
    return "output" if n == 1 else f"output {i}"
