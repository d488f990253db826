"""One training step (forward and backward) of BatchNorm2d: torch.nn against scratchnn's two engines.

``python benchmarks/normalization.py`` prints, per shape, the best of three interleaved rounds of 20 steps each
(float32, CPU, ``torch.set_num_threads(2)``) and each contender's ratio to torch.nn. Runtime: about a minute on
2 CPU cores.
"""

import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import scratchnn

SHAPES = [(128, 16, 28, 28), (128, 64, 7, 7)]  # (N, C, H, W): a small ResNet's first and last stage
STEPS, ROUNDS, WARMUP = 20, 3, 3


def step_seconds(layer: nn.Module, x: torch.Tensor) -> float:
    """Mean seconds of one forward and backward over ``STEPS`` steps, after ``WARMUP`` untimed ones."""
    g = torch.randn_like(x)
    for i in range(WARMUP + STEPS):
        if i == WARMUP:
            start = time.perf_counter()
        layer(x.clone().requires_grad_()).backward(g)
    return (time.perf_counter() - start) / STEPS


def main() -> None:
    torch.set_num_threads(2)
    for shape in SHAPES:
        C, x = shape[1], torch.randn(shape)
        contenders = {
            "torch.nn": nn.BatchNorm2d(C),
            "manual": scratchnn.BatchNorm2d(C, backward="manual"),
            "autograd": scratchnn.BatchNorm2d(C, backward="autograd"),
        }
        rounds = [{name: step_seconds(layer, x) for name, layer in contenders.items()} for _ in range(ROUNDS)]
        best = {name: min(r[name] for r in rounds) for name in contenders}  # rounds interleave the contenders
        row = ", ".join(f"{name} {t * 1e3:.1f} ms ({t / best['torch.nn']:.2f}x)" for name, t in best.items())
        print(f"BatchNorm2d({C}) on {shape}: {row}")


if __name__ == "__main__":
    main()
