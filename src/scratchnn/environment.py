"""Where and when a result was measured: device, processes, versions, threads and date, recorded with every run."""

from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from typing import Any

import torch
import torch.distributed as dist

from . import __version__

OPENMP_VARIABLES = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")  # None where not set


def environment(device: torch.device) -> dict[str, Any]:
    """Where and when: device, its name, the processes, versions, threads, the OpenMP variables that shape how
    the threads wait (``None`` where not set) and the date (UTC, ISO 8601).

    In a process group (torchrun) every rank must call it: it gathers each rank's device and host.
    """
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return {
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name(),
        **_processes(device),
        "versions": {
            "torch": torch.__version__,
            "python": platform.python_version(),
            "scratchnn": __version__,
            "cuda": torch.version.cuda,
        },
        "threads": torch.get_num_threads(),
        "openmp": {name: os.environ.get(name) for name in OPENMP_VARIABLES},
        "platform": platform.platform(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _processes(device: torch.device) -> dict[str, Any]:
    """How many processes trained together, with which backend, on how many hosts, and each rank's device."""
    if not (dist.is_available() and dist.is_initialized()):
        return {"world_size": 1, "backend": "none", "hosts": 1, "rank_devices": [str(device)]}
    ranks: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(ranks, (platform.node(), str(device)))
    return {
        "world_size": len(ranks),
        "backend": str(dist.get_backend()),
        "hosts": len({host for host, _ in ranks}),
        "rank_devices": [rank_device for _, rank_device in ranks],
    }


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
