"""``scratchnn compare``: the study — scratch and torch.nn twins of each model, several seeds, plots and a report
for the browser."""

from __future__ import annotations

import argparse
import dataclasses
import time

from .._atomic import write_json
from ..data import DataError, prepare_data
from ..layers import ACTIVATIONS
from ..models import MODELS
from ..study import write_report
from ..study.config import PRESETS, StudyConfig, study_config
from ..study.metrics_csv import write_metrics_csv
from ..study.run import metrics, run_study, runs_per_seed
from ..training import CONFIG, METRICS, process_device
from ..training.config import DEVICES, OPTIMIZERS
from ..training.distributed import check_examples, check_setup, from_rank_zero, init_process_group, is_rank_zero
from ._common import (
    Progress,
    UsageError,
    add_data_flags,
    add_size_flags,
    batch_size,
    new_run_dir,
    positive_int,
    preset_default,
)

PRESET_HELP = {
    "quick": "8 epochs of Adam at batch 256 on 4,000/1,000 digits: the study in about a minute on 2 cores",
    "seed": "the original schedule: full-batch Adam for 2,000 epochs on 4,000/1,000 digits (about 2 hours on 2 cores)",
    "resnet": "the ResNet-8 twins (batch norm), without the control, on the full Fashion-MNIST (60,000/10,000): "
    "3 epochs of Adam at batch 128, about 90 % test accuracy in 9 minutes on 2 cores",
}


def add_parser(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="train the study's models and write its report",
        argument_default=argparse.SUPPRESS,
        description="Train each model (the CNN and the MLP unless --models says otherwise), from scratchnn layers "
        "and from torch.nn, with identical initial weights and data order; write plots and a report to a new run "
        "directory and print its path last. A preset sets every value below; a flag overrides one. Presets: "
        + "; ".join(f"{name}: {text}" for name, text in PRESET_HELP.items())
        + ".",
    )
    p.add_argument(
        "--preset", choices=tuple(PRESETS), default="quick", help="the schedule to start from (default: quick)"
    )
    _add_schedule_flags(p, _preset_default)
    add_size_flags(p, _preset_default("train_size"), _preset_default("test_size"))
    add_data_flags(p)
    p.add_argument("--device", choices=DEVICES, help=f"auto: cuda, else mps, else cpu {_preset_default('device')}")
    p.add_argument(
        "--deterministic", action="store_true", help="torch.use_deterministic_algorithms for every run (default: off)"
    )
    p.add_argument(
        "--control",
        action=argparse.BooleanOptionalAction,
        help="train the rounding control, a second torch.nn run per model and seed whose batches have their samples "
        f"permuted {_preset_default('control')}",
    )
    p.add_argument("--out", default="runs", help="where new run directories go (default: runs)")
    p.add_argument("--quiet", action="store_true", default=False, help="print only the run directory (default: off)")
    p.set_defaults(run=run)


def _preset_default(name: str) -> str:
    """``'(default: 8 in quick, ...)'``: a field's value under every preset as its flag takes it, for ``--help``."""
    fallback = next(f.default for f in dataclasses.fields(StudyConfig) if f.name == name)
    values = {preset: values.get(name, fallback) for preset, values in PRESETS.items()}
    return preset_default(name, {preset: {name: _as_flag(name, v)} for preset, v in values.items()}, fallback)


def _as_flag(name: str, value: object) -> object:
    """A config value as it is typed on the command line: ``--models cnn mlp``, ``--train-size all``."""
    if isinstance(value, tuple):
        return " ".join(value)
    if isinstance(value, bool):
        return "on" if value else "off"
    return "all" if value is None and name in ("train_size", "test_size") else value


