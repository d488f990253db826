"""What the sub-commands share: the usage error, run directories, data flags and the progress display."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TextIO

from tqdm import tqdm


class UsageError(Exception):
    """A mistake in the command line or its inputs: printed as one line, exit code 2."""


def new_run_dir(out: str, tag: str) -> Path:
    """Create a new ``<out>/<timestamp>-<tag>`` directory, never reusing one (``-2``, ``-3``... on a clash)."""
    root = Path(out).expanduser()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        root.mkdir(parents=True, exist_ok=True)
        for n in range(1, 1000):
            path = root / (f"{stamp}-{tag}" if n == 1 else f"{stamp}-{tag}-{n}")
            try:
                path.mkdir()
                return path
            except FileExistsError:
                continue
    except OSError as e:
        raise UsageError(f"cannot create a run directory under {str(root)!r}: {e.strerror or e}") from None
    raise UsageError(f"cannot find a free run directory name under {str(root)!r}")


def add_data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dataset",
        choices=("mnist", "fashion-mnist"),
        help="mnist or fashion-mnist (default: mnist, the 10,000 digits embedded in the package)",
    )
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="directory with the four official IDX files, raw or .gz (default: none: the embedded digits for "
        "mnist, else /usr/share/datasets/<name> or ~/.cache/scratchnn/<name>)",
    )
    p.add_argument(
        "--download",
        action="store_true",
        default=argparse.SUPPRESS,
        help="fetch missing official files into --data-dir, checksums verified (default: off)",
    )


def default_of(config: type, name: str) -> str:
    """``'(default: 10)'``: a config field's default as ``--help`` shows it (``None``: ``full`` or ``none``)."""
    value = next(f.default for f in dataclasses.fields(config) if f.name == name)
    return f"(default: {_shown(name, value)})"


def _shown(name: str, value: object) -> str:
    if value is None:
        return "full" if name == "batch_size" else "none"
    return str(value)


def preset_default(name: str, presets: dict[str, dict], fallback: object) -> str:
    """``'(default: 8 in quick, 2000 in seed)'``, or ``'(default: 1)'`` where every preset agrees: a study flag's
    value under each preset (``fallback`` where a preset does not set it)."""
    shown = {preset: _shown(name, values.get(name, fallback)) for preset, values in presets.items()}
    if len(set(shown.values())) == 1:
        return f"(default: {next(iter(shown.values()))})"
    return "(default: " + ", ".join(f"{value} in {preset}" for preset, value in shown.items()) + ")"


def add_size_flags(p: argparse.ArgumentParser, train_default: str, test_default: str) -> None:
    """``--train-size`` and ``--test-size``, whose defaults ``--help`` shows as given."""
    for part, name, default in (("train", "training", train_default), ("test", "test", test_default)):
        help_text = f"{name} examples, stratified by class; all: the whole {name} set {default}"
        p.add_argument(f"--{part}-size", type=size_or_all, metavar="N|all", help=help_text)


def _int_at_least(text: str, low: int, expected: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if value < low:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    return _int_at_least(text, 1, "a positive integer")


def batch_size(text: str) -> int | None:
    """``--batch-size``: a positive integer, or ``full`` (``None``: one step per epoch over every example)."""
    return None if text == "full" else _int_at_least(text, 1, "a positive integer or 'full'")


def size_or_all(text: str) -> int | None:
    """``--train-size``/``--test-size``: a number of examples (at least 10), or ``all`` (``None``)."""
    return None if text == "all" else _int_at_least(text, 10, "at least 10 examples or 'all'")


class Progress:
    """Epoch progress on stderr through tqdm: a live bar on a terminal, a plain line about every 5 % of the work
    when stderr is a log or a CI console (no carriage returns), nothing when quiet. Each shows the epochs done,
    elapsed time, ETA, and the last epoch's label, loss and accuracy.

    Args:
        total: how many epochs (over every model and seed) the command will report.
        quiet: show nothing.
        stream: where to write (default: ``sys.stderr``).
    """

    def __init__(self, total: int, quiet: bool = False, stream: TextIO | None = None) -> None:
        self.total, self.quiet, self.stream = total, quiet, stream or sys.stderr
        self.done, self.start = 0, time.perf_counter()
        self.every = max(1, total // 20)
        self.bar = None
        if not quiet and self.stream.isatty():
            self.bar = tqdm(total=total, file=self.stream, unit="epoch", dynamic_ncols=True)

    def update(self, label: str, metrics: dict[str, float]) -> None:
        self.done += 1
        if self.quiet:
            return
        text = (
            f"{label} epoch {metrics['epoch']}: loss {metrics['train_loss']:.4f} "
            f"acc {metrics['train_accuracy']:.3f} | test loss {metrics['test_loss']:.4f} "
            f"acc {metrics['test_accuracy']:.3f}"
        )
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(1)
            if self.done >= self.total:
                self.bar.close()
        elif self.done % self.every == 0 or self.done == self.total:
            elapsed = time.perf_counter() - self.start
            meter = tqdm.format_meter(self.done, self.total, elapsed, ncols=0, unit="epoch")
            self.stream.write(f"{meter.strip()} {text}\n")
            self.stream.flush()
