"""The eager shortcuts (``scratchnn._library``: custom-op kernels called as Python, ``Function.apply`` without
signature binding) against the same code going through the dispatcher and ``torch.autograd.Function.apply``: the
training step's time ratio to torch.nn.

    python benchmarks/eager_shortcuts.py [--case step.mlp.b256] [--repeats 31] [--contend N] [--calls]

Three contenders run in one process, interleaved (the first rotating from round to round), after 3 untimed
rounds: ``shortcuts`` (scratchnn as it runs), ``dispatcher`` (every op call through the dispatcher, every
Function through torch's ``apply``, as torch.compile, torch.func and the other tracers see them) and ``torch``
(torch.nn). The script prints each one's median step time and the two ratios to torch.nn. ``--contend N`` keeps
N other processes spinning on N cores meanwhile. ``--calls`` times single calls instead: the MLP's second layer
(``linear`` of a 256 x 16 input, weight 10 x 16 requiring grad) in microseconds, both ways and torch.nn's. Runtime:
a few seconds for the MLP, about 10 seconds for the CNN, on 2 cores.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import torch

import scratchnn.functional as SF
from scratchnn import _library
from scratchnn.perf import select_cases
from scratchnn.perf.tasks import build_tasks

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _interleave import interleaved_report, step_timer

SHORT = (_library._plain_eager, _library.Function.__dict__["apply"])  # the classmethod itself, not a bound one
LONG = (lambda args: False, torch.autograd.Function.__dict__["apply"])


def shortcuts(on: bool) -> None:
    _library._plain_eager, _library.Function.apply = SHORT if on else LONG


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", default="step.mlp.b256", help="a step case of scratchnn bench (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=31, help="timed rounds (default: %(default)s)")
    parser.add_argument("--contend", type=int, default=0, help="busy processes meanwhile (default: %(default)s)")
    parser.add_argument("--calls", action="store_true", help="time single linear calls instead (microseconds)")
    args = parser.parse_args()
    if args.calls:
        return time_calls(args.repeats)
    (case,) = select_cases(args.case)
    tasks = build_tasks(case, "step", torch.device("cpu"))

    timers = {
        "shortcuts": step_timer(tasks["scratch-manual"], lambda: shortcuts(True)),
        "dispatcher": step_timer(tasks["scratch-manual"], lambda: shortcuts(False)),
        "torch": step_timer(tasks["torch"], lambda: shortcuts(True)),
    }
    interleaved_report(case.name, timers, args.repeats, args.contend)
    shortcuts(True)


def time_calls(repeats: int, calls: int = 2000) -> None:
    """Median microseconds per call of each contender, over ``repeats`` interleaved rounds of ``calls`` calls."""
    g = torch.Generator().manual_seed(0)
    x, w, b = torch.randn(256, 16, generator=g), torch.randn(10, 16, generator=g).requires_grad_(), torch.randn(10)
    contenders = {
        "shortcuts": (True, lambda: SF.linear(x, w, b)),
        "dispatcher": (False, lambda: SF.linear(x, w, b)),
        "torch": (True, lambda: torch.nn.functional.linear(x, w, b)),
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for r in range(repeats + 1):  # the first round warms up
        for name, (on, call) in contenders.items():
            shortcuts(on)
            start = time.perf_counter()
            for _ in range(calls):
                call()
            if r:
                times[name].append((time.perf_counter() - start) / calls)
    shortcuts(True)
    print(f"linear 256x16 -> 10, torch {torch.__version__}, median of {repeats} rounds of {calls} calls")
    for name, t in times.items():
        print(f"{name:12} {1e6 * statistics.median(t):7.1f} us per call")


if __name__ == "__main__":
    main()
