"""The study's report: ``report.html`` (self-contained), ``report.md`` and ``plots/*.png`` in a run directory.

:func:`write_report` takes the plain, JSON-serialisable ``result`` dict of ``scratchnn compare``::

    result = {
      "config": {...},          # the resolved study config: preset, epochs, batch_size, lr per model, seeds, ...
      "environment": {"device": "cpu", "device_name": str, "torch": str, "python": str, "scratchnn": str,
                      "threads": int, "date": "2026-11-25T14:00:00"},
      "data": {"dataset": "mnist", "source": str, "train_size": int, "test_size": int,
               "label_counts": {"train": [10 ints], "test": [10 ints]}},
      "models": {               # keys cnn-scratch, cnn-torch, mlp-scratch, mlp-torch
        "cnn-scratch": {"model": "cnn", "impl": "scratch", "params": 11146,
                        "runs": [{"seed": 0, "wall_time": float,         # seconds, one run
                                  "history": [{"epoch": 1, "train_loss": float, "train_accuracy": float,
                                               "test_loss": float, "test_accuracy": float}, ...],
                                  "final": {"train_loss": float, "test_loss": float, "test_accuracy": float},
                                  "confusion": [[10 ints] x 10]}, ...]}, # rows true, columns predicted (test)
        ...},
      "summary": {"cnn-scratch": {"params": int, "test_loss_mean": float, "test_loss_std": float,
                                  "test_accuracy_mean": float, "test_accuracy_std": float,
                                  "wall_time_mean": float}, ...},
      "controls": {"cnn-control": {...}, "mlp-control": {...}},  # like "models" (no confusion); {} without control
      "twins": {"cnn": {"seeds": [{"seed": 0,
                                   "first_step": {"scratch": {"loss": float, "grad": float}, "control": {...}},
                                   "gaps": {"scratch": {"test_loss": [per epoch], "train_loss": [...],
                                                        "test_accuracy": [...], "max_abs_dw": [...]},
                                            "control": {...}}}, ...],   # "control" absent with --no-control
                        "verdict": {...}},                               # see scratchnn.study.verdict
                "mlp": {...}},
      "twin_gap": {"cnn": {"max_test_loss_gap": float, "max_train_loss_gap": float,
                           "max_test_accuracy_gap": float, "final_max_param_diff": float}, "mlp": {...}},
      "control_gap": {...},     # the same for the control against torch.nn; {} without control
      "artifacts": {"filters": [8 x 3 x 3] (or [8 x 1 x 3 x 3]),   # cnn-scratch conv1 kernels, seed 0
                    "feature_maps": {"label": int, "image": [28 x 28], "conv1": [8 x 30 x 30],
                                     "conv2": [16 x 15 x 15]}},
    }

Accuracies are fractions in [0, 1] (the report shows percent); losses are mean cross-entropy; a twin gap is the
largest absolute difference between a scratch model (or the control) and the torch.nn run over every epoch of every
seed.
``artifacts`` and either of its entries may be absent: their figures are then left out.

The content is built once as a list of blocks (:class:`Heading`, :class:`Paragraph`, :class:`Table`,
:class:`Image`) and rendered twice, by :mod:`.report_html` and :mod:`.report_md`, which escape all text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from ..data import DATASETS
from . import plot_gaps, plots, report_html, report_md

TITLE = "scratchnn study: from-scratch layers against torch.nn"
ARCHITECTURES = {"cnn": "a small CNN", "mlp": "an MLP", "resnet": "a ResNet-8 with batch norm"}
TIMING_NOISE = (
    "Wall times are those of this run on a machine that may be shared: they can differ several-fold between runs "
    "when other processes compete for the CPU, so compare them only within one report."
)


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2
    kind: ClassVar[str] = "heading"


@dataclass(frozen=True)
class Paragraph:
    text: str
    kind: ClassVar[str] = "paragraph"


@dataclass(frozen=True)
class Table:
    """A table of strings; ``numeric`` right-aligns every column but the first; ``id`` names the HTML table."""

    header: tuple[str, ...]
    rows: list[tuple[str, ...]]
    id: str = ""
    numeric: bool = False
    kind: ClassVar[str] = "table"


@dataclass(frozen=True)
class Image:
    """A figure: ``plots/<name>.png``, numbered in order of appearance."""

    name: str
    number: int
    title: str
    caption: str
    png: bytes = field(repr=False)
    kind: ClassVar[str] = "image"


def _pm(mean: float, std: float, digits: int = 4, scale: float = 1.0, unit: str = "") -> str:
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}{unit}"


def _value(value) -> str:
    """A config or environment value as text: strings as they are, lists joined, anything else as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return ", ".join(_value(item) for item in value)
    return json.dumps(value)


