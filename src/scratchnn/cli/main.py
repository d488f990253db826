"""Argument parsing and dispatch. User mistakes end with a one-line error and exit code 2 (under torchrun, printed
by rank 0 alone; every rank exits 2)."""

from __future__ import annotations

import argparse
import difflib
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


# Flags users reach for that the command spells differently: the hint names the right ones.
ALIASES = {
    ("compare", "--lr"): "--cnn-lr/--mlp-lr/--resnet-lr",
    ("compare", "--weight-decay"): "--cnn-weight-decay/--mlp-weight-decay/--resnet-weight-decay",
    ("train", "--seeds"): "--seed",
}


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
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        _command_parser(parser, args.command).error(_unrecognized(parser, args.command, unknown))
    try:
        return args.run(args)
    except UsageError as e:
        if is_rank_zero():
            print(f"scratchnn {args.command}: error: {e}", file=sys.stderr)
        return 2
    finally:
        shutdown()


def _command_parser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return subparsers.choices[command]


def _unrecognized(parser: argparse.ArgumentParser, command: str, unknown: list[str]) -> str:
    """``unrecognized arguments: --lr 0.1 (did you mean --cnn-lr/--mlp-lr?)``."""
    message = f"unrecognized arguments: {' '.join(unknown)}"
    flag = next((u.split("=")[0] for u in unknown if u.startswith("--")), None)
    if flag is None:
        return message
    known = [s for a in _command_parser(parser, command)._actions for s in a.option_strings if s.startswith("--")]
    hint = ALIASES.get((command, flag)) or "/".join(difflib.get_close_matches(flag, known, n=2, cutoff=0.7))
    return f"{message} (did you mean {hint}?)" if hint else message
