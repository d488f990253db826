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
from ..testing.inputs import TARGET_KINDS, make_target
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
MODES_FLAG = {"auto": None, "train": ("train",), "eval": ("eval",), "both": ("train", "eval")}


OPTIONS: tuple[tuple[tuple[str, ...], dict], ...] = (  # (flags, add_argument keywords), in --help order
    (("layer",), {"nargs": "?", "metavar": "PKG.MOD:CLASS",
                  "help": "your layer, importable from the current directory (default: every built-in layer)"}),
    (("--against",), {"metavar": "torch.nn.CLASS",
                      "help": "the reference layer to compare with (required with a layer; default: none)"}),
    (("--args",), {"nargs": "*", "default": [], "metavar": "VALUE",
                   "help": "positional constructor arguments for both layers, as Python literals (default: none)"}),
    (("--kwargs",), {"nargs": "*", "default": [], "metavar": "NAME=VALUE",
                     "help": "keyword constructor arguments for both layers (default: none)"}),
    (("--input-shape",), {"metavar": "N,C,H,W",
                          "help": "batched input shape (default: 4,C,11,11 or 4,C for a conv or a norm, 4,F for "
                          "a linear layer, 4,5 for a loss, else 4,3,11,11)"}),
    (("--target",), {"choices": TARGET_KINDS,
                     "help": "the layer is a loss, called as layer(input, target): give it seeded class indices "
                     "or class probabilities along dim 1 of the input (default: none, one input)"}),
    (("--modes",), {"choices": tuple(MODES_FLAG), "default": "auto",
                    "help": "train, eval or both; auto runs both when the reference's output or buffers depend "
                    "on the mode, as batch norm's and dropout's do (default: auto)"}),
    (("--seed",), {"type": int, "default": 0,
                   "help": "seeds the inputs, gradients, targets and the generator of random layers (default: 0)"}),
    (("--dtype",), {"choices": sorted(DTYPES), "default": "float32",
                    "help": "dtype of the comparison; gradcheck always float64 (default: float32)"}),
    (("--device",), {"choices": ("cpu", "cuda", "mps"), "default": "cpu",
                     "help": "where the comparison runs (default: cpu)"}),
    (("--full",), {"action": "store_true",
                   "help": "print every check (default: one row per layer and backward engine)"}),
    (("--stack",), {"action": "store_true",
                    "help": "also check the PyTorch stack on both layers: torch.compile, torch.export, ONNX, "
                    "torch.func, autocast, channels_last, pickle, meta device, DDP (slow: seconds per layer; "
                    "default: off)"}),
    (("--compile-backend",), {"choices": COMPILE_BACKENDS, "default": "aot_eager",
                              "help": "torch.compile backend of the --stack compile row; inductor also generates "
                              "kernels (default: aot_eager)"}),
)  # fmt: skip
USER_LAYER_ONLY = ("args", "kwargs", "input_shape", "target")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "check",
        help="compare layers with torch.nn (built-in ones, or yours)",
        description="Compare layers with their torch.nn reference: outputs, buffers, gradients, gradcheck, in "
        "training and eval mode where they differ. Exit code 0 only when every check passes.",
    )
    for flags, keywords in OPTIONS:
        p.add_argument(*flags, **keywords)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    dtype = DTYPES[args.dtype]
    try:
        resolve_device(args.device)
    except ValueError as e:
        raise UsageError(str(e)) from None
    options = {"dtype": dtype, "device": args.device, "seed": args.seed, "modes": MODES_FLAG[args.modes],
               "stack": args.stack, "compile_backend": args.compile_backend}  # fmt: skip
    report = _check_builtin(args, options) if args.layer is None else _check_user_layer(args, options)
    print(report.format() if args.full else report.format_compact())
    return 0 if report.passed else 1


def _check_builtin(args: argparse.Namespace, options: dict):
    if args.against:
        raise UsageError("--against needs a layer to check, PKG.MOD:CLASS")
    given = [f"--{name.replace('_', '-')}" for name in USER_LAYER_ONLY if getattr(args, name)]
    if given:
        verb = "needs" if len(given) == 1 else "need"
        raise UsageError(f"{', '.join(given)} {verb} a layer to check: PKG.MOD:CLASS --against torch.nn.CLASS")
    return check_builtin(BUILTIN, on_case=_progress(len(BUILTIN)) if args.stack else None, **options)


