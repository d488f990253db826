"""Performance of scratchnn against torch.nn, the library behind ``scratchnn bench``: every layer of the CNN and MLP
at its real shape, a larger convolution and whole training steps; time (medians of interleaved repeats) and peak
memory, as ratios to torch.nn, on a quiet machine or beside a competing load (:class:`Contention`).

    result = run_bench(BenchConfig(device="cpu", quick=True))
    print(format_table(result))
    write_json(result, "bench.json")

``scratchnn bench`` and ``python benchmarks/run_all.py`` run it from the command line; the scripts and recorded
results live in the repository's ``benchmarks/`` folder.
"""

from .cases import CASES, LayerCase, StepCase, select_cases
from .contention import Contention
from .memory import cpu_peak_bytes, cuda_peak_bytes, peak_bytes
from .run import BenchConfig, environment, run_bench, write_json
from .table import format_table
from .tasks import Task, build_tasks
from .timing import measure

__all__ = [
    "CASES",
    "BenchConfig",
    "Contention",
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
