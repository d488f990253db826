"""``scratchnn check``: run the layer-testing harness on the built-in layers or on a user's own layer."""

from __future__ import annotations

import argparse
import ast
import copy
import importlib
import sys
from pathlib import Path

import torch
from torch import nn

from ..testing import check_layer
from ..testing.grid import BUILTIN, check_builtin
from ..testing.report import reason
from ..training import resolve_device
from ._common import UsageError

COMPILE_BACKENDS = ("aot_eager", "inductor", "eager")
DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}


def add_parser(sub) -> None:
    p = sub.add_parser(
        "check",
        help="compare layers with torch.nn (built-in ones, or yours)",
        description="Compare layers with their torch.nn reference: outputs, gradients, gradcheck. "
        "Exit code 0 only when every check passes.",
    )
    p.add_argument(
        "target",
        nargs="?",
        metavar="PKG.MOD:CLASS",
        help="your layer, importable from the current directory (default: every built-in layer)",
    )
    p.add_argument(
        "--against",
        metavar="torch.nn.CLASS",
        help="the reference layer to compare with (required with a target; default: none)",
    )
    p.add_argument(
        "--args",
        nargs="*",
        default=[],
        metavar="VALUE",
        help="positional constructor arguments for both layers, as Python literals (default: none)",
    )
    p.add_argument(
        "--kwargs",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="keyword constructor arguments for both layers (default: none)",
    )
    p.add_argument(
        "--input-shape",
        metavar="N,C,H,W",
        help="batched input shape (default: 4,C,11,11 for a conv, 4,F for a linear layer, else 4,3,11,11)",
    )
    p.add_argument(
        "--dtype",
        choices=sorted(DTYPES),
        default="float32",
        help="dtype of the comparison; gradcheck always float64 (default: float32)",
    )
    p.add_argument(
        "--device",
        choices=("cpu", "cuda", "mps"),
        default="cpu",
        help="device of the comparison (default: cpu)",
    )
    p.add_argument(
        "--full", action="store_true", help="print every check (default: one row per layer and backward engine)"
    )
    p.add_argument(
        "--stack",
        action="store_true",
        help="also check the PyTorch stack on both layers: torch.compile, torch.export, ONNX, torch.func, "
        "autocast, channels_last, pickle, meta device, DDP (slow: seconds per layer; default: off)",
    )
    p.add_argument(
        "--compile-backend",
        choices=COMPILE_BACKENDS,
        default="aot_eager",
        help="torch.compile backend of the --stack compile row; inductor also generates kernels (default: aot_eager)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    dtype = DTYPES[args.dtype]
    try:
        resolve_device(args.device)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.target is None:
        if args.against:
            raise UsageError("--against needs a target layer PKG.MOD:CLASS")
        report = check_builtin(
            dtype=dtype,
            device=args.device,
            stack=args.stack,
            compile_backend=args.compile_backend,
            on_case=_progress(len(BUILTIN)) if args.stack else None,
        )
    else:
        report = _check_user_layer(args, dtype)
    print(report.format() if args.full else report.format_compact())
    return 0 if report.passed else 1


def _check_user_layer(args: argparse.Namespace, dtype: torch.dtype):
    if not args.against:
        raise UsageError(f"checking {args.target} needs --against torch.nn.CLASS")
    candidate_cls, reference_cls = _load_class(args.target), _load_class(args.against)
    pos = [_literal(v) for v in args.args]
    kw = dict(_keyword(v) for v in args.kwargs)
    try:
        torch.manual_seed(0)
        candidate = candidate_cls(*pos, **kw)
        torch.manual_seed(0)
        reference = reference_cls(*pos, **kw)
    except (TypeError, ValueError, RuntimeError) as e:
        raise UsageError(f"cannot construct the layers with args={pos} kwargs={kw}: {e}") from None
    shape = _shape(args.input_shape) if args.input_shape else _default_shape(reference)
    _check_shape_fits(reference, shape, args.against, given=bool(args.input_shape))
    return check_layer(
        candidate,
        reference,
        shape,
        name=args.target.split(":")[-1],
        dtype=dtype,
        device=args.device,
        stack=args.stack,
        compile_backend=args.compile_backend,
        builders=(lambda: candidate_cls(*pos, **kw), lambda: reference_cls(*pos, **kw)),
    )


def _progress(total: int):
    """``[i/total] case`` on stderr as each built-in case starts (the stack checks take a while)."""

    def show(i: int, case) -> None:
        print(f"[{i + 1}/{total}] {case.name}", file=sys.stderr, flush=True)

    return show


def _load_class(spec: str) -> type[nn.Module]:
    """``pkg.mod:Class`` or ``pkg.mod.Class``, importable from the current directory too."""
    module_name, _, attr = spec.partition(":") if ":" in spec else spec.rpartition(".")
    if not module_name or not attr:
        raise UsageError(f"expected PKG.MOD:CLASS, but got {spec!r}")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, TypeError, ValueError, SyntaxError) as e:
        raise UsageError(f"cannot load {spec!r}: {e}") from None
    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
        raise UsageError(f"{spec!r} is not a torch.nn.Module subclass")
    return obj


def _literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a bare word such as reflect is taken as a string


def _keyword(text: str) -> tuple[str, object]:
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise UsageError(f"--kwargs expects NAME=VALUE, but got {text!r}")
    return name, _literal(value)


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) < 2 or min(shape) < 1:
        raise UsageError(f"--input-shape expects positive ints like 4,3,9,9, but got {text!r}")
    return shape


def _check_shape_fits(reference: nn.Module, shape: tuple[int, ...], name: str, given: bool) -> None:
    """Run (a copy of) the reference once: an input it rejects is a usage error that names the shape it expects."""
    try:
        with torch.no_grad():
            copy.deepcopy(reference).float()(torch.zeros(shape))
    except Exception as e:
        flag = f"--input-shape {','.join(map(str, shape))}" if given else f"the default input shape {list(shape)}"
        raise UsageError(f"{flag} does not fit {name}: {reason(e)}; {_expected_shape(reference)}") from None


def _expected_shape(reference: nn.Module) -> str:
    if hasattr(reference, "in_channels"):
        return f"it expects (N, {reference.in_channels}, H, W), e.g. --input-shape 4,{reference.in_channels},11,11"
    if hasattr(reference, "in_features"):
        return f"it expects (N, *, {reference.in_features}), e.g. --input-shape 4,{reference.in_features}"
    return "pass an --input-shape that the reference accepts"


def _default_shape(reference: nn.Module) -> tuple[int, ...]:
    if hasattr(reference, "in_channels"):
        return (4, reference.in_channels, 11, 11)
    if hasattr(reference, "in_features"):
        return (4, reference.in_features)
    return (4, 3, 11, 11)