def _add_schedule_flags(p: argparse.ArgumentParser, d) -> None:
    """The models, seeds and training schedule; ``d(name)`` is a field's default text."""
    p.add_argument(
        "--models",
        nargs="+",
        choices=tuple(MODELS),
        metavar="MODEL",
        help=f"{'|'.join(MODELS)}, any of them {d('models')}",
    )
    p.add_argument("--seeds", type=positive_int, metavar="K", help=f"train every model with seeds 0..K-1 {d('seeds')}")
    p.add_argument("--epochs", type=positive_int, metavar="N", help=f"passes over the training data {d('epochs')}")
    p.add_argument(
        "--batch-size", type=batch_size, metavar="B|full", help=f"examples per step; full: all {d('batch_size')}"
    )
    p.add_argument("--optimizer", choices=OPTIMIZERS, help=f"torch.optim.Adam or SGD {d('optimizer')}")
    for model in MODELS:
        name = {"cnn": "CNNs", "mlp": "MLPs", "resnet": "ResNets"}.get(model, model)
        p.add_argument(f"--{model}-lr", type=float, metavar="LR", help=f"the {name}' learning rate {d(f'{model}_lr')}")
        p.add_argument(
            f"--{model}-weight-decay",
            type=float,
            metavar="WD",
            help=f"the {name}' L2 penalty {d(f'{model}_weight_decay')}",
        )
    p.add_argument("--activation", choices=tuple(ACTIVATIONS), help=f"the hidden layers' activation {d('activation')}")


def run(args: argparse.Namespace) -> int:
    config, data, source = _setup(args)
    init_process_group(process_device(config.device), "auto")  # under torchrun: every model on all ranks
    run_dir = from_rank_zero(lambda: new_run_dir(args.out, "compare"))
    if is_rank_zero():
        write_json(run_dir / CONFIG, config.to_dict())
    progress = Progress(config.epochs * runs_per_seed(config) * config.seeds, args.quiet or not is_rank_zero())
    info = {"dataset": config.dataset, "source": source, "train_size": len(data.y_train), "test_size": len(data.y_test)}
    start = time.perf_counter()
    try:
        result = run_study(config, data, info, on_epoch=progress.update)
    except ValueError as e:
        raise UsageError(str(e)) from None
    result["total_wall_time"] = time.perf_counter() - start
    if not is_rank_zero():
        return 0
    write_json(run_dir / METRICS, {**metrics(result), "total_wall_time": result["total_wall_time"]})
    write_metrics_csv(run_dir / "metrics.csv", {**result["models"], **result["controls"]})
    html, _ = write_report(run_dir, result)
    if not args.quiet:
        print(_summary_table(result))
        print(f"report: {html}")
    print(run_dir)
    return 0


def _setup(args: argparse.Namespace) -> tuple[StudyConfig, object, str]:
    """The validated config, the data and its source; a user's mistake is a UsageError."""
    names = {f.name for f in dataclasses.fields(StudyConfig)} - {"preset"}
    try:
        config = study_config(args.preset, **{k: v for k, v in vars(args).items() if k in names})
        check_setup(config.device, "auto")
        process_device(config.device)
        data, source = prepare_data(
            config.dataset, config.data_dir, config.download, config.train_size, config.test_size
        )
        check_examples(len(data.y_train))
    except (ValueError, DataError) as e:
        raise UsageError(str(e)) from None
    return config, data, source


def _summary_table(result: dict) -> str:
    """The final test loss and accuracy of each model (± the std over seeds when there are several), then the
    verdict of each architecture."""
    spread = result["config"]["seeds"] > 1
    width = max(12, *(len(key) for key in result["summary"]))
    lines = [f"{'model':<{width}} {'params':>7} {'test loss':>19} {'test accuracy':>17} {'time/run':>9}"]
    for key, s in result["summary"].items():
        loss, acc = f"{s['test_loss_mean']:.4f}", f"{s['test_accuracy_mean']:.4f}"
        if spread:
            loss, acc = f"{loss} ± {s['test_loss_std']:.4f}", f"{acc} ± {s['test_accuracy_std']:.4f}"
        lines.append(f"{key:<{width}} {s['params']:>7,} {loss:>19} {acc:>17} {s['wall_time_mean']:>8.1f}s")
    for arch, twins in result["twins"].items():
        lines.append(f"{arch}: {twins['verdict']['text']}")
    return "\n".join(lines)
