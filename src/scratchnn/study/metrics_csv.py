"""The study's per-epoch metrics as one CSV table: model, impl (scratch, torch or the rounding control), seed,
epoch and the four metrics."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from .._atomic import atomic_write_bytes

COLUMNS = ("model", "impl", "seed", "epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy")


def write_metrics_csv(path: Path, models: dict[str, dict]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for entry in models.values():
        for run in entry["runs"]:
            for row in run["history"]:
                writer.writerow([entry["model"], entry["impl"], run["seed"], *(row[c] for c in COLUMNS[3:])])
    atomic_write_bytes(path, lambda f: f.write(buffer.getvalue().encode()))
