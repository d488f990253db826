"""``check_layer``: prove that a layer behaves exactly like its torch.nn reference.

The harness copies the reference's parameters into the candidate (after checking their ``state_dict`` keys
match, and optionally that both were initialised identically), runs both on seeded inputs of several kinds, and
compares with ``torch.testing.assert_close`` (its default tolerances for the dtype unless given):

- the output, on a batched input, a batch of one, an unbatched input, a non-contiguous input, a channels_last
  input (4-D) and an empty batch;
- the gradients with respect to the input and to every parameter, for the same seeded ``grad_output``;
- ``torch.autograd.gradcheck`` (and optionally ``gradgradcheck``) of the candidate alone, in float64.

For scratchnn's own layers each check runs under both backward engines (hand-written and autograd).
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from ..functional import use_backward
from .report import CheckRow, Report, errors

Compare = Callable[[Tensor, Tensor], None]


def check_layer(
    candidate: nn.Module,
    reference: nn.Module,
    input_shape: Sequence[int],
    *,
    name: str | None = None,
    engines: Sequence[str] | None = None,
    dtype: torch.dtype = torch.float32,
    device=None,
    seed: int = 0,
    check_init: bool = False,
    unbatched: bool = True,
    gradcheck: bool = True,
    gradgradcheck: bool = False,
    rtol: float | None = None,
    atol: float | None = None,
) -> Report:
    """Compare ``candidate`` with ``reference`` and return a :class:`Report` (one row per check).

    Args:
        candidate: the layer under test. Its parameters are overwritten with the reference's.
        reference: the trusted layer, usually from torch.nn.
        input_shape: a batched input shape ``(N, ...)``; the other inputs are derived from it.
        name: the layer's label in the report. Default: the candidate's class name.
        engines: backward engines to run (``'manual'``, ``'autograd'``). Default: both for scratchnn layers,
            none to choose (``'-'``) for other layers.
        dtype, device: where the comparison runs. Default: float32 on the CPU.
        seed: seeds the inputs and output gradients.
        check_init: also require the parameters to be identical before copying (same-seed construction).
        unbatched: also run an input without the batch dim.
        gradcheck, gradgradcheck: run them in float64 on a small input.
        rtol, atol: tolerances for ``torch.testing.assert_close``; both or neither. Default: its defaults for
            the dtype, with ``atol`` scaled by the largest magnitude of the expected tensor (sums in a different
            order differ by about ``eps`` times their size).
    """
    if (rtol is None) != (atol is None):
        raise ValueError(f"give both rtol and atol or neither, but got rtol={rtol}, atol={atol}")
    label = name or type(candidate).__name__
    device = torch.device(device or "cpu")
    candidate, reference = candidate.to(device=device), reference.to(device=device)
    if any(p.is_floating_point() for p in candidate.parameters()):
        candidate, reference = candidate.to(dtype), reference.to(dtype)
    report = Report()
    row = _sync_parameters(candidate, reference, check_init, label, report)
    if not row:
        return report

    def compare(actual: Tensor, expected: Tensor) -> None:
        if rtol is None and actual.is_floating_point() and actual.numel():
            # assert_close's defaults for the dtype, with atol scaled by the tensor's magnitude: both sides add
            # the same terms in different orders, and a sum of K terms of size S is only exact to ~ eps * S.
            tol_rtol, tol_atol = _default_tolerances(expected.dtype)
            scale = max(1.0, expected.detach().abs().max().item())
            torch.testing.assert_close(actual, expected, rtol=tol_rtol, atol=tol_atol * scale, equal_nan=True)
        else:
            torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol, equal_nan=True)

    for engine in engines or _default_engines(candidate):
        context = use_backward(engine) if engine != "-" else contextlib.nullcontext()
        with context:
            for variant, x in _inputs(input_shape, dtype, device, seed, unbatched):
                report.rows += _compare_run(candidate, reference, x, variant, compare, label, engine, seed)
            if gradcheck:
                report.rows.append(_gradcheck(candidate, input_shape, device, label, engine, gradgradcheck=False))
            if gradgradcheck:
                report.rows.append(_gradcheck(candidate, input_shape, device, label, engine, gradgradcheck=True))
    return report


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


def _sync_parameters(candidate: nn.Module, reference: nn.Module, check_init: bool, label: str, report: Report) -> bool:
    """Check the state_dict keys (and initial values), then load the reference's into the candidate."""
    ours, theirs = candidate.state_dict(), reference.state_dict()
    if ours.keys() != theirs.keys():
        diff = sorted(set(ours) ^ set(theirs))
        report.rows.append(CheckRow(label, "-", "state_dict keys", False, detail=f"keys differ: {diff}"))
        return False
    shapes_ok = all(ours[k].shape == theirs[k].shape for k in ours)
    detail = (
        ""
        if shapes_ok
        else "parameter shapes differ: "
        + ", ".join(
            f"{k} {list(ours[k].shape)} vs {list(theirs[k].shape)}" for k in ours if ours[k].shape != theirs[k].shape
        )
    )
    report.rows.append(CheckRow(label, "-", "state_dict keys and shapes", shapes_ok, detail=detail))
    if not shapes_ok:
        return False
    if check_init:
        worst = max((errors(ours[k], theirs[k]) for k in ours), default=(0.0, 0.0))
        same = all(torch.equal(ours[k], theirs[k]) for k in ours)
        report.rows.append(
            CheckRow(
                label,
                "-",
                "identical initialisation",
                same,
                *worst,
                detail="" if same else "same seed drew different parameters",
            )
        )
    candidate.load_state_dict(theirs)
    return True


