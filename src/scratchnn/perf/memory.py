"""Peak memory of one call: how far above its starting level the memory in use rose while the call ran.

CUDA: the caching allocator keeps the statistics. ``torch.cuda.reset_peak_memory_stats`` then the call, then
``max_memory_allocated() - memory_allocated_before`` (bytes of live tensors, not the allocator's cached blocks).

CPU: no allocator statistics exist, so the call runs under ``torch.profiler.profile(profile_memory=True)``, which
records one ``[memory]`` event per allocation (``+bytes``) and per free (``-bytes``) of tensor storage. Sorted by
time, the running sum of those deltas is the memory in use relative to the start of profiling; the peak is its
maximum during the call minus its level when the call began (a ``record_function`` marker). The profiler cannot
size the free of a block allocated before it started, so a task's ``setup`` (e.g. the forward whose saved tensors
a backward releases) runs inside the profile too, after one ``setup`` outside it has released what the previous
sample left behind. Only tensor storage is seen, not the interpreter's or a library's private buffers (e.g. oneDNN
scratch space). The profiler slows the call down, so memory is measured in a run of its own, never while timing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile, record_function

from .tasks import Task

MARK = "scratchnn.perf.call"


def peak_bytes(task: Task, device: torch.device) -> int:
    """Peak bytes above the starting level during ``task.run`` (its ``setup`` runs first, unmeasured)."""
    task.setup()  # releases what the last sample left (cleared gradients), outside any measurement
    if device.type == "cuda":
        state = task.setup()
        return cuda_peak_bytes(lambda: task.run(state), device)
    return cpu_peak_bytes(task.run, task.setup)


def cuda_peak_bytes(fn: Callable[[], Any], device: torch.device) -> int:
    """Peak bytes of live CUDA tensors above the level before ``fn()``, from the caching allocator."""
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    fn()
    torch.cuda.synchronize(device)
    return max(0, torch.cuda.max_memory_allocated(device) - before)


def cpu_peak_bytes(fn: Callable[[Any], Any], setup: Callable[[], Any] = lambda: None) -> int:
    """Peak bytes of CPU tensor storage above the level before ``fn(setup())``, during ``fn`` only: the running sum
    of the profiler's allocation (+) and free (-) events, in time order."""
    os.environ.setdefault("KINETO_LOG_LEVEL", "6")  # the profiler's C++ side otherwise logs start/stop to stderr
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        state = setup()
        with record_function(MARK):
            fn(state)
    events = prof.profiler.kineto_results.events()
    start = min(e.start_ns() for e in events if e.name() == MARK)
    deltas = sorted(  # stable: events at the same instant keep their recorded order
        ((e.start_ns(), e.nbytes()) for e in events if e.name() == "[memory]" and e.device_type() == DeviceType.CPU),
        key=lambda e: e[0],
    )
    level, base, peak = 0, None, 0
    for time_ns, nbytes in deltas:
        if base is None and time_ns >= start:
            base = peak = level
        level += nbytes
        peak = max(peak, level)
    return 0 if base is None else peak - base
