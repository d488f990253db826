"""Two processes against one on the CPU: seconds per training step, and how far the two runs' weights drift apart.

    python benchmarks/distributed.py [--repeats 3] [--model cnn] [--epochs 2] [--batch-size 64]
                                     [--train-size 4000] [--optimizer adam] [--lr 0.01]

Runs ``scratchnn train`` (this checkout's ``src/``) three ways, interleaved — each round runs all three, so a
machine shared with other work slows them alike — for ``--repeats`` rounds:

- ``1 process, 1 thread``  (``OMP_NUM_THREADS=1``)
- ``1 process, 2 threads`` (``OMP_NUM_THREADS=2``)
- ``2 processes, 1 thread each`` (``torchrun --nproc-per-node 2``, gloo on 127.0.0.1)

A step's time is the run's training wall time over its optimizer steps (a test set of 10 images keeps evaluation
out of it). Prints each variant's median and its ratio to one process with one thread, then the largest
difference of the weights and of the per-epoch losses between the 2-process run and the 1-thread process (both
``--deterministic``). Runtime on 2 CPU cores with the defaults: about 2 minutes.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

SRC = Path(__file__).resolve().parent.parent / "src"
VARIANTS = {"1 process, 1 thread": (1, 1), "1 process, 2 threads": (1, 2), "2 processes, 1 thread each": (2, 1)}


def run(out: Path, processes: int, threads: int, flags: list[str]) -> Path:
    """One ``scratchnn train`` run; returns its run directory."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "scratchnn", "train", *flags, "--out", str(out), "--quiet"]
    if processes > 1:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        launcher = ["-m", "torch.distributed.run", "--nproc-per-node", str(processes), "--master-addr", "127.0.0.1"]
        cmd = [sys.executable, *launcher, "--master-port", str(port), *cmd[1:]]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        sys.exit(result.stderr)
    return Path(result.stdout.strip().splitlines()[-1])


def seconds_per_step(run_dir: Path, train_size: int, batch_size: int) -> float:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    steps = len(metrics["history"]) * -(-train_size // batch_size)
    return metrics["wall_time"] / steps


def drift(a: Path, b: Path) -> tuple[float, float]:
    """The largest weight difference and the largest per-epoch loss difference between two runs."""
    wa, wb = (torch.load(d / "checkpoint.pt", weights_only=True)["model"] for d in (a, b))
    weights = max((wa[k] - wb[k]).abs().max().item() for k in wa)
    ha, hb = (json.loads((d / "metrics.json").read_text())["history"] for d in (a, b))
    losses = max(abs(x[k] - y[k]) for x, y in zip(ha, hb, strict=True) for k in ("train_loss", "test_loss"))
    return weights, losses


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--model", default="cnn", help="cnn or mlp (default cnn)")
    p.add_argument("--epochs", type=int, default=2, help="epochs per run (default 2)")
    p.add_argument("--batch-size", type=int, default=64, help="the global batch (default 64)")
    p.add_argument("--train-size", type=int, default=4000, help="training images (default 4000)")
    p.add_argument("--optimizer", default="adam", help="adam or sgd (default adam)")
    p.add_argument("--lr", type=float, default=0.01, help="learning rate (default 0.01)")
    args = p.parse_args()
    flags = [
        *("--model", args.model, "--epochs", str(args.epochs), "--batch-size", str(args.batch_size)),
        *("--train-size", str(args.train_size), "--test-size", "10", "--optimizer", args.optimizer),
        *("--lr", str(args.lr), "--device", "cpu", "--deterministic", "--checkpoint-every", "0", "--seed", "0"),
    ]
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            dirs = {name: run(Path(tmp), *shape, flags) for name, shape in VARIANTS.items()}
            for name, run_dir in dirs.items():
                times[name].append(seconds_per_step(run_dir, args.train_size, args.batch_size))
        weights, losses = drift(dirs["1 process, 1 thread"], dirs["2 processes, 1 thread each"])
    base = statistics.median(times["1 process, 1 thread"])
    print(f"{'variant':<28} {'ms/step (median)':>17} {'vs 1 process, 1 thread':>23}")
    for name, samples in times.items():
        print(f"{name:<28} {statistics.median(samples) * 1e3:>17.2f} {statistics.median(samples) / base:>22.2f}x")
    print(f"2 processes vs 1: largest weight difference {weights:.2e}, largest loss difference {losses:.2e}")


if __name__ == "__main__":
    main()
