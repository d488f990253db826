"""Parallel shares: one fork and one join per loop of the plane path, in place of a parallel region per product.

The plane path (:mod:`._plane`) runs a convolution as many matrix products: one per kernel tap and block of
columns. Left to ATen and MKL, each product is an OpenMP parallel region of its own, and each region ends with the
pool's threads waiting for the slowest of them (libgomp's threads spin while they wait). When another process
holds one of the cores, the thread the system has descheduled holds up every region, a few hundred times per
training step (``docs/performance.md`` counts them).

:func:`run_shares` runs a loop's blocks on several threads instead, each of them single-threaded for ATen and MKL
(both keep their thread counts per thread): the calling thread and ``n - 1`` worker threads, for the caller's
``n = torch.get_num_threads()``. Each thread takes the next block not yet taken, until none is left, so a thread
that the system deschedules holds up at most the block it has in hand while the others take the rest; the caller
then waits once for the workers, asleep. The blocks of one loop are independent (each writes its own columns, or
adds to its own thread's partial sum), so they need no lock; torch releases the GIL while a kernel runs, so the
threads multiply at the same time.

With one thread, on a GPU, or with ``SCRATCHNN_PARALLEL_SHARES=0`` in the environment (read at every loop), the
loop runs in the caller as a plain loop, each product a parallel region of its own: faster on an idle machine whose
OpenMP threads spin between regions (``docs/performance.md``), much slower on a loaded one. The workers are
started once per thread count and kept; a forked child starts its own.

A thread makes itself single-threaded with OpenMP's ``omp_set_num_threads`` and MKL's
``mkl_set_num_threads_local``, both of which set the calling thread's count only, called through ``ctypes`` from
the libraries torch has loaded (the caller puts its own counts back when the loop ends). ``torch.set_num_threads``
would do it too, but it also changes settings of the whole process (the default count of threads started later,
MKL's dynamic mode, oneDNN's cache), which a layer must not touch. Where those functions are not found, or ATen
does not run on OpenMP, every loop runs in the caller.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import functools
import itertools
import math
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

T = TypeVar("T")
R = TypeVar("R")

_pools: dict[int, ThreadPoolExecutor] = {}
_lock = threading.Lock()


def _forget_pools() -> None:
    """In a forked child the parent's worker threads do not exist: start afresh."""
    global _lock
    _pools.clear()
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_pools)


SWITCH = "SCRATCHNN_PARALLEL_SHARES"  # "0": every loop in the calling thread, each product its own parallel region


def shares(device: torch.device) -> int:
    """How many threads run a loop on ``device``: the calling thread's intra-op thread count on the CPU (where
    threads can be made single-threaded, and unless the environment sets ``SCRATCHNN_PARALLEL_SHARES=0``), else 1."""
    if device.type != "cpu" or os.environ.get(SWITCH) == "0" or _thread_count_setters() is None:
        return 1
    return torch.get_num_threads()


@functools.cache
def _thread_count_setters() -> tuple[Callable[[int], int], ...] | None:
    """Functions that set the calling thread's OpenMP and (if torch has MKL) MKL thread counts and return the
    previous ones, from the libraries this process has loaded (Linux: ``/proc/self/maps``); ``None`` where ATen's
    backend is not OpenMP or OpenMP's function is not found."""
    if "ATen parallel backend: OpenMP" not in torch.__config__.parallel_info():
        return None
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if len(line.split()) == 6}
    except OSError:
        return None
    libraries = [path for path in sorted(paths) if any(key in os.path.basename(path) for key in LIBRARY_KEYS)]
    omp = _first(libraries, "omp_set_num_threads")  # C: void omp_set_num_threads(int)
    mkl = _first(libraries, "mkl_set_num_threads_local_")  # MKL's Fortran name: int f(const int *), by reference
    if omp is None:
        return None
    omp.argtypes, omp.restype = [ctypes.c_int], None

    def set_omp(count: int) -> int:
        previous = torch.get_num_threads()  # ATen's count is OpenMP's, omp_get_max_threads()
        omp(count)
        return previous

    if mkl is None:
        return (set_omp,)
    mkl.argtypes, mkl.restype = [ctypes.POINTER(ctypes.c_int)], ctypes.c_int
    return set_omp, lambda count: mkl(ctypes.byref(ctypes.c_int(count)))  # 0: back to MKL's process-wide count


LIBRARY_KEYS = ("gomp", "omp", "torch_cpu", "mkl")  # where OpenMP's and MKL's functions live in torch's builds


def _first(paths: list[str], name: str):
    """The function ``name`` of the first library in ``paths`` that has it (already loaded: only looked up)."""
    for path in paths:
        try:
            return getattr(ctypes.CDLL(path), name)
        except (OSError, AttributeError):
            continue
    return None


