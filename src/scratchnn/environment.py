"""Where and when a result was measured: device, versions, threads and date, recorded with every run."""

from __future__ import annotations

import platform
from datetime import datetime, timezone
from typing import Any

import torch

from . import __version__


def environment(device: torch.device) -> dict[str, Any]:
    """Where and when: device, its name, versions, threads and the date (UTC, ISO 8601)."""
    return {
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name(),
        "versions": {
            "torch": torch.__version__,
            "python": platform.python_version(),
            "scratchnn": __version__,
            "cuda": torch.version.cuda,
        },
        "threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
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
