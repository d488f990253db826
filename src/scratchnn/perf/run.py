"""The benchmark run: cases x phases x contenders -> one result dict (rows plus the machine it ran on).

Every row holds the median time of one contender in one phase of one case, its ratio to torch.nn's median in the
same phase (``ratio_vs_torch``, below 1 is faster than torch), its peak memory and the ratio of that to torch's
(``mem_ratio``). Ratios, not absolute times, are what carries over from one (shared, noisy) machine to another.
With ``contend``, that many busy processes (:class:`Contention`) compete for the CPU while every case runs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..environment import environment
from ..training import resolve_device
from .cases import Case, select_cases
from .contention import Contention, check_processes
from .memory import peak_bytes
from .tasks import build_tasks, phases
from .timing import measure, median_ms

DEVICES = ("auto", "cpu", "cuda")
QUICK_REPEATS, QUICK_WARMUP = 3, 1
FULL_REPEATS, FULL_WARMUP = 15, 3


@dataclass(frozen=True)
class BenchConfig:
    """The flags of ``scratchnn bench`` (but ``--json``). ``None`` means: resolved by :meth:`resolved`.

    Args:
        device: ``'auto'`` (cuda if available, else cpu), ``'cpu'`` or ``'cuda'``.
        repeats: timed rounds per phase. Default: 15, or 3 with ``quick``.
        warmup: untimed rounds before them (at least 1). Default: 3, or 1 with ``quick``.
        quick: skip the heavy cases (the big conv and the batch of 4,000) and use few repeats.
        compile: also time the training steps under ``torch.compile``. Default: on for cuda, off for cpu, where
            compiling takes one to two minutes per model.
        cases: a glob over case names such as ``'cnn.*'`` or ``'step.*'``; ``None`` runs all.
        contend: competing processes, each keeping one CPU core busy while the cases run (a :class:`Contention`
            from before the first case until the last one ends). Default: 0, a quiet machine.
    """

    device: str = "auto"
    repeats: int | None = None
    warmup: int | None = None
    quick: bool = False
    compile: bool | None = None
    cases: str | None = None
    contend: int = 0

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, but got device={self.device!r}")
        check_processes(self.contend, "contend")
        for name in ("repeats", "warmup"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer, but got {name}={value!r}")

    def resolved(self) -> BenchConfig:
        """Every ``None`` filled in and ``'auto'`` replaced by the device; ValueError if the device is absent."""
        device = ("cuda" if torch.cuda.is_available() else "cpu") if self.device == "auto" else self.device
        resolve_device(device)
        return dataclasses.replace(
            self,
            device=device,
            repeats=self.repeats or (QUICK_REPEATS if self.quick else FULL_REPEATS),
            warmup=self.warmup or (QUICK_WARMUP if self.quick else FULL_WARMUP),
            compile=(device == "cuda") if self.compile is None else self.compile,
        )


def run_bench(
    config: BenchConfig,
    on_case: Callable[[int, int, Case], None] | None = None,
    on_contention: Callable[[Contention], None] | None = None,
) -> dict[str, Any]:
    """Run the selected cases; ``on_case(i, total, case)`` is called before each, ``on_contention(load)`` once the
    competing processes spin (with ``config.contend``). Returns the result dict: the :func:`environment` keys,
    ``config`` (resolved), ``cases`` (name -> description), ``rows``, ``contention``: the processes that competed
    and whether they ``held`` until the last case ended, and ``load_average``: the system's 1, 5 and 15 minute
    load averages at the ``start`` and ``end`` (``None`` where the system has none), which show how busy the
    machine was with other work."""
    config = config.resolved()
    device = torch.device(config.device)
    cases = select_cases(config.cases, config.quick)
    rows, load_start = [], _load_average()
    with Contention(config.contend) as load:
        if on_contention is not None and config.contend:
            on_contention(load)
        for i, case in enumerate(cases):
            if on_case is not None:
                on_case(i, len(cases), case)
            for phase in phases(case, config.compile):
                rows += _measure_phase(case, phase, device, config)
        held = load.running()
    return {
        **environment(device),
        "config": dataclasses.asdict(config),
        "cases": {case.name: case.description for case in cases},
        "rows": rows,
        "contention": {"processes": config.contend, "held": held},
        "load_average": {"start": load_start, "end": _load_average()},
    }


def _load_average() -> list[float] | None:
    """The system's 1, 5 and 15 minute load averages (runnable processes), or ``None`` where it has none."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _measure_phase(case: Case, phase: str, device: torch.device, config: BenchConfig) -> list[dict[str, Any]]:
    tasks = build_tasks(case, phase, device)
    faults: dict[str, list[int]] = {}
    samples = measure(tasks, device, config.repeats, config.warmup, faults)
    peaks = {name: peak_bytes(task, device) for name, task in tasks.items()}
    torch_ms, torch_peak = median_ms(samples["torch"]), peaks["torch"]
    return [
        {
            "case": case.name,
            "phase": phase,
            "contender": name,
            "median_ms": median_ms(samples[name]),
            "ratio_vs_torch": median_ms(samples[name]) / torch_ms,
            "peak_mb": peaks[name] / 1e6,
            "mem_ratio": peaks[name] / torch_peak if torch_peak else None,
            "samples_ms": [s * 1e3 for s in samples[name]],
            "page_faults": statistics.median(faults[name]) if faults[name] else None,
        }
        for name in tasks
    ]


def write_json(result: dict[str, Any], path: str | Path) -> Path:
    """Write ``result`` to a new file ``path``, atomically: a complete temp file beside it is hard-linked to
    ``path``, which fails if ``path`` exists, so nothing is ever overwritten.

    Raises:
        FileExistsError: ``path`` exists. OSError: it cannot be written.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return path
