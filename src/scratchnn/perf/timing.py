"""Wall-clock timing of contenders, interleaved so that drifts of a shared machine hit them all alike.

``measure`` first runs every contender ``warmup`` times (lazy initialisation, allocator caches, compilation), then
``repeats`` rounds in each of which every contender runs once; the starting contender rotates from round to round
so none always runs first. The summary statistic is the median of each contender's samples, which ignores the
occasional sample that a busy neighbour slows down.

On the CPU a sample is ``time.perf_counter()`` around the call. On CUDA kernels run asynchronously, so the clock
is read after ``torch.cuda.synchronize()`` on both sides: a sample is the time from an idle device to an idle
device again, which includes the Python and launch overhead a user pays. Python's garbage collector is paused
while measuring, as ``timeit`` does.

Each CPU sample also counts the process's minor page faults during the call (``getrusage``; Unix only): the first
touch of every 4 KB page the allocator has just mapped from the system traps into the kernel, which zeroes it. A
call whose buffers are served that way pays for it on every call, and the count shows whether it did. Some
sandboxes report no page faults at all (``ru_minflt`` stays 0); there the count is left out (``None``, shown as
``-``) rather than reported as 0.
"""

from __future__ import annotations

import functools
import gc
import mmap
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from .tasks import Task

try:
    import resource
except ImportError:  # not on Windows
    resource = None


def now(device: torch.device) -> float:
    """``time.perf_counter()`` in seconds, after the device has finished its queued work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


@functools.cache
def faults_counted() -> bool:
    """Whether this system counts minor page faults: writing to every page of a fresh 8 MB anonymous mapping must
    raise ``ru_minflt`` (by 2,048 with 4 KB pages, by a few with 2 MB huge pages)."""
    if resource is None:
        return False
    size = 8 << 20
    with mmap.mmap(-1, size) as fresh:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for offset in range(0, size, mmap.PAGESIZE):
            fresh[offset] = 1
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt > before


def minor_faults() -> int | None:
    """Minor page faults of this process so far; ``None`` where the system does not count them."""
    if not faults_counted():
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def sample(task: Task, device: torch.device, faults: list[int] | None = None) -> float:
    """Seconds taken by one ``task.run`` (its ``setup`` untimed); on the CPU its minor page faults are appended to
    ``faults`` if given."""
    state = task.setup()
    count = faults is not None and device.type == "cpu"
    before = minor_faults() if count else None  # read outside the timed window (about 1 us each)
    start = now(device)  # waits for setup's kernels, so they are not billed to run
    task.run(state)
    seconds = now(device) - start
    if before is not None:
        faults.append(minor_faults() - before)
    return seconds


def measure(
    tasks: dict[str, Task],
    device: torch.device,
    repeats: int,
    warmup: int,
    faults: dict[str, list[int]] | None = None,
) -> dict[str, list[float]]:
    """Every contender's samples in seconds: ``warmup`` untimed rounds, then ``repeats`` interleaved rounds. Given
    ``faults``, it also receives each contender's minor page faults per timed sample (CPU, Unix)."""
    names = list(tasks)
    samples: dict[str, list[float]] = {name: [] for name in names}
    if faults is not None:
        faults.update({name: [] for name in names})
    with _gc_paused():
        for _ in range(warmup):
            for name in names:
                sample(tasks[name], device)
        for r in range(repeats):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                samples[name].append(sample(tasks[name], device, None if faults is None else faults[name]))
    return samples


def median_ms(samples: list[float]) -> float:
    """The median of samples in seconds, in milliseconds."""
    return statistics.median(samples) * 1e3


@contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
