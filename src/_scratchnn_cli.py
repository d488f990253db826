"""The ``scratchnn`` console script: OpenMP's spin setting first, then the command line (:mod:`scratchnn.cli`).

GNU OpenMP (libgomp, PyTorch's CPU thread pool on Linux) reads ``GOMP_SPINCOUNT`` once, when torch loads it: how
many times an idle thread checks for new work before it sleeps. With the default, 300,000, idle threads keep their
cores busy for a while after every parallel region, which on a machine where another process wants those cores
slows every region of a training step (``docs/performance.md`` measures it). This module runs before anything
imports torch and sets ``GOMP_SPINCOUNT=10000`` unless the environment already sets it or ``OMP_WAIT_POLICY``: those
win. A program that imports scratchnn as a library keeps its own environment; set the variable there to get the same.
"""

import os

SPIN_COUNT = "10000"


def main() -> int:
    if "GOMP_SPINCOUNT" not in os.environ and "OMP_WAIT_POLICY" not in os.environ:
        os.environ["GOMP_SPINCOUNT"] = SPIN_COUNT
    from scratchnn.cli import main as command_line  # imports torch, which loads libgomp: after the line above

    return command_line()