def _flatten(mapping: dict, prefix: str = "") -> list[tuple[str, str]]:
    """Key-value rows of a nested dict, nested keys joined with dots (``lr.cnn-scratch``)."""
    rows = []
    for key, value in mapping.items():
        if isinstance(value, dict):
            rows.extend(_flatten(value, f"{prefix}{key}."))
        else:
            rows.append((f"{prefix}{key}", _value(value)))
    return rows


def _seeds(result: dict) -> list[int]:
    return [run["seed"] for run in next(iter(result["models"].values()))["runs"]]


def _intro(result: dict) -> list:
    models, data = result["models"], result["data"]
    params = {entry["model"]: entry["params"] for entry in models.values()}
    seeds = _seeds(result)
    if len(seeds) > 1:
        spread = f"Each model was trained with {len(seeds)} seeds ({_value(seeds)}); tables give the mean ± standard "
        spread += "deviation over seeds and figures the mean with a band from the lowest to the highest seed."
    else:
        spread = (
            f"Each model was trained with one seed ({seeds[0]}), so every number is a single run and there is no "
            "spread to show; pass --seeds 3 or more for a mean and standard deviation."
        )
    names = [f"{ARCHITECTURES.get(model, model)} ({count:,} parameters)" for model, count in params.items()]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    text = (
        f"This report compares {len(models)} models trained on {data['dataset']} ({data['train_size']:,} training "
        f"and {data['test_size']:,} test images): {listed}, each built twice: once from scratchnn's layers, whose "
        "forward and backward passes are written by hand on torch tensors, and once from torch.nn. The twins start "
        "from identical weights and are trained the same way, so any difference between them measures how far the "
        "from-scratch implementation drifts from torch.nn"
        + ("; the models of different architectures show what the convolution buys. " if len(params) > 1 else ". ")
        + spread
    )
    env = result["environment"]
    meta = f"Run {env.get('date', '?')} on {env.get('device', '?')} ({env.get('device_name', '?')})."
    return [Heading(TITLE, 1), Paragraph(text), Paragraph(meta)]


def _summary(result: dict) -> list:
    spread = len(_seeds(result)) > 1
    rows = []
    for key, s in result["summary"].items():
        loss, acc = f"{s['test_loss_mean']:.4f}", f"{100 * s['test_accuracy_mean']:.2f} %"
        if spread:
            loss = _pm(s["test_loss_mean"], s["test_loss_std"])
            acc = _pm(s["test_accuracy_mean"], s["test_accuracy_std"], 2, 100, " %")
        rows.append((key, f"{s['params']:,}", loss, acc, f"{s['wall_time_mean']:.1f} s"))
    epochs = len(next(iter(result["models"].values()))["runs"][0]["history"])
    header = ("model", "parameters", "final test loss", "final test accuracy", "wall time per run")
    how = "mean ± standard deviation over seeds; wall time is the mean per run." if spread else "one seed."
    return [
        Heading("Summary"),
        Paragraph(f"After {epochs} epochs; {how} {TIMING_NOISE}"),
        Table(header, rows, id="summary", numeric=True),
    ]


def _gap_rows(result: dict) -> list[tuple[str, ...]]:
    rows = []
    for arch, twins in result["twins"].items():
        for role, gaps in (("scratch", result["twin_gap"][arch]), ("control", result.get("control_gap", {}).get(arch))):
            if gaps is None:
                continue
            first = max(s["first_step"][role]["grad"] for s in twins["seeds"])
            rows.append(
                (
                    f"{arch}: {role} – torch.nn",
                    f"{first:.1e}",
                    f"{gaps['max_test_loss_gap']:.2e}",
                    f"{gaps['max_train_loss_gap']:.2e}",
                    f"{gaps['max_test_accuracy_gap'] * 100:.2f} pp",
                    f"{gaps['final_max_param_diff']:.2e}",
                )
            )
    return rows


