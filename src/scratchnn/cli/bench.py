"""``scratchnn bench``: time and memory of every layer and training step, scratchnn against torch.nn."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..bench import BenchConfig, format_table, run_bench, write_json
from ._common import UsageError, positive_int


def add_parser(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="benchmark the layers and training steps against torch.nn",
        description="Time (median of interleaved repeats, after warm-up) and peak memory of each layer of the CNN "
        "and MLP at its real shape, a 64->64 3x3 conv on 56x56, and whole training steps, for scratchnn (both "
        "backward engines) and torch.nn. Prints a table of times and ratios to torch.nn; --json also saves it.",
    )
    p.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="auto: cuda if available, else cpu (default: auto)",
    )
    p.add_argument(
        "--json", metavar="PATH", help="also write the result here, a new file never overwritten (default: none)"
    )
    p.add_argument("--repeats", type=positive_int, metavar="N", help="timed rounds per phase (default 15; quick 3)")
    p.add_argument("--warmup", type=positive_int, metavar="N", help="untimed rounds first (default 3; quick 1)")
    p.add_argument(
        "--quick", action="store_true", help="skip the big conv and the batch of 4,000; few repeats (default: off)"
    )
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        help="also time the training steps under torch.compile (default: on for cuda, off for cpu, where "
        "compiling takes minutes)",
    )
    p.add_argument(
        "--cases", metavar="PATTERN", help="only the cases matching this glob, e.g. 'cnn.*' or 'step.*' (default: all)"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    json_path = _new_json_path(args.json) if args.json else None
    try:
        config = BenchConfig(
            device=args.device,
            repeats=args.repeats,
            warmup=args.warmup,
            quick=args.quick,
            compile=args.compile,
            cases=args.cases,
        )
        result = run_bench(config, on_case=_progress(time.perf_counter()))
    except ValueError as e:
        raise UsageError(str(e)) from None
    print(format_table(result))
    if json_path is not None:
        try:
            write_json(result, json_path)
        except FileExistsError:
            raise UsageError(f"--json: {json_path} appeared while benchmarking; not overwriting it") from None
        except OSError as e:
            raise UsageError(f"--json: cannot write {json_path}: {e.strerror or e}") from None
        print(f"json: {json_path}")
    return 0


def _new_json_path(text: str) -> Path:
    """Check ``--json`` before the (long) run: the file must not exist, its directory must."""
    path = Path(text).expanduser()
    if path.exists():
        raise UsageError(f"--json: {path} already exists; choose a new file (nothing is ever overwritten)")
    if not path.parent.is_dir():
        raise UsageError(f"--json: directory {path.parent} does not exist")
    return path


def _progress(start: float):
    """Progress lines on stderr, one per case."""

    def report(i: int, total: int, case) -> None:
        elapsed = time.perf_counter() - start
        print(f"[{i + 1}/{total}] {case.name}: {case.description} ({elapsed:.0f} s)", file=sys.stderr)

    return report
