"""One training step (forward and backward) of BatchNorm2d: torch.nn against scratchnn's two engines.

``python benchmarks/normalization.py`` times, on each of the ResNet's batch-norm input shapes at batch 128, one
forward in train mode and one backward of each contender, in alternation (the first one rotating from round to
round), ``--repeats`` times after 3 untimed rounds, and prints the median step of each and its ratio to torch.nn's
(float32, CPU). ``--threads 1 --clock cpu`` counts the process's CPU time on one thread: on a machine other jobs
share, that is the step's own work. Runtime: under a minute on 2 CPU cores.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import scratchnn

SHAPES = [(128, 16, 28, 28), (128, 16, 14, 14), (128, 32, 7, 7), (128, 64, 4, 4)]  # the ResNet's, (N, C, H, W)
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def step_timer(layer: nn.Module, x: torch.Tensor, g: torch.Tensor, clock):
    """A function that runs one forward and backward of ``layer`` on a fresh leaf copy of ``x`` and returns its
    time in seconds."""

    def run() -> float:
        leaf = x.clone().requires_grad_()
        start = clock()
        layer(leaf).backward(g)
        return clock() - start

    return run


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=25, help="timed steps per contender and shape (default: 25)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument("--clock", choices=tuple(CLOCKS), default="wall", help="wall or process CPU time (default: wall)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    clock = CLOCKS[args.clock]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.clock} clock, median of {args.repeats}")
    for shape in SHAPES:
        C, x, g = shape[1], torch.randn(shape), torch.randn(shape)
        contenders = {
            "torch.nn": nn.BatchNorm2d(C),
            "manual": scratchnn.BatchNorm2d(C, backward="manual"),
            "autograd": scratchnn.BatchNorm2d(C, backward="autograd"),
        }
        timers = {name: step_timer(layer, x, g, clock) for name, layer in contenders.items()}
        names, times = list(timers), {name: [] for name in timers}
        for _ in range(3):
            for run in timers.values():
                run()
        for r in range(args.repeats):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                times[name].append(timers[name]())
        medians = {name: statistics.median(t) for name, t in times.items()}
        row = ", ".join(f"{name} {t * 1e3:.2f} ms ({t / medians['torch.nn']:.2f}x)" for name, t in medians.items())
        print(f"BatchNorm2d({C}) on {shape}: {row}", flush=True)


if __name__ == "__main__":
    main()
