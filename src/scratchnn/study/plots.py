"""The study's figures, one function per figure, each returning the PNG bytes of a matplotlib figure.

Every function takes the study's ``result`` dict (its layout is documented in :mod:`scratchnn.study.report`) and
draws on a fresh :class:`matplotlib.figure.Figure`, never through ``pyplot``: no global state, no display
needed, safe in threads and under any backend. The PNGs carry no software/version metadata, so the same result
gives the same bytes on the same matplotlib.

Colours follow the architecture (CNN blue, MLP orange) and line styles the implementation (scratch a wide pale
solid line, torch.nn a thin dashed one drawn on top), so a dashed line running inside its twin's wide line shows
the two implementations agree.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator, MaxNLocator, NullFormatter

COLOURS = {"cnn": "tab:blue", "mlp": "tab:orange", "resnet": "tab:green"}
DPI = 100


def _png(fig: Figure) -> bytes:
    """Render ``fig`` to PNG bytes (without the 'Software' metadata, so the bytes do not name a version)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _colour(entry: dict) -> str:
    return COLOURS.get(entry["model"], "tab:gray")


def _line(entry: dict) -> dict:
    """Plot keywords of one model: its architecture's colour; scratch wide and pale, torch.nn dashed on top."""
    if entry["impl"] == "scratch":
        return {"color": _colour(entry), "linestyle": "-", "linewidth": 4, "alpha": 0.45}
    return {"color": _colour(entry), "linestyle": "--", "linewidth": 1.8}


def _log_ticks(ax) -> None:
    """Label a log-scale y axis with plain numbers, densely enough to read off the curves: every 1..9 multiple of
    a power of ten when the data span about a decade, 1-2-5 up to three decades, powers of ten beyond."""
    low, high = ax.get_ylim()
    decades = math.log10(high / low)
    subs = tuple(range(1, 10)) if decades <= 1.2 else (1.0, 2.0, 5.0) if decades <= 3 else (1.0,)
    ax.yaxis.set_major_locator(LogLocator(subs=subs))
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _epoch_axes(ax, ylabel: str, log: bool) -> None:
    """Integer epochs on x; on a log-scale y axis, plain-number ticks (see :func:`_log_ticks`). Call after plotting."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if log:
        ax.set_yscale("log")
        _log_ticks(ax)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)


def _series(entry: dict, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Epochs and the mean, min and max over seeds of one history column (runs cut to the shortest history)."""
    histories = [run["history"] for run in entry["runs"]]
    length = min(len(h) for h in histories)
    values = np.array([[row[key] for row in h[:length]] for h in histories], dtype=float)  # (seeds, epochs)
    epochs = np.array([row["epoch"] for row in histories[0][:length]])
    return epochs, values.mean(axis=0), values.min(axis=0), values.max(axis=0)


def _spread(models: dict) -> str:
    """How a curve summarises the seeds: a title's suffix."""
    seeds = len(next(iter(models.values()))["runs"])
    return f" (mean over {seeds} seeds, band = min to max)" if seeds > 1 else " (one seed)"


def _grid(fig: Figure, n: int, **kwargs) -> list:
    """``n`` axes on a grid two wide, unused cells removed."""
    rows = math.ceil(n / 2)
    axes = list(np.atleast_1d(fig.subplots(rows, min(n, 2), squeeze=False, **kwargs)).ravel())
    for ax in axes[n:]:
        ax.remove()
    return axes[:n]


def label_distribution(result: dict) -> bytes:
    """Grouped bars: the number of examples of each class in the train and the test split."""
    counts = result["data"]["label_counts"]
    fig = Figure(figsize=(8, 3.6), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(counts["train"]))
    width = 0.4
    for offset, split, colour in ((-width / 2, "train", "tab:green"), (width / 2, "test", "tab:purple")):
        values = np.asarray(counts[split], dtype=float)
        share = 100 * values / max(values.sum(), 1)
        ax.bar(x + offset, share, width, label=f"{split} ({int(values.sum()):,} examples)", color=colour)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.2)
    ax.set_xticks(x)
    ax.set_xlabel("label")
    ax.set_ylabel("share of the split (%)")
    ax.set_title(f"Label distribution of the {result['data']['dataset']} splits")
    ax.legend(loc="upper center", ncol=2)
    return _png(fig)