def _twins(result: dict) -> list:
    """The gaps table, the verdict of each architecture and the gap figure (figure 1)."""
    header = (
        "pair",
        "first-step gradient gap",
        "max test loss gap",
        "max train loss gap",
        "max test accuracy gap",
        "final weight gap (max |Δw|)",
    )
    explain = (
        "Beside each torch.nn model, a rounding control trains torch.nn again with the samples of every batch in "
        "another order: the same mathematics, sums taken in another order. Its gap to the torch.nn run is what float "
        "rounding alone, amplified by training, produces. The first-step gap is the largest difference between the "
        "models' gradients from identical weights on one batch, relative to each tensor's largest gradient; the "
        "other gaps are the largest over every epoch and seed."
    )
    blocks = [
        Heading("scratch vs torch.nn"),
        Paragraph(explain),
        Table(header, _gap_rows(result), id="twins", numeric=True),
    ]
    blocks += [Paragraph(f"{arch}: {twins['verdict']['text']}") for arch, twins in result["twins"].items()]
    factor = next(iter(result["twins"].values()))["verdict"]["factor"]
    caption = (
        "The scratch–torch.nn gap (solid) and the control–torch.nn gap (dashed) per epoch, one line per seed, on log "
        f"axes; dotted red: the verdict's bound, {factor:g}× the control's largest gap (times the first-step ratio "
        "where the scratch twin's first step differs more than the control's); each panel's title gives the "
        "scratch gap's largest value as a multiple of the control's. Gaps of exactly zero are drawn at the bottom edge."
    )
    blocks.append(Image("twin_gap", 1, "Gap to torch.nn per epoch", caption, plot_gaps.twin_gaps(result)))
    return blocks


def _figures(result: dict, first: int) -> list:
    """A heading per section, then its figures numbered from ``first``; those whose artifact is missing are left out."""
    runs = next(iter(result["models"].values()))["runs"]
    artifacts = result.get("artifacts", {})
    specs = [spec for spec in plots.FIGURES if not spec.needs or spec.needs in artifacts]
    blocks, section = [], None
    for number, spec in enumerate(specs, start=first):
        if spec.section != section:
            blocks.append(Heading(spec.section))
            section = spec.section
        spread = f"mean over {len(runs)} seeds with the min–max band shaded" if len(runs) > 1 else "one seed"
        caption = spec.caption.format(spread=spread, seed=runs[0]["seed"])
        blocks.append(Image(spec.name, number, spec.title, caption, spec.plot(result)))
    return blocks


def _data(result: dict, number: int) -> list:
    data = result["data"]
    counts = data["label_counts"]
    text = (
        f"Dataset: {data['dataset']}. Source: {data['source']}. Split: {data['train_size']:,} training and "
        f"{data['test_size']:,} test examples."
    )
    blocks = [Heading("Data"), Paragraph(text)]
    if data["dataset"] in DATASETS:
        blocks.append(Paragraph(f"Data credit: {DATASETS[data['dataset']].credit}."))
    caption = f"Share of each label in the train ({sum(counts['train']):,}) and test ({sum(counts['test']):,}) split."
    blocks.append(Image("label_distribution", number, "Label distribution", caption, plots.label_distribution(result)))
    return blocks


def _settings(result: dict) -> list:
    return [
        Heading("Configuration"),
        Table(("setting", "value"), _flatten(result["config"]), id="config"),
        Heading("Environment"),
        Table(("item", "value"), _flatten(result["environment"]), id="environment"),
    ]


def build_blocks(result: dict) -> list:
    """The report's content, in order: every heading, paragraph, table and figure (figures rendered here)."""
    blocks = _intro(result) + _summary(result) + _twins(result)
    blocks += _figures(result, sum(isinstance(block, Image) for block in blocks) + 1)
    images = sum(isinstance(block, Image) for block in blocks)
    return blocks + _data(result, images + 1) + _settings(result)


def write_report(run_dir: Path, result: dict) -> tuple[Path, Path]:
    """Write ``plots/*.png``, ``report.html`` and ``report.md`` into ``run_dir``.

    Args:
        run_dir: the study's run directory (created if missing).
        result: the study's result dict, laid out as in this module's docstring.

    Returns:
        The paths of ``report.html`` and ``report.md``.

    Raises:
        FileExistsError: ``run_dir`` already holds ``report.html`` or ``report.md``; nothing is written.
    """
    run_dir = Path(run_dir)
    html_path, md_path = run_dir / "report.html", run_dir / "report.md"
    for path in (html_path, md_path):
        if path.exists():
            raise FileExistsError(f"{path} already exists; a study writes its report into a fresh run directory")
    blocks = build_blocks(result)
    (run_dir / "plots").mkdir(parents=True, exist_ok=True)
    for block in blocks:
        if isinstance(block, Image):
            (run_dir / "plots" / f"{block.name}.png").write_bytes(block.png)
    with html_path.open("x", encoding="utf-8") as f:
        f.write(report_html.render(blocks, TITLE))
    with md_path.open("x", encoding="utf-8") as f:
        f.write(report_md.render(blocks))
    return html_path, md_path
