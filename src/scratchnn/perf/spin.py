"""One competitor of :class:`scratchnn.perf.Contention`: keeps one CPU core busy. It runs as a script of its own,

    python -I spin.py PARENT_PID LIMIT_S

importing neither torch nor scratchnn, so it starts in milliseconds and shares nothing with the benchmark. It writes
one line (``ready``) once it spins, then spins until its parent process is gone (the process was handed to another
parent, so ``os.getppid()`` changed), ``LIMIT_S`` seconds have passed, or a signal ends it.
"""

import os
import sys
import time

CHECK_EVERY = 20_000  # loop iterations between checks of the parent and the clock: about a millisecond


def spin(parent: int, limit_s: float) -> None:
    """Busy-loop on one core while ``parent`` is this process's parent, for ``limit_s`` seconds at the most."""
    deadline = time.monotonic() + limit_s
    while os.getppid() == parent and time.monotonic() < deadline:
        for _ in range(CHECK_EVERY):
            pass


if __name__ == "__main__":
    print("ready", flush=True)
    spin(int(sys.argv[1]), float(sys.argv[2]))
