"""Training on several processes: torchrun's environment, the process group and each rank's share of a batch.

``torchrun --nproc-per-node N -m scratchnn train ...`` starts N copies of the command with ``RANK``,
``LOCAL_RANK`` and ``WORLD_SIZE`` (and the rendezvous address) in their environment. Each copy checks its
setup (:func:`check_setup`, :func:`check_examples`) before it joins the others, so an impossible setup ends every
copy the same way before anything is written; then :func:`init_process_group` joins the job with gloo (CPU) or
nccl (CUDA, one device per local rank) and :func:`scratchnn.training.train` wraps the model in
DistributedDataParallel. Every rank draws the same data order from the same seeded generator and trains on its
own contiguous slice of every global batch (:meth:`World.share`), so together the ranks see exactly the batches a
single process would.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

BACKENDS = ("auto", "gloo", "nccl")
LAUNCH_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE")
T = TypeVar("T")


@dataclass(frozen=True)
class Launch:
    """This process's place in a torchrun job, as torchrun's environment variables give it."""

    rank: int
    local_rank: int
    world_size: int


def launch() -> Launch | None:
    """``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` from the environment; ``None`` for a plain command."""
    if "WORLD_SIZE" not in os.environ:
        return None
    try:
        rank, local_rank, world_size = (int(os.environ[name]) for name in LAUNCH_VARS)
    except (KeyError, ValueError):
        got = ", ".join(f"{name}={os.environ.get(name)!r}" for name in LAUNCH_VARS)
        raise ValueError(
            f"torchrun's environment is incomplete: RANK, LOCAL_RANK and WORLD_SIZE must be integers, but got {got}"
        ) from None
    return Launch(rank, local_rank, world_size)


def initialised() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    """The number of processes training together: the process group's size, else torchrun's, else 1."""
    if initialised():
        return dist.get_world_size()
    started = launch()
    return started.world_size if started else 1


def is_rank_zero() -> bool:
    """Whether this process prints and writes: rank 0 of the job, or the only process."""
    if initialised():
        return dist.get_rank() == 0
    return os.environ.get("RANK", "0").strip() == "0"


def check_setup(device_name: str, backend: str) -> None:
    """Refuse a device and backend that cannot train together here, with a ValueError naming both.

    gloo moves CPU (and CUDA) tensors, nccl CUDA tensors only, and torch.distributed has no backend for MPS.
    Under torchrun each process on a host needs a CUDA device of its own when it trains on CUDA. Every process
    on a host comes to the same answer, so rank 0 can report it for all.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, but got backend={backend!r}")
    if backend == "nccl" and device_name in ("cpu", "mps"):
        raise ValueError(
            f"backend 'nccl' cannot train on device {device_name!r}: nccl moves CUDA tensors only "
            "(use --backend gloo, or --device cuda)"
        )
    if backend == "nccl" and not (torch.cuda.is_available() and dist.is_nccl_available()):
        raise ValueError("backend 'nccl' needs CUDA, but no CUDA device is available here (use --backend gloo)")
    started = launch()
    if started is None:
        return
    if device_name == "mps":
        raise ValueError(
            "device 'mps' cannot train under torchrun: torch.distributed has no backend for it "
            "(use --device cpu or cuda)"
        )
    if device_name in ("cuda", "auto") and torch.cuda.is_available():
        per_host = int(os.environ.get("LOCAL_WORLD_SIZE", started.local_rank + 1))
        count = torch.cuda.device_count()
        if per_host > count:
            raise ValueError(
                f"{per_host} processes on this host need a CUDA device each, but it has {count} "
                f"(start at most {count} with --nproc-per-node, or train on --device cpu)"
            )


def check_examples(n_train: int, size: int | None = None) -> None:
    """Every rank needs at least one training example: a ValueError when there are more ranks than examples."""
    size = world_size() if size is None else size
    if size > n_train:
        raise ValueError(
            f"more processes than training examples: world size {size}, but {n_train} training "
            "examples (every process needs at least one)"
        )


def backend_for(device: torch.device, backend: str) -> str:
    """``'auto'``: nccl for CUDA, gloo otherwise."""
    if backend != "auto":
        return backend
    return "nccl" if device.type == "cuda" else "gloo"


def init_process_group(device: torch.device, backend: str) -> None:
    """Join torchrun's job on ``device`` (a no-op for a plain command, or when a group already exists)."""
    if launch() is None or initialised():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend_for(device, backend))


def shutdown() -> None:
    """Leave the process group, if this process joined one."""
    if initialised():
        dist.destroy_process_group()


def check_group(backend: str) -> None:
    """A ValueError when the process group does not use the backend the config asks for."""
    if initialised() and backend != "auto" and dist.get_backend() != backend:
        raise ValueError(f"backend {backend!r} was asked for, but the process group uses {dist.get_backend()!r}")


def from_rank_zero(fn: Callable[[], T]) -> T:
    """``fn()`` on rank 0 only, its result sent to every rank; an exception there is raised on every rank.

    Run directories are created this way: one directory, whose path every rank learns, or one error that every
    rank raises (so none waits forever for a rank that gave up).
    """
    if not initialised():
        return fn()
    box: list[Any] = [None]
    if dist.get_rank() == 0:
        try:
            box = [(True, fn())]
        except Exception as e:
            box = [(False, e)]
    dist.broadcast_object_list(box, src=0)
    ok, value = box[0]
    if not ok:
        raise value
    return value


@dataclass(frozen=True)
class World:
    """The ranks training together (one process: ``World(0, 1)``)."""

    rank: int = 0
    size: int = 1

    @classmethod
    def current(cls) -> World:
        return cls(dist.get_rank(), dist.get_world_size()) if initialised() else cls()

    def share(self, n: int) -> tuple[int, int]:
        """This rank's ``[start, stop)`` of ``n`` consecutive items: contiguous slices whose sizes differ by at
        most one, the first ``n % size`` ranks taking one more (as ``torch.tensor_split``). A rank's slice is
        empty when ``n < size``."""
        q, r = divmod(n, self.size)
        start = self.rank * q + min(self.rank, r)
        return start, start + q + (self.rank < r)

    def sum(self, values: list[float], device: torch.device) -> list[float]:
        """Element-wise sum of ``values`` over the ranks, in float64 (an all-reduce; every rank must call it)."""
        if self.size == 1:
            return values
        total = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(total)
        return total.tolist()
