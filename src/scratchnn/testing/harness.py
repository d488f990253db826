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
import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from ..functional import use_backward
from .gradcheck import gradcheck_row
from .report import CheckRow, Report, errors, reason

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
    stack: bool | Sequence[str] = False,
    compile_backend: str = "aot_eager",
    builders: tuple[Callable[[], nn.Module], Callable[[], nn.Module]] | None = None,
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
        stack: also add one row per feature of the PyTorch stack (compile, export, ONNX, torch.func, autocast,
            channels_last, pickle, meta device, DDP), each run on both layers; ``True`` for all of them, or the
            names of some (``stack=["autocast", "channels_last"]``). See :mod:`scratchnn.testing.stack`.
        compile_backend: the ``torch.compile`` backend of the stack's compile row. Default: ``'aot_eager'``
            (dynamo and AOTAutograd trace forward and backward, no code generation); ``'inductor'`` also
            generates and runs the kernels, at several seconds per layer.
        builders: ``(make_candidate, make_reference)``, zero-argument callables; with them the meta-device row
            constructs each layer under ``torch.device('meta')``, without them it moves a copy there.
    """
    if (rtol is None) != (atol is None):
        raise ValueError(f"give both rtol and atol or neither, but got rtol={rtol}, atol={atol}")
    features = _stack_features(stack)
    label = name or type(candidate).__name__
    device = torch.device(device or "cpu")
    candidate, reference = candidate.to(device=device), reference.to(device=device)
    if any(p.is_floating_point() for p in candidate.parameters()):
        candidate, reference = candidate.to(dtype), reference.to(dtype)
    report = Report()
    if not _sync_parameters(candidate, reference, check_init, label, report):
        return report

    compare = _comparer(rtol, atol)
    engines = tuple(engines or _default_engines(candidate))
    for engine in engines:
        context = use_backward(engine) if engine != "-" else contextlib.nullcontext()
        with context:
            for variant, x in _inputs(input_shape, dtype, device, seed, unbatched):
                report.rows += _compare_run(candidate, reference, x, variant, compare, label, engine, seed)
            if gradcheck:
                report.rows.append(gradcheck_row(candidate, input_shape, device, label, engine, gradgradcheck=False))
            if gradgradcheck:
                report.rows.append(gradcheck_row(candidate, input_shape, device, label, engine, gradgradcheck=True))
    if features:
        from .stack import stack_rows

        options = {"label": label, "engines": engines, "device": device, "dtype": dtype, "compare": compare}
        report.rows += stack_rows(
            candidate, reference, input_shape, features=features, compile_backend=compile_backend, builders=builders,
            **options,
        )  # fmt: skip
    return report


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


def _sync_parameters(candidate: nn.Module, reference: nn.Module, check_init: bool, label: str, report: Report) -> bool:
    """Check the state_dict keys (and initial values), then load the reference's into the candidate."""
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


def _forward(module: nn.Module, x: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
    """The input as a fresh leaf (same memory format) and the module's outputs as a tuple."""
    x = x.detach().clone(memory_format=torch.preserve_format).requires_grad_(x.is_floating_point())
    return x, _as_tuple(module(x))


def _backward(module: nn.Module, x: Tensor, outs: Sequence[Tensor], grads: Sequence[Tensor]) -> dict[str, Tensor]:
    """The gradients of the float outputs w.r.t. the input and every parameter, by name (zeros where unused)."""
    named = [("input", x), *((n, p) for n, p in module.named_parameters() if p.requires_grad)]
    floats = [o for o in outs if o.is_floating_point() and o.requires_grad]
    got = torch.autograd.grad(floats, [t for _, t in named], grads, allow_unused=True) if floats else ()
    return {n: (g if g is not None else torch.zeros_like(t)) for (n, t), g in zip(named, got, strict=False)}


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
    """Rows for one input: the forward, then the gradients (one row each on the batched input).

    An exception in the candidate's forward fails the forward row; one in its backward fails a gradient row
    (``backward [batched]`` or ``gradients [...]``) after a forward row that may well pass.
    """
    forward, backward = (
        f"forward [{variant}]",
        f"backward [{variant}]" if variant == "batched" else f"gradients [{variant}]",
    )
    try:
        x_r, expected = _forward(reference, x)
    except Exception as e:  # the reference does not take this kind of input: nothing to compare
        if variant != "batched":
            return []
        detail = f"the reference rejects input_shape {list(x.shape)}: {reason(e)}"
        return [CheckRow(label, engine, forward, False, math.nan, math.nan, detail)]
    g = torch.Generator().manual_seed(seed + 1)
    grads = [torch.randn(o.shape, generator=g, dtype=torch.float64).to(o) for o in expected if o.is_floating_point()]
    try:
        x_c, actual = _forward(candidate, x)
    except Exception as e:
        return [CheckRow(label, engine, forward, False, math.nan, math.nan, reason(e))]
    if len(actual) != len(expected):
        detail = f"{len(actual)} outputs, expected {len(expected)}"
        return [CheckRow(label, engine, forward, False, math.nan, math.nan, detail)]
    rows = [_row(compare, actual, expected, label, engine, forward)]
    grads_r = _backward(reference, x_r, expected, grads)
    if not grads_r:
        return rows
    try:
        grads_c = _backward(candidate, x_c, actual, grads)
    except Exception as e:
        return [*rows, CheckRow(label, engine, backward, False, math.nan, math.nan, reason(e))]
    if variant == "batched":
        return rows + [
            _row(compare, (grads_c.get(n),), (grads_r[n],), label, engine, f"grad {n} [{variant}]") for n in grads_r
        ]
    names = list(grads_r)
    grad_row = _row(
        compare, [grads_c.get(n) for n in names], [grads_r[n] for n in names], label, engine, backward, names
    )
    return [*rows, grad_row]


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
            detail = detail or f"{what + ': ' if what else ''}{reason(exc)}"
    return CheckRow(label, engine, check, not detail, *worst, detail)
