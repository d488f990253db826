"""The plane path's loops on parallel shares against the same loops with one OpenMP region per product: the
training step's time ratio to torch.nn, quiet or under load.

    python benchmarks/parallel_shares.py [--case step.cnn.b256] [--repeats 21] [--contend N]

Three contenders run in one process, interleaved (the first rotating from round to round), after 3 untimed
rounds: ``shares`` (scratchnn as it runs: each loop of the plane path split over single-threaded threads,
``scratchnn.functional._parallel``), ``per-product`` (the same code with every loop run by the calling thread, so
that each matrix product is a parallel region of MKL's, as ATen runs them by itself) and ``torch`` (torch.nn). The
script prints each one's median step time and the two ratios to torch.nn. ``--contend N`` keeps N other processes
spinning on N cores meanwhile (``scratchnn.perf.Contention``, stopped however the script ends). Runtime: about
10 seconds quiet, about a minute under ``--contend 1``, on 2 cores.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import torch

from scratchnn.functional import _parallel
from scratchnn.perf import select_cases
from scratchnn.perf.tasks import build_tasks

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _interleave import interleaved_report, step_timer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", default="step.cnn.b256", help="a step case of scratchnn bench (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=21, help="timed rounds (default: %(default)s)")
    parser.add_argument("--contend", type=int, default=0, help="busy processes meanwhile (default: %(default)s)")
    args = parser.parse_args()
    (case,) = select_cases(args.case)
    tasks = build_tasks(case, "step", torch.device("cpu"))
    shares = _parallel.shares

    def split(on: bool) -> None:  # the loops on shares, or in the caller (each product its own region)
        _parallel.shares = shares if on else (lambda device: 1)

    timers = {
        "shares": step_timer(tasks["scratch-manual"], lambda: split(True)),
        "per-product": step_timer(tasks["scratch-manual"], lambda: split(False)),
        "torch": step_timer(tasks["torch"], lambda: split(True)),
    }
    interleaved_report(case.name, timers, args.repeats, args.contend)


if __name__ == "__main__":
    main()