def loss_curves(result: dict) -> bytes:
    """One panel per model: train and test loss per epoch, mean over seeds with a min-max band."""
    models = result["models"]
    fig = Figure(figsize=(10, 6.4), layout="constrained")
    axes = _grid(fig, len(models), sharex=True, sharey=True)
    for ax, (key, entry) in zip(axes, models.items(), strict=True):
        for split, style in (("train", "-"), ("test", "--")):
            epochs, mean, lo, hi = _series(entry, f"{split}_loss")
            ax.plot(epochs, mean, style, color=_colour(entry), label=f"{split} loss")
            ax.fill_between(epochs, lo, hi, color=_colour(entry), alpha=0.2, linewidth=0)
        ax.set_title(f"{key} ({entry['params']:,} parameters)")
        ax.legend()
    for ax in axes:
        _epoch_axes(ax, "cross-entropy loss", log=True)
        ax.label_outer()
    fig.suptitle(f"Train and test loss per model{_spread(models)}")
    return _png(fig)


def _all_models(result: dict, key: str, ylabel: str, title: str, scale: float = 1.0, log: bool = False) -> bytes:
    """One history column of every model on one chart, mean over seeds with a min-max band."""
    fig = Figure(figsize=(8, 4.4), layout="constrained")
    ax = fig.subplots()
    for name, entry in result["models"].items():
        epochs, mean, lo, hi = _series(entry, key)
        ax.plot(epochs, mean * scale, label=name, **_line(entry))
        ax.fill_between(epochs, lo * scale, hi * scale, color=_colour(entry), alpha=0.12, linewidth=0)
    _epoch_axes(ax, ylabel, log)
    ax.set_title(title + _spread(result["models"]))
    ax.legend(title="scratch wide, torch.nn dashed")
    return _png(fig)


def loss_comparison(result: dict) -> bytes:
    """Test loss per epoch of all models on one log-scale chart."""
    return _all_models(result, "test_loss", "test cross-entropy loss", "Test loss of all four models", log=True)


def accuracy_comparison(result: dict) -> bytes:
    """Test accuracy (in percent) per epoch of all models on one chart."""
    return _all_models(result, "test_accuracy", "test accuracy (%)", "Test accuracy of all four models", scale=100)


def _matrix(ax, matrix: np.ndarray, title: str) -> None:
    """Draw one confusion matrix with its counts written in the cells."""
    ax.imshow(matrix, cmap="Blues")
    threshold = matrix.max() / 2
    for (row, col), count in np.ndenumerate(matrix):
        colour = "white" if count > threshold else "black"
        ax.text(col, row, str(count), ha="center", va="center", fontsize=7, color=colour)
    ticks = np.arange(matrix.shape[0])
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    ax.set_title(title)


def confusion_matrices(result: dict) -> bytes:
    """Test-split confusion matrix (rows true, columns predicted) of each model's first run, counts annotated."""
    models = result["models"]
    fig = Figure(figsize=(10, 10), layout="constrained")
    for ax, (key, entry) in zip(_grid(fig, len(models)), models.items(), strict=True):
        run = entry["runs"][0]
        matrix = np.asarray(run["confusion"], dtype=int)
        accuracy = np.trace(matrix) / max(matrix.sum(), 1)
        _matrix(ax, matrix, f"{key}, seed {run['seed']}: {accuracy:.2%} correct")
    fig.suptitle("Confusion matrices on the test split")
    return _png(fig)


