"""``scratchnn compare``: the study — four models, several seeds, plots and a report for the browser."""

from __future__ import annotations

import argparse
import dataclasses
import time

from .._atomic import write_json
from ..data import DataError, prepare_data
from ..layers import ACTIVATIONS
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
    "seed": "the original schedule: full-batch Adam for 2,000 epochs on 4,000/1,000 digits (about 45 minutes)",
}


def add_parser(sub) -> None:
    def d(name: str) -> str:
        fallback = next(f.default for f in dataclasses.fields(StudyConfig) if f.name == name)
        return preset_default(name, PRESETS, fallback)

    p = sub.add_parser(
        "compare",
        help="train the four models and write the study's report",
        argument_default=argparse.SUPPRESS,
        description="Train the CNN and MLP, each from scratchnn layers and from torch.nn, with identical initial "
        "weights and data order; write plots and a report to a new run directory and print its path last. "
        "A preset sets every value below; a flag overrides one. Presets: "
        + "; ".join(f"{name}: {text}" for name, text in PRESET_HELP.items())
        + ".",
    )
    p.add_argument(
        "--preset", choices=tuple(PRESETS), default="quick", help="the schedule to start from (default: quick)"
    )
    p.add_argument("--seeds", type=positive_int, metavar="K", help=f"train every model with seeds 0..K-1 {d('seeds')}")
    p.add_argument("--epochs", type=positive_int, metavar="N", help=f"passes over the training data {d('epochs')}")
    p.add_argument(
        "--batch-size", type=batch_size, metavar="B|full", help=f"examples per step; full: all {d('batch_size')}"
    )
    p.add_argument("--optimizer", choices=OPTIMIZERS, help=f"torch.optim.Adam or SGD {d('optimizer')}")
    p.add_argument("--cnn-lr", type=float, metavar="LR", help=f"the CNNs' learning rate {d('cnn_lr')}")
    p.add_argument("--mlp-lr", type=float, metavar="LR", help=f"the MLPs' learning rate {d('mlp_lr')}")
    p.add_argument("--cnn-weight-decay", type=float, metavar="WD", help=f"the CNNs' L2 penalty {d('cnn_weight_decay')}")
    p.add_argument("--mlp-weight-decay", type=float, metavar="WD", help=f"the MLPs' L2 penalty {d('mlp_weight_decay')}")
    p.add_argument("--activation", choices=tuple(ACTIVATIONS), help=f"the hidden layers' activation {d('activation')}")
    add_size_flags(p, d("train_size"), d("test_size"))
    add_data_flags(p)
    p.add_argument("--device", choices=DEVICES, help=f"auto: cuda, else mps, else cpu {d('device')}")
    p.add_argument(
        "--deterministic", action="store_true", help="torch.use_deterministic_algorithms for every run (default: off)"
    )
    p.add_argument(
        "--no-control",
        dest="control",
        action="store_false",
        help="skip the rounding control (a second torch.nn run per model and seed; default: run it)",
    )
    p.add_argument("--out", default="runs", help="where new run directories go (default: runs)")
    p.add_argument("--quiet", action="store_true", default=False, help="print only the run directory (default: off)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    names = {f.name for f in dataclasses.fields(StudyConfig)} - {"preset"}
    try:
        config = study_config(args.preset, **{k: v for k, v in vars(args).items() if k in names})
        check_setup(config.device, "auto")
        device = process_device(config.device)
        data, source = prepare_data(
            config.dataset, config.data_dir, config.download, config.train_size, config.test_size
        )
        check_examples(len(data.y_train))
    except (ValueError, DataError) as e:
        raise UsageError(str(e)) from None
    init_process_group(device, "auto")  # under torchrun: every model trains on all ranks; rank 0 writes
    run_dir = from_rank_zero(lambda: new_run_dir(args.out, "compare"))
    if is_rank_zero():
        write_json(run_dir / CONFIG, config.to_dict())
    progress = Progress(config.epochs * runs_per_seed(config) * config.seeds, args.quiet or not is_rank_zero())
    start = time.perf_counter()
    try:
        result = run_study(
            config,
            data,
            {
                "dataset": config.dataset,
                "source": source,
                "train_size": len(data.y_train),
                "test_size": len(data.y_test),
            },
            on_epoch=progress.update,
        )
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


def _summary_table(result: dict) -> str:
    """The final test loss and accuracy of each model (± the std over seeds when there are several), then the
    verdict of each architecture."""
    spread = result["config"]["seeds"] > 1
    lines = [f"{'model':<12} {'params':>7} {'test loss':>19} {'test accuracy':>17} {'time/run':>9}"]
    for key, s in result["summary"].items():
        loss, acc = f"{s['test_loss_mean']:.4f}", f"{s['test_accuracy_mean']:.4f}"
        if spread:
            loss, acc = f"{loss} ± {s['test_loss_std']:.4f}", f"{acc} ± {s['test_accuracy_std']:.4f}"
        lines.append(f"{key:<12} {s['params']:>7,} {loss:>19} {acc:>17} {s['wall_time_mean']:>8.1f}s")
    for arch, twins in result["twins"].items():
        lines.append(f"{arch}: {twins['verdict']['text']}")
    return "\n".join(lines)
