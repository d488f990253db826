"""``check_layer``: prove that a layer behaves exactly like its torch.nn reference.

The harness checks that both layers have the same ``state_dict`` keys and shapes (parameters and buffers), copies
the reference's state into the candidate (after optionally checking that both were initialised identically), runs
both on seeded inputs of several kinds, and compares with ``torch.testing.assert_close`` (its default tolerances
for the dtype unless given):

- the output, on a batched input, a batch of one, an unbatched input, a non-contiguous input, a channels_last
  input (4-D) and an empty batch;
- the buffers after each forward (running statistics, counters);
- the gradients with respect to the input (and a float target) and to every parameter, for the same seeded
  ``grad_output``;
- ``torch.autograd.gradcheck`` (and optionally ``gradgradcheck``) of the candidate alone, in float64.

Each forward runs from the same generator state in both layers, so a random layer (dropout) is compared mask for
mask. A layer whose reference behaves differently in training and in eval mode (batch norm, dropout) is run in
both, and every row names its mode. A loss gets its second input from ``target``. For scratchnn's own layers each
check runs under both backward engines (hand-written and autograd).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Sequence
from dataclasses import replace

import torch
from torch import Tensor, nn

from .gradcheck import gradcheck_row
from .inputs import extra_inputs, seeded, variants
from .options import MODES, CheckOptions
from .report import CheckRow, Report, errors
from .runs import Compare, Plan, as_tuple, compare_run
from .stack_core import engine_context


def check_layer(candidate: nn.Module, reference: nn.Module, input_shape: Sequence[int], **options) -> Report:
    """Compare ``candidate`` with ``reference`` and return a :class:`Report` (one row per check).

    Args:
        candidate: the layer under test. Its parameters and buffers are overwritten with the reference's.
        reference: the trusted layer, usually from torch.nn.
        input_shape: a batched input shape ``(N, ...)``; the other inputs are derived from it.
        **options: the fields of :class:`~scratchnn.testing.CheckOptions`: ``target='indices'`` for a
            loss, ``modes``, ``seed``, ``dtype``, ``check_init=True``, ``gradgradcheck=True``, ``stack=True``, ...
    """
    opts = CheckOptions(**options)
    features = _stack_features(opts.stack)
    device = torch.device(opts.device or "cpu")
    candidate, reference = _place(candidate, reference, device, opts.dtype)
    extras = extra_inputs(opts.target, reference, opts.seed)
    plan = Plan(opts.name or type(candidate).__name__, _comparer(opts.rtol, opts.atol), opts.seed, device, extras)
    report = Report()
    if not _sync_state(candidate, reference, opts.check_init, plan.label, report):
        return report
    engines = tuple(opts.engines or _default_engines(candidate))
    shape = tuple(input_shape)
    modes = tuple(opts.modes) if opts.modes is not None else _auto_modes(reference, shape, opts.dtype, plan)
    with _modes_restored(candidate, reference):
        for engine, mode in itertools.product(engines, modes):
            report.rows += _rows_in_mode(candidate, reference, shape, replace(plan, engine=engine, mode=mode), opts)
        if features:
            from .stack import stack_rows

            report.rows += stack_rows(
                candidate, reference, shape, features=features, plan=plan, engines=engines, modes=modes,
                dtype=opts.dtype, compile_backend=opts.compile_backend, builders=opts.builders,
            )  # fmt: skip
    return report


def _rows_in_mode(candidate, reference, shape, plan: Plan, opts: CheckOptions) -> list[CheckRow]:
    """Every input variant, then the gradchecks, under ``plan``'s engine and mode."""
    rows: list[CheckRow] = []
    with engine_context(plan.engine):
        for module in (candidate, reference):
            if plan.mode is not None:
                module.train(plan.mode == "train")
        for variant, x in variants(shape, opts.dtype, plan.device, plan.seed, opts.unbatched):
            rows += compare_run(candidate, reference, x, variant, plan)
        for second_order, wanted in ((False, opts.gradcheck), (True, opts.gradgradcheck)):
            if wanted:
                rows.append(gradcheck_row(candidate, shape, plan, gradgradcheck=second_order))
    return rows


def _place(candidate: nn.Module, reference: nn.Module, device: torch.device, dtype: torch.dtype):
    """Both layers on ``device``, and in ``dtype`` when the candidate has floating-point parameters or buffers."""
    candidate, reference = candidate.to(device=device), reference.to(device=device)
    floating = (*candidate.parameters(), *candidate.buffers())
    if any(t.is_floating_point() for t in floating):
        candidate, reference = candidate.to(dtype), reference.to(dtype)
    return candidate, reference