def _inputs(shape: Sequence[int], dtype, device, seed: int, unbatched: bool):
    """(name, input) pairs: batched, batch 1, unbatched, non-contiguous, channels_last, empty batch."""
    g = torch.Generator().manual_seed(seed)

    def randn(*size: int) -> Tensor:
        return torch.randn(size, generator=g, dtype=torch.float64).to(dtype=dtype, device=device)

    shape = tuple(shape)
    yield "batched", randn(*shape)
    yield "batch 1", randn(1, *shape[1:])
    if unbatched:
        yield "unbatched", randn(*shape[1:])
    if len(shape) >= 2:
        yield "non-contiguous", randn(*shape[:-2], shape[-1], shape[-2]).transpose(-1, -2)
    if len(shape) == 4:
        yield "channels_last", randn(*shape).contiguous(memory_format=torch.channels_last)
    yield "empty batch", randn(0, *shape[1:])


def _as_tuple(out) -> tuple[Tensor, ...]:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _run(module: nn.Module, x: Tensor, grads: Sequence[Tensor] | None):
    """Forward, then the gradients of the float outputs w.r.t. the input and every parameter (by name)."""
    x = x.detach().clone(memory_format=torch.preserve_format).requires_grad_(x.is_floating_point())
    outs = _as_tuple(module(x))
    if grads is None:
        return outs, {}
    named = [("input", x), *((n, p) for n, p in module.named_parameters() if p.requires_grad)]
    floats = [o for o in outs if o.is_floating_point() and o.requires_grad]
    got = torch.autograd.grad(floats, [t for _, t in named], grads, allow_unused=True) if floats else ()
    return outs, {n: (g if g is not None else torch.zeros_like(t)) for (n, t), g in zip(named, got, strict=False)}


