"""Two processes against one on the CPU: time per training step, and how far the two runs' weights drift apart.

    python benchmarks/distributed.py [--repeats 3] [--model cnn] [--epochs 2] [--batch-size 64]
                                     [--train-size 4000] [--optimizer adam] [--lr 0.01]

Trains with :func:`scratchnn.training.train` (this checkout's ``src/``) three ways, interleaved — each round runs
all three, so a machine shared with other work slows them alike — for ``--repeats`` rounds:

- ``1 process, 1 thread``  (``OMP_NUM_THREADS=1``)
- ``1 process, 2 threads`` (``OMP_NUM_THREADS=2``)
- ``2 processes, 1 thread each`` (``torchrun --nproc-per-node 2``, gloo on 127.0.0.1)

Each run times only the training (not Python's start-up or the rendezvous): the wall time per optimizer step, and
the CPU time per step summed over the processes (``time.process_time``), which counts the work done whatever
share of the cores the machine gives the run. A test set of 10 images keeps evaluation out of both. Prints each
variant's medians and their ratios to one process with one thread, then the largest difference of the weights and
of the per-epoch losses between the 2-process run and the 1-thread process (all runs ``deterministic``).
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
sys.path.insert(0, str(SRC))

import torch  # noqa: E402

from scratchnn.data import prepare_data  # noqa: E402
from scratchnn.training import TrainConfig, train  # noqa: E402
from scratchnn.training.distributed import World, init_process_group, is_rank_zero, shutdown  # noqa: E402

VARIANTS = {"1 process, 1 thread": (1, 1), "1 process, 2 threads": (1, 2), "2 processes, 1 thread each": (2, 1)}
SETTINGS = ("model", "epochs", "batch_size", "train_size", "optimizer", "lr")


def worker(args: argparse.Namespace) -> None:
    """One timed training run (one process, or one rank of a torchrun job); rank 0 saves the result."""
    config = TrainConfig(**{k: getattr(args, k) for k in SETTINGS}, test_size=10, device="cpu", deterministic=True)
    data, _ = prepare_data(config.dataset, None, False, config.train_size, config.test_size)
    init_process_group(torch.device("cpu"), "gloo")
    wall, cpu = time.perf_counter(), time.process_time()
    result = train(config, data)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    (cpu_all,) = World.current().sum([cpu], torch.device("cpu"))
    if is_rank_zero():
        steps = config.epochs * -(-len(data.y_train) // config.batch_size)
        state = {"model": result.model.state_dict(), "history": result.history}
        torch.save({"wall": wall / steps, "cpu": cpu_all / steps, **state}, args.save)
    shutdown()


def run(processes: int, threads: int, argv: list[str], save: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, __file__, *argv, "--worker", "--save", str(save)]
    if processes > 1:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        launcher = ["-m", "torch.distributed.run", "--nproc-per-node", str(processes), "--master-addr", "127.0.0.1"]
        cmd = [sys.executable, *launcher, "--master-port", str(port), *cmd[1:]]
    subprocess.run(cmd, env=env, check=True)
    return torch.load(save, weights_only=True)


def drift(a: dict, b: dict) -> tuple[float, float]:
    """The largest weight difference and the largest per-epoch loss difference between two runs."""
    weights = max((a["model"][k] - b["model"][k]).abs().max().item() for k in a["model"])
    pairs = zip(a["history"], b["history"], strict=True)
    return weights, max(abs(x[k] - y[k]) for x, y in pairs for k in ("train_loss", "test_loss"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--model", default="cnn", help="cnn or mlp (default cnn)")
    p.add_argument("--epochs", type=int, default=2, help="epochs per run (default 2)")
    p.add_argument("--batch-size", type=int, default=64, help="the global batch (default 64)")
    p.add_argument("--train-size", type=int, default=4000, help="training images (default 4000)")
    p.add_argument("--optimizer", default="adam", help="adam or sgd (default adam)")
    p.add_argument("--lr", type=float, default=0.01, help="learning rate (default 0.01)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--save", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    argv = [a for k in SETTINGS for a in (f"--{k.replace('_', '-')}", str(getattr(args, k)))]
    samples: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            for name, shape in VARIANTS.items():
                samples[name].append(run(*shape, argv, Path(tmp) / "result.pt"))
    base = {key: statistics.median(s[key] for s in samples["1 process, 1 thread"]) for key in ("wall", "cpu")}
    print(f"{'variant':<28} {'wall ms/step':>12} {'ratio':>6} {'CPU ms/step':>12} {'ratio':>6}")
    for name, runs in samples.items():
        wall, cpu = (statistics.median(s[key] for s in runs) for key in ("wall", "cpu"))
        ratios = f"{wall / base['wall']:>6.2f} {cpu * 1e3:>12.1f} {cpu / base['cpu']:>6.2f}"
        print(f"{name:<28} {wall * 1e3:>12.1f} {ratios}")
    weights, losses = drift(samples["1 process, 1 thread"][-1], samples["2 processes, 1 thread each"][-1])
    print(f"2 processes vs 1: largest weight difference {weights:.2e}, largest loss difference {losses:.2e}")


if __name__ == "__main__":
    main()
