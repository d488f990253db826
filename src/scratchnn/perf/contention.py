"""A competing load for a measurement: processes that each keep one CPU core busy while it runs, as a notebook or a
second training does on a user's machine.

    with Contention(1):          # one core busy until the block ends
        run_the_measurement()

Each competitor is a bare Python interpreter running :mod:`spin <scratchnn.perf.spin>` (a busy loop), not a fork of
this process: it imports nothing, starts in milliseconds, and shares no threads or locks with torch. They are
stopped however the measurement ends:

- ``__exit__`` calls :meth:`Contention.stop` on normal exit and on every exception, ``KeyboardInterrupt`` (Ctrl-C,
  SIGINT) included: SIGTERM to each competitor, then SIGKILL to one that has not ended within 5 seconds, and a
  ``wait`` that reaps it, so not even a zombie is left;
- while competitors run, SIGTERM raises ``SystemExit(143)`` in this process (if it is the main thread and SIGTERM
  had its default action, which is restored afterwards), so ``kill PID`` unwinds through ``__exit__`` too;
- an ``atexit`` hook stops competitors still running when the interpreter exits;
- each competitor runs in a session of its own, so Ctrl-C on a terminal reaches only this process, which stops it;
- a competitor also ends by itself when this process is gone (SIGKILL runs no handler: on Unix it notices that
  its parent changed within about a millisecond) and after ``limit_s`` seconds at the most.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

SPIN = Path(__file__).with_name("spin.py")
STOP_TIMEOUT_S = 5.0
DEFAULT_LIMIT_S = 3600.0


def cores() -> int:
    """How many CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def check_processes(value: object, name: str = "processes") -> int:
    """``value`` if it is a number of competitors this machine has cores for (0 to :func:`cores`), else ValueError."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= cores():
        raise ValueError(f"{name} must be an integer from 0 to the {cores()} CPU cores, but got {name}={value!r}")
    return value


class Contention:
    """``processes`` competitors, each spinning on one core from :meth:`start` to :meth:`stop` (or the end of the
    ``with`` block), for ``limit_s`` seconds at the most. ``Contention(0)`` starts nothing.

    Args:
        processes: busy processes to run, from 0 to the number of CPU cores.
        limit_s: each competitor ends by itself after this many seconds (default: an hour).
    """

    def __init__(self, processes: int, limit_s: float = DEFAULT_LIMIT_S) -> None:
        self.processes = check_processes(processes)
        if not limit_s > 0:
            raise ValueError(f"limit_s must be positive, but got limit_s={limit_s!r}")
        self.limit_s = float(limit_s)
        self._competitors: list[subprocess.Popen] = []
        self._previous_sigterm = None

    @property
    def pids(self) -> list[int]:
        """The process ids of the competitors started (and not yet stopped)."""
        return [p.pid for p in self._competitors]

    def running(self) -> bool:
        """Whether every competitor started is still spinning (none ended early, e.g. at ``limit_s``)."""
        return all(p.poll() is None for p in self._competitors)

    def start(self) -> Contention:
        """Start the competitors and return once each one spins. RuntimeError if already started."""
        if self._competitors:
            raise RuntimeError("this Contention is already running; stop() it first")
        atexit.register(self.stop)
        self._catch_sigterm()
        command = [sys.executable, "-I", str(SPIN), str(os.getpid()), repr(self.limit_s)]
        try:
            for _ in range(self.processes):
                p = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
                self._competitors.append(p)
                with p.stdout:
                    ready = p.stdout.readline()  # blocks until it spins; b"" if it died first
                if ready != b"ready\n":
                    raise RuntimeError(f"a competing process did not start: {command} exited with {p.wait()}")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """End every competitor (SIGTERM, SIGKILL after 5 s) and reap it; restore SIGTERM's handler. Idempotent."""
        for p in self._competitors:
            if p.poll() is None:
                p.terminate()
        for p in self._competitors:
            try:
                p.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self._competitors = []
        self._restore_sigterm()
        atexit.unregister(self.stop)

    def __enter__(self) -> Contention:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _catch_sigterm(self) -> None:
        """While competitors run, SIGTERM raises SystemExit, so that ``with`` blocks and ``finally`` clauses run."""
        main = threading.current_thread() is threading.main_thread()
        if self.processes and main and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            self._previous_sigterm = signal.signal(signal.SIGTERM, _exit_on_sigterm)

    def _restore_sigterm(self) -> None:
        if self._previous_sigterm is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)
