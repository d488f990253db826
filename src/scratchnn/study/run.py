"""Run the study: the CNN and the MLP, each from scratchnn layers and from torch.nn, over several seeds.

For a seed, the scratch model and its torch.nn twin start from identical weights (same ``torch.manual_seed``
before construction) and see the training examples in the same order (the same data generator seed), so any gap
between their curves can only come from the layers themselves: the size of that gap is the study's evidence
that the layers are right. The result is one JSON-serialisable dict, the input of :func:`write_report`.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable

import torch

from ..environment import environment
from ..training import TrainConfig, evaluate, process_device, train
from .config import StudyConfig

MODEL_KEYS = ("cnn-scratch", "cnn-torch", "mlp-scratch", "mlp-torch")

Progress = Callable[[str, dict[str, float]], None]


def run_study(config: StudyConfig, data, data_info: dict, on_epoch: Progress | None = None) -> dict:
    """Train the four models for every seed and gather everything the report shows.

    Args:
        config: the study configuration.
        data: a :class:`scratchnn.data.Split` (or anything with ``x_train, y_train, x_test, y_test``).
        data_info: dataset name, provenance and sizes, copied into the result.
        on_epoch: called as ``on_epoch("cnn-scratch seed 0", metrics)`` after every epoch.
    """
    models: dict[str, dict] = {}
    trained: dict[tuple[str, int], torch.nn.Module] = {}
    for seed in range(config.seeds):
        for key in MODEL_KEYS:
            arch, impl = key.split("-")
            result = train(
                _train_config(config, arch, impl, seed),
                data,
                on_epoch=(lambda m, k=f"{key} seed {seed}": on_epoch(k, m)) if on_epoch else None,
            )
            entry = models.setdefault(
                key,
                {"model": arch, "impl": impl, "runs": [], "params": sum(p.numel() for p in result.model.parameters())},
            )
            entry["runs"].append(
                {
                    "seed": seed,
                    "wall_time": result.wall_time,
                    "history": result.history,
                    "final": result.final,
                    "confusion": _confusion(result.model, data),
                }
            )
            trained[key, seed] = result.model
    return {
        "config": config.to_dict(),
        "environment": _flat(environment(process_device(config.device))),
        "data": {**data_info, "label_counts": {"train": _counts(data.y_train), "test": _counts(data.y_test)}},
        "models": models,
        "summary": summarise(models),
        "twin_gap": {arch: twin_gap(models, arch, trained, config.seeds) for arch in ("cnn", "mlp")},
        "artifacts": artifacts(trained["cnn-scratch", 0], data),
    }


def _train_config(config: StudyConfig, arch: str, impl: str, seed: int) -> TrainConfig:
    return TrainConfig(
        model=arch,
        impl=impl,
        activation=config.activation,
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr=config.lr(arch),
        optimizer=config.optimizer,
        weight_decay=config.weight_decay(arch),
        seed=seed,
        deterministic=config.deterministic,
        device=config.device,
        dataset=config.dataset,
        data_dir=config.data_dir,
        download=config.download,
        train_size=config.train_size,
        test_size=config.test_size,
    )


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


def twin_gap(models: dict[str, dict], arch: str, trained: dict, seeds: int) -> dict[str, float]:
    """The largest difference between ``<arch>-scratch`` and ``<arch>-torch`` over all epochs and seeds."""
    gaps = {
        "max_test_loss_gap": 0.0,
        "max_train_loss_gap": 0.0,
        "max_test_accuracy_gap": 0.0,
        "final_max_param_diff": 0.0,
    }
    for seed in range(seeds):
        ours, theirs = (models[f"{arch}-{impl}"]["runs"][seed]["history"] for impl in ("scratch", "torch"))
        for a, b in zip(ours, theirs, strict=True):
            for name, metric in (
                ("max_test_loss_gap", "test_loss"),
                ("max_train_loss_gap", "train_loss"),
                ("max_test_accuracy_gap", "test_accuracy"),
            ):
                gaps[name] = max(gaps[name], abs(a[metric] - b[metric]))
        pairs = zip(
            trained[f"{arch}-scratch", seed].state_dict().values(),
            trained[f"{arch}-torch", seed].state_dict().values(),
            strict=True,
        )
        diff = max((a.float() - b.float()).abs().max().item() for a, b in pairs)
        gaps["final_max_param_diff"] = max(gaps["final_max_param_diff"], diff)
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
