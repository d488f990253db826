"""Argument parsing and dispatch. User mistakes end with a one-line error and exit code 2 (under torchrun, printed
by rank 0 alone; every rank exits 2)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..training.distributed import is_rank_zero, shutdown
from . import bench, check, compare, train
from ._common import UsageError


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``scratchnn train: error: ...`` and exit code 2 (no usage dump); under
    torchrun only rank 0 prints it."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n" if is_rank_zero() else None)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="scratchnn", description="Neural-network layers from scratch, checked against torch.nn.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check.add_parser(sub)
    train.add_parser(sub)
    compare.add_parser(sub)
    bench.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except UsageError as e:
        if is_rank_zero():
            print(f"scratchnn {args.command}: error: {e}", file=sys.stderr)
        return 2
    finally:
        shutdown()
