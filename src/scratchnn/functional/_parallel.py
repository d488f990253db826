"""Parallel shares: one fork and one join per loop of the plane path, in place of a parallel region per product.

The plane path (:mod:`._plane`) runs a convolution as many matrix products: one per kernel tap and block of
columns. Left to ATen and MKL, each product is an OpenMP parallel region of its own, and each region ends with the
pool's threads waiting for the slowest of them (libgomp's threads spin while they wait). When another process
holds one of the cores, the thread the system has descheduled holds up every region, a few hundred times per
training step (``docs/performance.md`` counts them).

:func:`run_shares` splits a loop's blocks into one contiguous share per thread instead, and runs each share on a
worker thread whose ATen and MKL run single-threaded (both keep their thread count per thread): the products of a
share run one after the other on one core, and the caller waits once, asleep, for all the shares. The blocks of one
loop are independent (each writes its own columns, or its own partial sum), so a share needs no lock; torch
releases the GIL while a kernel runs, so the shares run at the same time.

The number of shares is the calling thread's ``torch.get_num_threads()``: with one thread, or on a GPU, the loop
runs in the caller as a plain loop. The workers are started once per thread count and kept; a forked child
starts its own.

A worker makes itself single-threaded with OpenMP's ``omp_set_num_threads`` and MKL's
``mkl_set_num_threads_local``, both of which set the calling thread's count only, called through ``ctypes`` from
the libraries torch has loaded. ``torch.set_num_threads`` would do it too, but it also changes settings of the
whole process (the default count of threads started later, MKL's dynamic mode, oneDNN's cache), which a layer
must not touch. Where those functions are not found, or ATen does not run on OpenMP, every loop runs in the caller.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import os
import threading
from collections.abc import Callable, Sequence
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


def shares(device: torch.device) -> int:
    """How many shares a loop on ``device`` is split into: the calling thread's intra-op thread count on the CPU
    (where workers can be made single-threaded), else 1."""
    if device.type != "cpu" or _thread_count_setters() is None:
        return 1
    return torch.get_num_threads()


@functools.cache
def _thread_count_setters() -> tuple[Callable[[int], None], ...] | None:
    """Functions that set the calling thread's OpenMP and (if torch has MKL) MKL thread counts, from the libraries
    this process has loaded (Linux: ``/proc/self/maps``); ``None`` where ATen's backend is not OpenMP or OpenMP's
    function is not found."""
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
    if mkl is None:
        return (omp,)
    mkl.argtypes, mkl.restype = [ctypes.POINTER(ctypes.c_int)], ctypes.c_int
    return omp, lambda count: mkl(ctypes.byref(ctypes.c_int(count)))


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


def _in_mode(inference: bool, work: Callable[[Sequence[T]], R], share: Sequence[T]) -> R:
    """``work(share)`` in the caller's inference mode and without autograd: both are thread-local, and the shares
    are the inside of an op's kernel, which runs below autograd in the caller."""
    with torch.inference_mode(inference), torch.no_grad():
        return work(share)


def run_shares(items: Sequence[T], work: Callable[[Sequence[T]], R], device: torch.device) -> list[R]:
    """``[work(share) for share in the shares of items]``: ``items`` cut into :func:`shares` contiguous shares
    (fewer if there are fewer items), each run on its own single-threaded worker; in the caller if only one."""
    parts = min(shares(device), len(items))
    if parts <= 1:
        return [work(items)]
    cuts = [len(items) * k // parts for k in range(parts + 1)]
    pool, inference = _pool(shares(device)), torch.is_inference_mode_enabled()
    futures = [pool.submit(_in_mode, inference, work, items[a:b]) for a, b in itertools.pairwise(cuts)]
    return [future.result() for future in futures]
