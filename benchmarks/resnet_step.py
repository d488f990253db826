"""One training step of :class:`scratchnn.models.ResNet`, scratch against torch.nn: the time ratio.

A step is what ``scratchnn train`` does per batch: forward in train mode, cross-entropy, backward, Adam's update.
The two twins (same seed, same weights, same batch of random images) are timed in alternation, ``--repeats``
times each after ``--warmup`` untimed steps, so that a machine shared with other work slows both alike; the script
prints the median step time of each and their ratio (scratch / torch.nn).

Usage (the ``compare --preset resnet`` batch size, both cores)::

    PYTHONPATH=src python benchmarks/resnet_step.py --batch-size 128 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from scratchnn.models import ResNet


def step_timer(impl: str, batch_size: int, shape: dict):
    """A function that runs one training step of the ``impl`` twin and returns its wall time in seconds."""
    torch.manual_seed(0)
    model = ResNet(impl, **shape).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(batch_size, 1, 28, 28, generator=generator)  # (N, 1, 28, 28)
    y = torch.randint(0, 10, (batch_size,), generator=generator)  # (N,)

    def step() -> float:
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        return time.perf_counter() - start

    return step


def measure(batch_size: int, repeats: int, warmup: int, shape: dict) -> dict[str, float]:
    """Median step time of each twin (seconds), timed alternately, and the ratio scratch / torch."""
    steps = {impl: step_timer(impl, batch_size, shape) for impl in ("scratch", "torch")}
    for _ in range(warmup):
        for step in steps.values():
            step()
    times: dict[str, list[float]] = {impl: [] for impl in steps}
    for _ in range(repeats):
        for impl, step in steps.items():
            times[impl].append(step())
    medians = {impl: statistics.median(t) for impl, t in times.items()}
    return {**medians, "ratio": medians["scratch"] / medians["torch"]}


def main(argv: list[str] | None = None) -> float:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=128, help="images per step (default: 128)")
    p.add_argument("--repeats", type=int, default=15, help="timed steps per twin (default: 15)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per twin first (default: 3)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument("--widths", type=int, nargs=3, default=(16, 32, 64), help="stage widths (default: 16 32 64)")
    p.add_argument("--blocks", type=int, default=1, help="basic blocks per stage (default: 1)")
    p.add_argument("--strides", type=int, nargs=3, default=(2, 2, 2), help="stage strides (default: 2 2 2)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    shape = {"widths": tuple(args.widths), "blocks": args.blocks, "strides": tuple(args.strides)}
    result = measure(args.batch_size, args.repeats, args.warmup, shape)
    print(
        f"ResNet {shape}, batch {args.batch_size}, "
        f"{torch.get_num_threads()} threads, median of {args.repeats}: scratch {result['scratch'] * 1e3:.1f} ms, "
        f"torch.nn {result['torch'] * 1e3:.1f} ms, ratio {result['ratio']:.2f}"
    )
    return result["ratio"]


if __name__ == "__main__":
    main()
