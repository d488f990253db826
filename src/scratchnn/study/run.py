"""Run the study: each model (the CNN and the MLP by default), from scratchnn layers and from torch.nn, over
several seeds.

For a seed, the scratch model and its torch.nn twin start from identical weights (same ``torch.manual_seed``
before construction) and see the training examples in the same order (the same data generator seed), so any gap
between their curves can only come from the layers themselves. Beside them a rounding control (a second torch.nn
run whose batches have their samples permuted, see :mod:`.twins`) shows how far float rounding alone carries two
runs apart; :mod:`.verdict` compares the two gaps. The result is one JSON-serialisable dict, the input of
:func:`write_report`.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable

import torch

from ..environment import environment
from ..models import build_model
from ..training import TrainConfig, evaluate, process_device
from .config import StudyConfig
from .twins import Builder, TwinRuns, train_twins
from .verdict import verdict

IMPLS = ("scratch", "torch")
METRICS_KEYS = ("summary", "twin_gap", "control_gap", "twins", "models", "controls", "environment", "data")

Progress = Callable[[str, dict[str, float]], None]


def runs_per_seed(config: StudyConfig) -> int:
    """How many training runs one seed takes: two twins per model, and a control per model unless switched off."""
    return len(config.models) * (len(IMPLS) + config.control)


def run_study(
    config: StudyConfig, data, data_info: dict, on_epoch: Progress | None = None, build: Builder = build_model
) -> dict:
    """Train the twins of every model (and the controls) for every seed and gather everything the report shows.

    Args:
        config: the study configuration.
        data: a :class:`scratchnn.data.Split` (or anything with ``x_train, y_train, x_test, y_test``).
        data_info: dataset name, provenance and sizes, copied into the result.
        on_epoch: called as ``on_epoch("cnn-scratch seed 0", metrics)`` after every epoch of every run.
        build: ``build(model, impl, activation)`` makes each model (default :func:`scratchnn.models.build_model`);
            a test passes one that puts a broken layer into the scratch models.
    """
    models: dict[str, dict] = {}
    controls: dict[str, dict] = {}
    twins: dict[str, dict] = {arch: {"seeds": []} for arch in config.models}
    artifact_source = None
    for seed in range(config.seeds):
        for arch in config.models:
            label = (lambda role, m, a=arch, s=seed: on_epoch(f"{a}-{role} seed {s}", m)) if on_epoch else None
            runs = train_twins(
                _train_config(config, arch, seed), data, control=config.control, build=build, on_epoch=label
            )
            _collect(models, controls, arch, seed, runs, data)
            twins[arch]["seeds"].append({"seed": seed, "first_step": runs.first_step, "gaps": runs.gaps})
            if arch == "cnn" and seed == 0:
                artifact_source = runs.members["scratch"].model
    for arch in config.models:
        twins[arch]["verdict"] = verdict(twins[arch]["seeds"], len(data.y_test))
    return _result(config, data, data_info, models, controls, twins) | {
        "artifacts": artifacts(artifact_source, data) if artifact_source is not None else {}
    }


def _result(config: StudyConfig, data, data_info: dict, models: dict, controls: dict, twins: dict) -> dict:
    """What the report and ``metrics.json`` show, gathered from the finished runs."""
    return {
        "config": config.to_dict(),
        "environment": _flat(environment(process_device(config.device))),
        "data": {**data_info, "label_counts": {"train": _counts(data.y_train), "test": _counts(data.y_test)}},
        "models": models,
        "controls": controls,
        "summary": summarise(models),
        "twins": twins,
        "twin_gap": {arch: largest_gaps(twins[arch]["seeds"], "scratch") for arch in config.models},
        "control_gap": {
            arch: largest_gaps(twins[arch]["seeds"], "control") for arch in config.models if config.control
        },
    }


def _collect(models: dict, controls: dict, arch: str, seed: int, runs: TwinRuns, data) -> None:
    """File each run of one architecture and seed under ``models`` (scratch, torch) or ``controls``."""
    for role, member in runs.members.items():
        key = f"{arch}-{role}"
        params = sum(p.numel() for p in member.model.parameters())
        target = controls if role == "control" else models
        entry = target.setdefault(key, {"model": arch, "impl": role, "runs": [], "params": params})
        run = {"seed": seed, "wall_time": member.wall_time, "history": member.history}
        run["final"] = {k: member.history[-1][k] for k in ("train_loss", "test_loss", "test_accuracy")}
        if role != "control":
            run["confusion"] = _confusion(member.model, data)
        entry["runs"].append(run)


def metrics(result: dict) -> dict:
    """What ``metrics.json`` keeps of a study's result: everything but the figures' raw material."""
    return {key: result[key] for key in METRICS_KEYS if key in result}


def _train_config(config: StudyConfig, arch: str, seed: int) -> TrainConfig:
    """One model's run of the study: the fields the two configs share copied, then the model, its learning rate
    and weight decay, and the seed."""
    shared = {f.name for f in dataclasses.fields(TrainConfig)} & {f.name for f in dataclasses.fields(StudyConfig)}
    values = {name: getattr(config, name) for name in shared}
    values.update(model=arch, lr=config.lr(arch), weight_decay=config.weight_decay(arch), seed=seed)
    return TrainConfig(**values)


def _counts(labels: torch.Tensor) -> list[int]:
    return torch.bincount(labels.cpu(), minlength=10).tolist()


def _confusion(model: torch.nn.Module, data) -> list[list[int]]:
    """Rows: true label; columns: predicted label; on the test split."""
    device = next(model.parameters()).device
    y = data.y_test.to(device)
    _, _, predicted = evaluate(model, data.x_test.to(device), y)
    return torch.bincount(y * 10 + predicted, minlength=100).reshape(10, 10).tolist()


def summarise(models: dict[str, dict]) -> dict[str, dict[str, float]]:
    """Mean and standard deviation over seeds of each model's final test loss and accuracy."""

    def stats(values: list[float]) -> tuple[float, float]:
        return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0

    summary = {}
    for key, entry in models.items():
        loss = stats([r["final"]["test_loss"] for r in entry["runs"]])
        acc = stats([r["final"]["test_accuracy"] for r in entry["runs"]])
        summary[key] = {
            "params": entry["params"],
            "test_loss_mean": loss[0],
            "test_loss_std": loss[1],
            "test_accuracy_mean": acc[0],
            "test_accuracy_std": acc[1],
            "wall_time_mean": statistics.fmean(r["wall_time"] for r in entry["runs"]),
        }
    return summary