def _compare_run(
    candidate: nn.Module,
    reference: nn.Module,
    x: Tensor,
    variant: str,
    compare: Compare,
    label: str,
    engine: str,
    seed: int,
) -> list[CheckRow]:
    """Rows for one input: the forward, then the gradients (one row each on the batched input)."""
    try:
        expected, _ = _run(reference, x, None)
    except Exception as e:  # the reference does not take this kind of input: nothing to compare
        if variant != "batched":
            return []
        detail = f"the reference rejects input_shape {list(x.shape)}: {_first_line(e)}"
        return [CheckRow(label, engine, f"forward [{variant}]", False, math.nan, math.nan, detail)]
    g = torch.Generator().manual_seed(seed + 1)
    grads = [torch.randn(o.shape, generator=g, dtype=torch.float64).to(o) for o in expected if o.is_floating_point()]
    try:
        actual, grads_c = _run(candidate, x, grads)
    except Exception as e:
        return [CheckRow(label, engine, f"forward [{variant}]", False, math.nan, math.nan, _first_line(e))]
    _, grads_r = _run(reference, x, grads)
    if len(actual) != len(expected):
        return [
            CheckRow(
                label,
                engine,
                f"forward [{variant}]",
                False,
                math.nan,
                math.nan,
                f"{len(actual)} outputs, expected {len(expected)}",
            )
        ]
    rows = [_row(compare, actual, expected, label, engine, f"forward [{variant}]")]
    if variant == "batched":
        rows += [
            _row(compare, (grads_c.get(n),), (grads_r[n],), label, engine, f"grad {n} [{variant}]") for n in grads_r
        ]
    elif grads_r:
        names = list(grads_r)
        rows.append(
            _row(
                compare,
                [grads_c.get(n) for n in names],
                [grads_r[n] for n in names],
                label,
                engine,
                f"gradients [{variant}]",
                names,
            )
        )
    return rows


def _row(
    compare: Compare,
    actual,
    expected,
    label: str,
    engine: str,
    check: str,
    names: Sequence[str] | None = None,
) -> CheckRow:
    """Compare tensors pairwise; the row fails on the first mismatch and names it."""
    worst, detail = (0.0, 0.0), ""
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        what = names[i] if names else f"output {i}" if len(expected) > 1 else ""
        if a is None:
            return CheckRow(label, engine, check, False, math.nan, math.nan, f"{what or 'tensor'} missing")
        err = errors(a, e)
        worst = (max(worst[0], err[0]), max(worst[1], err[1]))
        try:
            compare(a, e)
        except AssertionError as exc:
            detail = detail or f"{what + ': ' if what else ''}{_first_line(exc)}"
    return CheckRow(label, engine, check, not detail, *worst, detail)


def _gradcheck(
    candidate: nn.Module, input_shape: Sequence[int], device, label: str, engine: str, gradgradcheck: bool
) -> CheckRow:
    """``torch.autograd.gradcheck`` / ``gradgradcheck`` of the candidate in float64 on a batch of two."""
    model = copy.deepcopy(candidate).to(torch.float64)
    named = [(n, p.detach().clone().requires_grad_()) for n, p in model.named_parameters()]
    g = torch.Generator().manual_seed(0)
    x = torch.randn((2, *input_shape[1:]), generator=g, dtype=torch.float64).to(device).requires_grad_()

    def fn(x: Tensor, *params: Tensor) -> tuple[Tensor, ...]:
        out = torch.func.functional_call(model, {n: p for (n, _), p in zip(named, params, strict=True)}, (x,))
        return tuple(o for o in _as_tuple(out) if o.is_floating_point())

    inputs = (x, *(p for _, p in named))
    name = "gradgradcheck (float64)" if gradgradcheck else "gradcheck (float64)"
    try:
        if gradgradcheck:  # fast mode: compares random projections v^T J u, not every entry of the Hessian
            ok = torch.autograd.gradgradcheck(fn, inputs, fast_mode=True)
        else:
            ok = torch.autograd.gradcheck(fn, inputs)
        detail = ""
    except Exception as e:
        ok, detail = False, _first_line(e)
    return CheckRow(label, engine, name, bool(ok), math.nan, math.nan, detail)


def _first_line(e: BaseException) -> str:
    """``Type: first line`` of an exception; for assert_close, its ``Mismatched elements: k / n`` line."""
    text = str(e).strip().splitlines()
    mismatch = [line.strip() for line in text if line.strip().startswith("Mismatched elements")]
    if mismatch:
        return mismatch[0]
    return f"{type(e).__name__}: {text[0] if text else ''}"[:200]