def _single_threaded(started: threading.Barrier) -> None:
    try:
        torch.get_num_threads()  # ATen's own per-thread set-up first: it would undo the lines below if it ran later
        for set_count in _thread_count_setters():
            set_count(1)
    finally:
        started.wait()


def _pool(workers: int) -> ThreadPoolExecutor:
    """The ``workers`` single-threaded worker threads, started on first use."""
    with _lock:
        pool = _pools.get(workers)
        if pool is None:
            started = threading.Barrier(workers + 1)
            pool = ThreadPoolExecutor(workers, "scratchnn-share", _single_threaded, (started,))
            for _ in range(workers):  # each submit starts a thread, which waits in its initializer: all of them
                pool.submit(lambda: None)
            started.wait()
            _pools[workers] = pool
        return pool


class _Blocks:
    """The items of one loop, handed out one at a time to whichever thread asks first (``next`` on an
    ``itertools.count`` is atomic under the GIL)."""

    def __init__(self, items: Sequence[T]) -> None:
        self.items, self.taken = items, itertools.count()

    def __iter__(self):
        while (i := next(self.taken)) < len(self.items):
            yield self.items[i]


@contextlib.contextmanager
def _caller_single_threaded():
    """The calling thread's OpenMP and MKL counts at 1 inside the block, put back after."""
    previous = [set_count(1) for set_count in _thread_count_setters()]
    try:
        yield
    finally:
        for set_count, count in zip(_thread_count_setters(), previous, strict=True):
            set_count(count)


def _in_mode(inference: bool, work: Callable[[Iterable[T]], R], blocks: Iterable[T]) -> R:
    """``work(blocks)`` in the caller's inference mode and without autograd: both are thread-local, and the loop is
    the inside of an op's kernel, which runs below autograd in the caller."""
    with torch.inference_mode(inference), torch.no_grad():
        return work(blocks)


def _threads(items: Sequence, device: torch.device, threads: int | None) -> int:
    """How many threads :func:`run_shares` runs a loop over ``items`` on."""
    return min(shares(device) if threads is None else threads, len(items))


def thread_buffers(
    like: torch.Tensor, numel: int, items: Sequence, threads: int | None = None
) -> Callable[[], torch.Tensor]:
    """``take()``, which hands each thread that :func:`run_shares` runs a loop over ``items`` on (with the same
    ``threads``) its own empty buffer of ``numel`` elements. The buffers are allocated here, in the caller, and
    stay referenced by ``take`` until the caller drops it, so they are freed in the caller too: ``torch.profiler``
    records memory events per thread, and only the profiled thread's."""
    count = max(1, _threads(items, like.device, threads))
    buffers, taken = [like.new_empty(numel) for _ in range(count)], itertools.count()
    return lambda: buffers[next(taken)]


def run_shares(
    items: Sequence[T], work: Callable[[Iterable[T]], R], device: torch.device, threads: int | None = None
) -> list[R]:
    """``work(blocks)`` on each of :func:`shares` threads, or ``threads`` of them (the caller first), every one
    iterating over the same ``items``, each item going to one thread only; the threads' results, the caller's
    first. With one share, ``[work(items)]`` in the caller, as it is (its own OpenMP threads included)."""
    parts = _threads(items, device, threads)
    if parts <= 1:
        return [work(items)]
    pool, blocks, inference = _pool(parts - 1), _Blocks(items), torch.is_inference_mode_enabled()
    futures = [pool.submit(_in_mode, inference, work, iter(blocks)) for _ in range(parts - 1)]
    try:
        with _caller_single_threaded():
            mine = work(iter(blocks))
    finally:
        concurrent.futures.wait(futures)  # the workers use the caller's tensors: never return before they are done
    return [mine, *(future.result() for future in futures)]


BLOCKS_PER_THREAD = 4  # blocks per thread of a loop: a thread held up by another process then holds up a quarter
# of its share, while the others take the rest
MIN_BLOCK_ELEMENTS = 1 << 16  # of a block of samples' output: below that, handing a block over costs more


def sample_blocks(shape: Sequence[int], device: torch.device) -> list[tuple[int, int]]:
    """``(first, end)`` samples of each block of a batch whose output has ``shape`` ``(N, ...)``: ``N`` split
    evenly into ``BLOCKS_PER_THREAD`` blocks per thread of :func:`shares`, fewer where a block's output would hold
    under ``MIN_BLOCK_ELEMENTS`` elements; one block, the whole batch, when one thread runs the loop."""
    N, per_sample = shape[0], max(1, math.prod(shape[1:]))
    threads = shares(device)
    parts = 1 if threads <= 1 else max(1, min(N, BLOCKS_PER_THREAD * threads, N * per_sample // MIN_BLOCK_ELEMENTS))
    cuts = [N * k // parts for k in range(parts + 1)]
    return [(a, b) for a, b in itertools.pairwise(cuts) if b > a]