def _check_user_layer(args: argparse.Namespace, options: dict):
    if not args.against:
        raise UsageError(f"checking {args.layer} needs --against torch.nn.CLASS")
    candidate_cls, reference_cls = _load_class(args.layer), _load_class(args.against)
    pos = [_literal(v) for v in args.args]
    kw = dict(_keyword(v) for v in args.kwargs)
    try:
        torch.manual_seed(0)
        candidate = candidate_cls(*pos, **kw)
        torch.manual_seed(0)
        reference = reference_cls(*pos, **kw)
    except (TypeError, ValueError, RuntimeError) as e:
        raise UsageError(f"cannot construct the layers with args={pos} kwargs={kw}: {e}") from None
    shape = _shape(args.input_shape) if args.input_shape else _default_shape(reference, args.target)
    _check_shape_fits(reference, shape, args.against, given=bool(args.input_shape), target=args.target)
    builders = (lambda: candidate_cls(*pos, **kw), lambda: reference_cls(*pos, **kw))
    name = args.layer.split(":")[-1]
    return check_layer(candidate, reference, shape, name=name, target=args.target, builders=builders, **options)


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


def _check_shape_fits(reference: nn.Module, shape: tuple[int, ...], name: str, given: bool, target) -> None:
    """Run (a copy of) the reference once: an input it rejects is a usage error that names the shape it expects."""
    error = _fails(reference, shape, target)
    if error is not None:
        flag = f"--input-shape {','.join(map(str, shape))}" if given else f"the default input shape {list(shape)}"
        raise UsageError(f"{flag} does not fit {name}: {reason(error)}; {_expected_shape(reference, target)}")


def _fails(reference: nn.Module, shape: tuple[int, ...], target: str | None) -> Exception | None:
    """What a copy of the reference raises on zeros of ``shape`` (and a target), or None."""
    try:
        x = torch.zeros(shape)
        with torch.no_grad():
            copy.deepcopy(reference).float()(x, *([make_target(target, x, 0)] if target else []))
    except Exception as e:
        return e
    return None


def _expected_shape(reference: nn.Module, target: str | None) -> str:
    if hasattr(reference, "in_channels"):
        return f"it expects (N, {reference.in_channels}, H, W), e.g. --input-shape 4,{reference.in_channels},11,11"
    if hasattr(reference, "in_features"):
        return f"it expects (N, *, {reference.in_features}), e.g. --input-shape 4,{reference.in_features}"
    fitting = [shape for shape in _candidate_shapes(reference, target) if _fails(reference, shape, target) is None]
    if fitting:
        return f"it accepts e.g. --input-shape {','.join(map(str, fitting[0]))}"
    return "pass an --input-shape that the reference accepts" + ("" if target else " (and --target for a loss)")


def _default_shape(reference: nn.Module, target: str | None) -> tuple[int, ...]:
    """The first of the candidate shapes that the reference accepts (else the first: the error will say so)."""
    shapes = _candidate_shapes(reference, target)
    return next((shape for shape in shapes if _fails(reference, shape, target) is None), shapes[0])


def _candidate_shapes(reference: nn.Module, target: str | None) -> list[tuple[int, ...]]:
    """Batched shapes to try, from the reference's attributes: 5 classes for a loss, channels (a conv, a batch or
    group norm: 4-D, then 2-D), in_features, normalized_shape."""
    if target is not None:
        return [(4, 5)]
    attrs = ("in_channels", "num_features", "num_channels")
    channels = next((getattr(reference, a) for a in attrs if isinstance(getattr(reference, a, None), int)), None)
    if channels:
        return [(4, channels, 11, 11), (4, channels)]
    if isinstance(getattr(reference, "in_features", None), int):
        return [(4, reference.in_features)]
    normalized = getattr(reference, "normalized_shape", None)
    return [(4, *normalized)] if normalized else [(4, 3, 11, 11), (4, 5)]