def largest_gaps(seeds: list[dict], role: str) -> dict[str, float]:
    """The largest difference between ``role`` (scratch or control) and the torch.nn run over all epochs and seeds."""
    columns = {
        "max_test_loss_gap": "test_loss",
        "max_train_loss_gap": "train_loss",
        "max_test_accuracy_gap": "test_accuracy",
    }
    gaps = {name: max(max(s["gaps"][role][metric]) for s in seeds) for name, metric in columns.items()}
    gaps["final_max_param_diff"] = max(s["gaps"][role]["max_abs_dw"][-1] for s in seeds)
    return gaps


@torch.no_grad()
def artifacts(cnn: torch.nn.Module, data) -> dict:
    """The trained CNN's first-layer filters and the feature maps of the first test digit."""
    cnn.eval()
    device = next(cnn.parameters()).device
    image, label = data.x_test[:1].to(device), int(data.y_test[0])
    conv1, conv2 = cnn.features(image)
    return {
        "filters": cnn.conv1.weight[:, 0].cpu().tolist(),  # (8, 3, 3)
        "feature_maps": {
            "label": label,
            "image": image[0, 0].cpu().tolist(),  # (28, 28)
            "conv1": conv1[0].cpu().tolist(),
            "conv2": conv2[0].cpu().tolist(),
        },
    }


def _flat(env: dict) -> dict:
    """The environment with its versions as top-level keys, as the report lists them."""
    return {**{k: v for k, v in env.items() if k != "versions"}, **env["versions"]}
