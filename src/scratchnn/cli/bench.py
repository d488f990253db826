"""``scratchnn bench``: time and memory of every layer and training step, scratchnn against torch.nn."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from ..perf import BenchConfig, Contention, format_table, run_bench, write_json
from ..perf.run import DEVICES
from ._common import UsageError, default_of, positive_int


def add_parser(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="benchmark the layers and training steps against torch.nn",
        description="Time (median of interleaved repeats, after warm-up) and peak memory of each layer of the CNN "
        "and MLP at its real shape, a 64->64 3x3 conv on 56x56, and whole training steps, for scratchnn (both "
        "backward engines) and torch.nn. Prints a table of times and ratios to torch.nn; --json also saves it.",
    )
    device_help = f"auto: cuda if available, else cpu {default_of(BenchConfig, 'device')}"
    p.add_argument("--device", choices=DEVICES, default=BenchConfig.device, help=device_help)
    p.add_argument(
        "--json", metavar="PATH", help="also write the result here, a new file never overwritten (default: none)"
    )
    p.add_argument("--repeats", type=positive_int, metavar="N", help="timed rounds per phase (default 15; quick 3)")
    p.add_argument("--warmup", type=positive_int, metavar="N", help="untimed rounds first (default 3; quick 1)")
    p.add_argument("--quick", action="store_true", help="skip the big conv and batch 4,000; few repeats (default: off)")
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        help="also time the training steps under torch.compile (default: on for cuda, off for cpu, where "
        "compiling takes minutes)",
    )
    p.add_argument(
        "--cases", metavar="PATTERN", help="only the cases matching this glob, e.g. 'cnn.*' or 'step.*' (default: all)"
    )
    p.add_argument(
        "--contend",
        type=int,
        default=BenchConfig.contend,
        metavar="N",
        help="measure under load: N busy processes, one per CPU core, from the first case to the end of the bench "
        "(an hour at most), stopped however it ends (default: 0, no load)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    json_path = _new_json_path(args.json) if args.json else None
    try:
        config = BenchConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(BenchConfig)})
        result = run_bench(config, on_case=_progress(time.perf_counter()), on_contention=_announce)
    except ValueError as e:
        raise UsageError(str(e)) from None
    except KeyboardInterrupt:
        stopped = "; competing processes stopped" if args.contend else ""
        print(f"scratchnn bench: interrupted{stopped}", file=sys.stderr)
        return 130
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


def _announce(load: Contention) -> None:
    """The competing processes, on stderr, so that a user can see (and check) what ran beside the bench."""
    pids = " ".join(str(pid) for pid in load.pids)
    print(
        f"contention: {load.processes} busy processes, pids {pids}, for {load.limit_s:.0f} s at most", file=sys.stderr
    )


def _progress(start: float):
    """Progress lines on stderr, one per case."""

    def report(i: int, total: int, case) -> None:
        elapsed = time.perf_counter() - start
        print(f"[{i + 1}/{total}] {case.name}: {case.description} ({elapsed:.0f} s)", file=sys.stderr)

    return report
