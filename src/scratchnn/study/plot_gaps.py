"""The figure behind the verdict: the scratch twin's gap to torch.nn and the rounding control's, per epoch.

One column per architecture, one row per gap (test loss, largest weight difference), one pair of lines per seed,
on log-scale axes: the scratch–torch.nn gap in the architecture's colour, the control–torch.nn gap dashed grey,
and the verdict's bound (``factor`` times the control's largest gap) dotted red. Gaps of exactly zero cannot sit
on a log axis; they are drawn at the bottom edge.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .plots import COLOURS, _png

ROWS = {"test_loss": ("test-loss gap", "|Δ test loss|"), "max_abs_dw": ("largest weight difference", "max |Δw|")}
STYLES = {"scratch": {"linewidth": 1.8}, "control": {"color": "0.4", "linestyle": "--", "linewidth": 1.3}}


def _floor(entry: dict, metric: str) -> float:
    """A tenth of the smallest non-zero gap shown on the axes (where the zeros are drawn)."""
    values = [v for s in entry["seeds"] for gaps in s["gaps"].values() for v in gaps[metric] if v > 0]
    return min(values) / 10 if values else 1e-9


def _panel(ax, arch: str, entry: dict, metric: str) -> None:
    floor = _floor(entry, metric)
    for index, seed in enumerate(entry["seeds"]):
        for role, gaps in seed["gaps"].items():
            values = np.maximum(np.asarray(gaps[metric], dtype=float), floor)
            label = f"{'scratch' if role == 'scratch' else 'control'} – torch.nn" if index == 0 else None
            style = {"color": COLOURS.get(arch, "tab:gray"), **STYLES[role]}
            ax.plot(np.arange(1, len(values) + 1), values, label=label, **style)
    verdict = entry["verdict"]
    title = f"{arch}: {ROWS[metric][0]}"
    if verdict["envelope"]:
        allowed = verdict["factor"] * verdict.get("first_step_ratio", 1.0)
        ax.axhline(allowed * verdict["envelope"][metric], color="tab:red", linestyle=":", label="the verdict's bound")
        title += f" (scratch / control: {verdict['ratio'][metric]:.2g}×)"
    if verdict["exit"] is not None:
        ax.axvline(verdict["exit"]["epoch"], color="tab:red", linewidth=1, label="left the bounds")
    ax.set_yscale("log")
    ax.set_ylim(bottom=floor * 0.8)
    ax.grid(True, which="major", alpha=0.3)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ROWS[metric][1])
    ax.legend(fontsize=8)


def twin_gaps(result: dict) -> bytes:
    """Scratch–torch.nn and control–torch.nn gaps per epoch, every seed, log scale, with the verdict's bound."""
    twins = result["twins"]
    fig = Figure(figsize=(10, 6.6), layout="constrained")
    axes = fig.subplots(len(ROWS), len(twins), squeeze=False, sharex=True)
    for col, (arch, entry) in enumerate(twins.items()):
        for row, metric in enumerate(ROWS):
            _panel(axes[row, col], arch, entry, metric)
    seeds = len(next(iter(twins.values()))["seeds"])
    lines = "one seed" if seeds == 1 else f"{seeds} seeds, one line each"
    fig.suptitle(f"Gap to the torch.nn run per epoch: scratch twin and rounding control ({lines})")
    return _png(fig)
