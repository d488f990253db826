"""Benchmarks of scratchnn against torch.nn: every layer of the CNN and MLP at its real shape, a larger convolution
and whole training steps; time (medians of interleaved repeats) and peak memory, as ratios to torch.nn.

    result = run_bench(BenchConfig(device="cpu", quick=True))
    print(format_table(result))
    write_json(result, "bench.json")

``scratchnn bench`` and ``python benchmarks/run_all.py`` run it from the command line.
"""

from .cases import CASES, LayerCase, StepCase, select_cases
from .memory import cpu_peak_bytes, cuda_peak_bytes, peak_bytes
from .run import BenchConfig, environment, run_bench, write_json
from .table import format_table
from .tasks import Task, build_tasks
from .timing import measure

__all__ = [
    "CASES",
    "BenchConfig",
    "LayerCase",
    "StepCase",
    "Task",
    "build_tasks",
    "cpu_peak_bytes",
    "cuda_peak_bytes",
    "environment",
    "format_table",
    "measure",
    "peak_bytes",
    "run_bench",
    "select_cases",
    "write_json",
]
