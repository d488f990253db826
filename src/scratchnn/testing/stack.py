"""``check_layer(..., stack=True)``: one row per feature of the PyTorch stack, run on both layers.

| row | the feature, run on the candidate and on the reference |
|---|---|
| ``torch.compile [BACKEND]`` | ``torch.compile(fullgraph=True)`` forward and backward; graph breaks counted |
| ``torch.export`` | ``torch.export.export``, then the exported module's forward and backward |
| ``ONNX + onnxruntime`` | ``torch.onnx.export(..., dynamo=True)``, then onnxruntime's outputs |
| ``torch.func.vmap`` | ``vmap(module)`` over a stack of two batches |
| ``per-sample grads`` | ``vmap(grad(...))`` over ``functional_call``, sample by sample |
| ``autocast`` | forward and backward under ``torch.autocast``: dtypes and values |
| ``channels_last`` | a channels_last module on a channels_last input: memory formats and values |
| ``pickle / save / deepcopy`` | the module's output after each round trip |
| ``meta device + to_empty`` | constructed on the meta device, materialised, loaded, run |
| ``DDP 2 ranks vs 1 process`` | DistributedDataParallel over 2 gloo processes against one process |

How a row is judged (pass, FAIL, n/a, skip) is described in :mod:`.stack_core`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import replace

import torch
from torch import Tensor, nn

from .report import CheckRow, reason
from .runs import Plan
from .stack_core import Compare, Outcome, Probe, Skip, attempt, engine_context, verdict
from .stack_ddp import ddp_outcomes, ddp_reason
from .stack_eager import autocast, autocast_dtype, channels_last, meta_device, per_sample_grads, pickled, vmapped
from .stack_trace import compiled, exported, onnx_exported, trace_reason

FEATURES = (
    ("torch.compile", compiled, trace_reason),
    ("torch.export", exported, trace_reason),
    ("ONNX + onnxruntime", onnx_exported, trace_reason),
    ("torch.func.vmap", vmapped, reason),
    ("per-sample grads", per_sample_grads, reason),
    ("autocast", autocast, reason),
    ("channels_last", channels_last, reason),
    ("pickle / save / deepcopy", pickled, reason),
    ("meta device + to_empty", meta_device, reason),
)
DDP_ROW = "DDP 2 ranks vs 1 process"
LOW_PRECISION = {torch.bfloat16: 1.6e-2, torch.float16: 1e-3}  # assert_close's rtol for the dtype


def select(stack: bool | Sequence[str]) -> tuple[str, ...]:
    """The feature rows to run: all for ``True``, else the named ones (a ValueError names the valid names)."""
    names = (*(name for name, _, _ in FEATURES), DDP_ROW)
    if stack is True:
        return names
    chosen = (stack,) if isinstance(stack, str) else tuple(stack)
    unknown = [name for name in chosen if name not in names]
    if unknown:
        raise ValueError(f"stack must be True or names from {list(names)}, but got {unknown}")
    return chosen


def stack_rows(
    candidate: nn.Module,
    reference: nn.Module,
    input_shape: Sequence[int],
    *,
    features: Sequence[str],
    plan: Plan,
    engines: Sequence[str],
    modes: Sequence[str | None] = (None,),
    dtype: torch.dtype = torch.float32,
    compile_backend: str = "aot_eager",
    builders: tuple[Callable[[], nn.Module], Callable[[], nn.Module]] | None = None,
) -> list[CheckRow]:
    """The stack rows for every engine and mode, in feature order.

    A layer whose behaviour depends on the mode has every feature run in each mode (``torch.export [eval]``); the
    DDP row, one 2-process run for all engines, runs in the first mode only (training, when both are asked for).
    """
    g = torch.Generator().manual_seed(4)
    x = torch.randn((2, *input_shape[1:]), generator=g, dtype=torch.float64).to(dtype=dtype, device=plan.device)
    build_c, build_r = builders or (None, None)
    common = {"device": plan.device, "compile_backend": compile_backend, "extras": plan.extras, "seed": plan.seed}
    sides = {"candidate": Probe(candidate, x, build_c, **common), "reference": Probe(reference, x, build_r, **common)}
    tolerant = _tolerant(plan.compare)
    # Under autocast every result, float32 gradients of float32 inputs included, went through the low dtype.
    autocast_tolerant = _tolerant(plan.compare, autocast_dtype(plan.device.type))
    rows = []
    for mode in modes:
        _set_mode((candidate, reference), mode)
        ddp = ddp_outcomes(sides, engines) if DDP_ROW in features and mode == modes[0] else {}
        for engine in engines:
            run = replace(plan, engine=engine, mode=mode, compare=tolerant)
            rows += _engine_rows(sides, features, run, compile_backend, autocast_tolerant)
            if ddp:
                pair = ddp[("candidate", engine)], ddp[("reference", engine)]
                rows.append(verdict(run.label, engine, run.name(DDP_ROW), *pair, tolerant, ddp_reason))
    return rows


def _engine_rows(sides: dict[str, Probe], features, run: Plan, compile_backend: str, autocast_compare) -> list:
    """The feature rows under ``run``'s engine and mode (the autocast row with the autocast tolerance)."""
    rows = []
    with engine_context(run.engine):
        for check, feature, why in FEATURES:
            if check in features:
                name = run.name(f"{check} [{compile_backend}]" if feature is compiled else check)
                fits = replace(run, compare=autocast_compare) if feature is autocast else run
                rows.append(_feature_row(sides, feature, why, fits, name))
    return rows


def _set_mode(modules: Sequence[nn.Module], mode: str | None) -> None:
    if mode is not None:
        for module in modules:
            module.train(mode == "train")


def _feature_row(sides: dict[str, Probe], feature, why, run: Plan, check: str) -> CheckRow:
    """Run the feature on fresh copies of both layers (a feature may change the module it is given)."""
    try:
        theirs = attempt(feature, _fresh(sides["reference"]))
        ours = attempt(feature, _fresh(sides["candidate"]))
    except Skip as e:
        return CheckRow(run.label, run.engine, check, True, float("nan"), float("nan"), str(e), status="skip")
    return verdict(run.label, run.engine, check, ours, theirs, run.compare, why)


def _fresh(probe: Probe) -> Probe:
    try:
        module = copy.deepcopy(probe.module)
    except Exception:  # a module that cannot be copied is run as it is (its pickle row says why)
        module = probe.module
    return replace(probe, module=module, x=probe.x.clone())  # an in-place layer may change its input


def _tolerant(compare: Compare, computed_in: torch.dtype | None = None) -> Compare:
    """``compare``, except that low-precision tensors get their dtype's rtol, scaled, as atol too.

    ``computed_in``: a low dtype every floating result went through (autocast), whatever dtype it is returned in.
    """

    def check(actual: Tensor, expected: Tensor) -> None:
        low = computed_in if computed_in is not None and expected.is_floating_point() else expected.dtype
        rtol = LOW_PRECISION.get(low)
        if rtol is None or not expected.numel():
            compare(actual, expected)
            return
        scale = max(1.0, expected.detach().abs().max().item())
        torch.testing.assert_close(actual, expected, rtol=rtol, atol=rtol * scale, equal_nan=True)

    return check


__all__ = ["DDP_ROW", "FEATURES", "Outcome", "select", "stack_rows"]