def _auto_modes(reference: nn.Module, shape, dtype, plan: Plan) -> tuple[str | None, ...]:
    """``('train', 'eval')`` when the reference's output or buffers depend on the mode, else ``(None,)``."""
    try:
        probe = copy.deepcopy(reference)
        x = next(variants(shape, dtype, plan.device, plan.seed, unbatched=False))[1]
        seen = []
        with torch.no_grad():
            for training in (True, False):
                probe.train(training)
                before = [b.clone() for b in probe.buffers()]
                with seeded(plan.seed, plan.device):
                    seen.append(as_tuple(probe(x.clone(), *plan.extras(x))))  # a copy: in-place layers
                if training and not _same(before, list(probe.buffers())):
                    return MODES
    except Exception:  # the rows will say why the reference does not run
        return (None,)
    return (None,) if _same(*seen) else MODES


def _same(first: Sequence[Tensor], second: Sequence[Tensor]) -> bool:
    try:
        torch.testing.assert_close(list(first), list(second), rtol=0, atol=0, equal_nan=True)
    except (AssertionError, TypeError, ValueError):
        return False
    return True


class _modes_restored:
    """Put every submodule of both layers back in its training or eval mode on leaving the block."""

    def __init__(self, *modules: nn.Module):
        self.flags = [(m, m.training) for module in modules for m in module.modules()]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for module, training in self.flags:
            module.training = training


def _comparer(rtol: float | None, atol: float | None) -> Compare:
    """``assert_close`` with the given tolerances, or by default its defaults for the dtype with ``atol`` scaled
    by the expected tensor's magnitude: both sides add the same terms in different orders, and a sum of K terms
    of size S is only exact to about ``eps * S``."""

    def compare(actual: Tensor, expected: Tensor) -> None:
        if rtol is None and actual.is_floating_point() and actual.numel():
            tol_rtol, tol_atol = _default_tolerances(expected.dtype)
            scale = max(1.0, expected.detach().abs().max().item())
            torch.testing.assert_close(actual, expected, rtol=tol_rtol, atol=tol_atol * scale, equal_nan=True)
        else:
            torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol, equal_nan=True)

    return compare


def _stack_features(stack: bool | Sequence[str]) -> tuple[str, ...]:
    """The stack rows asked for (the stack modules import the exporters and torch.distributed: only then)."""
    if stack is False or (not isinstance(stack, str) and not stack):
        return ()
    from .stack import select

    return select(stack)


def _default_tolerances(dtype: torch.dtype) -> tuple[float, float]:
    """``torch.testing.assert_close``'s default (rtol, atol) for a floating dtype."""
    return {
        torch.float16: (1e-3, 1e-5),
        torch.bfloat16: (1.6e-2, 1e-5),
        torch.float32: (1.3e-6, 1e-5),
        torch.float64: (1e-7, 1e-7),
    }.get(dtype, (1.3e-6, 1e-5))


def _default_engines(candidate: nn.Module) -> tuple[str, ...]:
    ours = any(type(m).__module__.startswith("scratchnn.") for m in candidate.modules())
    return ("manual", "autograd") if ours else ("-",)


def _sync_state(candidate: nn.Module, reference: nn.Module, check_init: bool, label: str, report: Report) -> bool:
    """Check the state_dict keys and shapes (and initial values), then load the reference's into the candidate."""
    ours, theirs = candidate.state_dict(), reference.state_dict()
    if ours.keys() != theirs.keys():
        missing, unexpected = [k for k in theirs if k not in ours], [k for k in ours if k not in theirs]
        parts = [f"{what} key(s) in the candidate: {', '.join(map(repr, keys))}." for what, keys in
                 (("Missing", missing), ("Unexpected", unexpected)) if keys]  # fmt: skip
        report.rows.append(CheckRow(label, "-", "state_dict keys", False, detail=" ".join(parts)))
        return False
    bad_shapes = [
        f"{k} {list(ours[k].shape)} vs {list(theirs[k].shape)}" for k in ours if ours[k].shape != theirs[k].shape
    ]
    detail = "parameter shapes differ: " + ", ".join(bad_shapes) if bad_shapes else ""
    report.rows.append(CheckRow(label, "-", "state_dict keys and shapes", not bad_shapes, detail=detail))
    if bad_shapes:
        return False
    if check_init:
        worst = max((errors(ours[k], theirs[k]) for k in ours), default=(0.0, 0.0))
        same = all(torch.equal(ours[k], theirs[k]) for k in ours)
        detail = "" if same else "same seed drew different parameters"
        report.rows.append(CheckRow(label, "-", "identical initialisation", same, *worst, detail=detail))
    candidate.load_state_dict(theirs)
    return True
