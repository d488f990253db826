"""The interleaved step timing that ``parallel_shares.py`` and ``eager_shortcuts.py`` share."""

import statistics
import time
from collections.abc import Callable

import torch

from scratchnn.perf import Contention


def step_timer(task, before: Callable[[], None]) -> Callable[[], float]:
    """A function that calls ``before()``, sets ``task`` up and returns the seconds its run takes."""

    def run() -> float:
        before()
        state = task.setup()
        start = time.perf_counter()
        task.run(state)
        return time.perf_counter() - start

    return run


def interleaved_report(case_name: str, timers: dict, repeats: int, contend: int) -> None:
    """Run ``timers`` (name -> seconds, ``torch`` among them) 3 untimed rounds, then ``repeats`` rounds, the first
    rotating from round to round, beside ``contend`` busy processes; print each median and its ratio to torch."""
    names = list(timers)
    times: dict[str, list[float]] = {name: [] for name in names}
    with Contention(contend):
        for _ in range(3):
            for run in timers.values():
                run()
        for r in range(repeats):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                times[name].append(timers[name]())
    medians = {name: 1e3 * statistics.median(t) for name, t in times.items()}
    print(
        f"{case_name}, torch {torch.__version__}, {torch.get_num_threads()} threads, {contend} busy processes, "
        f"median of {repeats} interleaved steps"
    )
    for name in names:
        print(f"{name:12} {medians[name]:9.2f} ms  {medians[name] / medians['torch']:5.2f}x torch")
