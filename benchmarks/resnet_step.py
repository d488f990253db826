"""One training step of :class:`scratchnn.models.ResNet`, scratch against torch.nn: the time ratio.

A step is what ``scratchnn train`` does per batch: forward in train mode, cross-entropy, backward, Adam's update.
The two twins (same seed, same weights, same batch of random images) are timed in alternation, ``--repeats``
times each after ``--warmup`` untimed steps, so that a machine shared with other work slows both alike; the script
prints the median step time of each and their ratio (scratch / torch.nn). ``--clock cpu`` times with the process's
CPU time instead of the wall clock: with one thread on a machine that other jobs share, it counts only the work of
the step itself. ``--layers`` also times every layer of the network on its own (forward and backward, on an input
of the shape it sees in the network), twin against twin, to show where the ratio comes from.

Usage (the ``compare --preset resnet`` batch size and thread count)::

    PYTHONPATH=src python benchmarks/resnet_step.py --batch-size 128 --threads 1 --clock cpu --layers
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from scratchnn.models import ResNet

CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def step_timer(impl: str, batch_size: int, shape: dict, clock=time.perf_counter):
    """A function that runs one training step of the ``impl`` twin and returns its time in seconds."""
    torch.manual_seed(0)
    model = ResNet(impl, **shape).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(batch_size, 1, 28, 28, generator=generator)  # (N, 1, 28, 28)
    y = torch.randint(0, 10, (batch_size,), generator=generator)  # (N,)

    def step() -> float:
        start = clock()
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        return clock() - start

    return step


def interleaved(timers: dict, repeats: int, warmup: int) -> dict[str, float]:
    """Median time of each of ``timers`` (name -> function returning seconds), run in alternation, and the ratio
    scratch / torch."""
    for _ in range(warmup):
        for timer in timers.values():
            timer()
    times: dict[str, list[float]] = {name: [] for name in timers}
    for _ in range(repeats):
        for name, timer in timers.items():
            times[name].append(timer())
    medians = {name: statistics.median(t) for name, t in times.items()}
    return {**medians, "ratio": medians["scratch"] / medians["torch"]}


def measure(batch_size: int, repeats: int, warmup: int, shape: dict, clock=time.perf_counter) -> dict[str, float]:
    """Median step time of each twin (seconds), timed alternately, and the ratio scratch / torch."""
    timers = {impl: step_timer(impl, batch_size, shape, clock) for impl in ("scratch", "torch")}
    return interleaved(timers, repeats, warmup)


def layer_timers(batch_size: int, shape: dict, clock=time.perf_counter) -> list[tuple[str, dict]]:
    """For every leaf layer of the network: its name and one timer per twin (forward and backward of that layer
    alone, on a random input of the shape it receives in the network)."""
    twins = {impl: ResNet(impl, **shape).train() for impl in ("scratch", "torch")}
    shapes: dict[str, torch.Size] = {}
    leaves = [(name, m) for name, m in twins["torch"].named_modules() if not list(m.children())]

    def record(name):
        def hook(module, inputs, output) -> None:
            shapes[name] = inputs[0].shape

        return hook

    hooks = [module.register_forward_hook(record(name)) for name, module in leaves]
    twins["torch"](torch.randn(batch_size, 1, 28, 28))  # (N, 1, 28, 28)
    for hook in hooks:
        hook.remove()

    def timer(layer, input_shape):
        def run() -> float:
            x = torch.randn(input_shape, requires_grad=True)
            start = clock()
            out = layer(x)
            out.backward(torch.ones_like(out))
            return clock() - start

        return run

    modules = {impl: dict(model.named_modules()) for impl, model in twins.items()}
    return [(name, {impl: timer(modules[impl][name], shapes[name]) for impl in twins}) for name, _ in leaves]


def main(argv: list[str] | None = None) -> float:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=128, help="images per step (default: 128)")
    p.add_argument("--repeats", type=int, default=15, help="timed steps per twin (default: 15)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per twin first (default: 3)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument("--clock", choices=tuple(CLOCKS), default="wall", help="wall or process CPU time (default: wall)")
    p.add_argument("--layers", action="store_true", help="also time each layer alone (default: off)")
    p.add_argument("--widths", type=int, nargs=3, default=(16, 32, 64), help="stage widths (default: 16 32 64)")
    p.add_argument("--blocks", type=int, default=1, help="basic blocks per stage (default: 1)")
    p.add_argument("--strides", type=int, nargs=3, default=(2, 2, 2), help="stage strides (default: 2 2 2)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    shape = {"widths": tuple(args.widths), "blocks": args.blocks, "strides": tuple(args.strides)}
    clock = CLOCKS[args.clock]
    if args.layers:
        for name, timers in layer_timers(args.batch_size, shape, clock):
            r = interleaved(timers, args.repeats, args.warmup)
            print(
                f"{name:24} scratch {r['scratch'] * 1e3:7.2f} ms  torch.nn {r['torch'] * 1e3:7.2f} ms  {r['ratio']:.2f}"
            )
    result = measure(args.batch_size, args.repeats, args.warmup, shape, clock)
    print(
        f"ResNet {shape}, batch {args.batch_size}, {torch.get_num_threads()} threads, {args.clock} clock, median of "
        f"{args.repeats}: scratch {result['scratch'] * 1e3:.1f} ms, torch.nn {result['torch'] * 1e3:.1f} ms, "
        f"ratio {result['ratio']:.2f}"
    )
    return result["ratio"]


if __name__ == "__main__":
    main()
