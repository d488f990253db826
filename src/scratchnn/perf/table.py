"""The result of :func:`scratchnn.perf.run_bench` as a text table, one line per case, phase and contender."""

from __future__ import annotations

from typing import Any

HEADER = ("case", "phase", "contender", "median ms", "x torch", "peak MB", "mem x torch", "page faults")


def format_table(result: dict[str, Any]) -> str:
    """A header naming the machine, then the rows; ratios to torch.nn with 2 decimals, a rule between cases."""
    cells = [HEADER] + [_cells(row) for row in result["rows"]]
    widths = [max(len(line[i]) for line in cells) for i in range(len(HEADER))]
    lines = [_title(result), _line(HEADER, widths), "  ".join("-" * w for w in widths)]
    previous = None
    for row, line in zip(result["rows"], cells[1:], strict=True):
        if previous is not None and row["case"] != previous:
            lines.append("")
        lines.append(_line(line, widths))
        previous = row["case"]
    return "\n".join(lines)


def _title(result: dict[str, Any]) -> str:
    config, versions = result["config"], result["versions"]
    return (
        f"scratchnn {versions['scratchnn']} bench on {result['device']} ({result['device_name']}, "
        f"{result['threads']} threads{_spin(result.get('openmp'))}), torch {versions['torch']}, {result['date']}; "
        f"median of {config['repeats']} interleaved repeats after {config['warmup']} warm-up rounds; "
        f"{_load(result.get('contention'))}"
    )


def _spin(openmp: dict[str, Any] | None) -> str:
    """The OpenMP wait settings in force, if any was set (``GOMP_SPINCOUNT``, ``OMP_WAIT_POLICY``)."""
    chosen = [
        f"{name}={value}" for name, value in (openmp or {}).items() if value is not None and name != "OMP_NUM_THREADS"
    ]
    return f", {', '.join(chosen)}" if chosen else ""


def _load(contention: dict[str, Any] | None) -> str:
    """The load the bench started beside itself (``--contend``): none, or N busy processes, and whether they held.
    Other programs running on the machine are not known to it."""
    if not contention or not contention["processes"]:
        return "no competing load started"
    n = contention["processes"]
    held = "" if contention["held"] else " (ended before the last case: figures partly without load)"
    return f"beside {n} busy process{'es' * (n > 1)} it started, one per core{held}"


def _cells(row: dict[str, Any]) -> tuple[str, ...]:
    mem_ratio = "-" if row["mem_ratio"] is None else f"{row['mem_ratio']:.2f}"
    faults = "-" if row.get("page_faults") is None else f"{row['page_faults']:.0f}"
    return (
        row["case"],
        row["phase"],
        row["contender"],
        f"{row['median_ms']:.3f}",
        f"{row['ratio_vs_torch']:.2f}",
        f"{row['peak_mb']:.2f}",
        mem_ratio,
        faults,
    )


def _line(cells: tuple[str, ...], widths: list[int]) -> str:
    """Text columns left-aligned, number columns right-aligned."""
    return "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