def filters(result: dict) -> bytes:
    """The CNN's first-layer kernels, one small image each, on one shared colour scale centred on zero."""
    kernels = np.asarray(result["artifacts"]["filters"], dtype=float)
    kernels = kernels.reshape(-1, *kernels.shape[-2:])  # (O, kH, kW)
    limit = float(np.abs(kernels).max()) or 1.0
    fig = Figure(figsize=(1.3 * len(kernels) + 1, 2.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(kernels)))
    for index, (ax, kernel) in enumerate(zip(axes, kernels, strict=True)):
        image = ax.imshow(kernel, cmap="RdBu_r", vmin=-limit, vmax=limit)
        for (row, col), value in np.ndenumerate(kernel):
            ax.text(col, row, f"{value:.2f}", ha="center", va="center", fontsize=7)
        ax.set_title(f"filter {index}")
        ax.set_axis_off()
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="weight")
    fig.suptitle("First convolution layer of cnn-scratch after training")
    return _png(fig)


def _maps(subfig, maps: Sequence, rows: int, title: str) -> None:
    """Show ``maps`` on a grid of ``rows`` rows, each on its own colour scale."""
    maps = np.asarray(maps, dtype=float)  # (C, H, W)
    cols = math.ceil(len(maps) / rows)
    axes = np.atleast_1d(subfig.subplots(rows, cols)).ravel()
    for index, ax in enumerate(axes):
        ax.set_axis_off()
        if index < len(maps):
            ax.imshow(maps[index], cmap="viridis")
            ax.set_title(str(index), fontsize=8)
    subfig.suptitle(title)


def feature_maps(result: dict) -> bytes:
    """One test digit, the maps of the CNN's first conv layer and those of its second."""
    artifact = result["artifacts"]["feature_maps"]
    fig = Figure(figsize=(14, 3.2), layout="constrained")
    left, middle, right = fig.subfigures(1, 3, width_ratios=[1.1, 2, 4])
    ax = left.subplots()
    ax.imshow(np.asarray(artifact["image"], dtype=float), cmap="gray_r")
    ax.set_axis_off()
    left.suptitle(f"input (label {artifact['label']})")
    conv1, conv2 = np.asarray(artifact["conv1"]), np.asarray(artifact["conv2"])
    _maps(middle, conv1, 2, f"conv1: {conv1.shape[0]} maps of {conv1.shape[1]}×{conv1.shape[2]}")
    _maps(right, conv2, 2, f"conv2: {conv2.shape[0]} maps of {conv2.shape[1]}×{conv2.shape[2]}")
    return _png(fig)


class FigureSpec(NamedTuple):
    """One figure of the report, under the heading ``section``, saved as ``plots/<name>.png``.

    ``caption`` may use ``{spread}`` (how the seeds are summarised) and ``{seed}`` (the first run's seed).
    """

    section: str
    name: str
    plot: Callable[[dict], bytes]
    title: str
    caption: str
    needs: str = ""  # the entry of result["artifacts"] the figure draws, if any


FIGURES = (  # in the report's order; the label distribution goes with the report's Data section
    FigureSpec(
        "Training",
        "loss_curves",
        loss_curves,
        "Loss curves per model",
        "Train (solid) and test (dashed) loss per epoch, {spread}.",
    ),
    FigureSpec(
        "Training",
        "test_loss",
        loss_comparison,
        "Test loss of all four models",
        "Test loss per epoch (log scale), {spread}; each torch.nn twin (dashed) runs inside its scratch model's "
        "wide line.",
    ),
    FigureSpec(
        "Training",
        "test_accuracy",
        accuracy_comparison,
        "Test accuracy of all four models",
        "Test accuracy per epoch, {spread}.",
    ),
    FigureSpec(
        "Errors",
        "confusion",
        confusion_matrices,
        "Confusion matrices",
        "Test-split predictions of seed {seed}: rows are true labels, columns predicted ones; the diagonal counts "
        "the correct answers.",
    ),
    FigureSpec(
        "Inside the CNN",
        "filters",
        filters,
        "First-layer filters",
        "The 3×3 kernels of cnn-scratch's first convolution after training (seed {seed}), on one colour scale: "
        "red weights excite, blue ones inhibit.",
        needs="filters",
    ),
    FigureSpec(
        "Inside the CNN",
        "feature_maps",
        feature_maps,
        "Feature maps of one digit",
        "A test digit and the maps the CNN's two convolution layers compute from it, each map on its own colour "
        "scale (bright = strong activation).",
        needs="feature_maps",
    ),
)
