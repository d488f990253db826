"""``scratchnn compare``: the study — four models, several seeds, plots and a report for the browser."""

from __future__ import annotations

import argparse
import dataclasses
import time

from ..data import DataError
from ..study import write_report
from ..study.config import PRESETS, StudyConfig, study_config
from ..study.run import metrics, run_study, runs_per_seed
from ..training import CONFIG, METRICS, resolve_device
from ..training.data import prepare_data
from ..training.loop import write_json
from ._common import Progress, UsageError, add_data_flags, new_run_dir
from .metrics_csv import write_metrics_csv
from .train import batch_size


def add_parser(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="train the four models and write the study's report",
        argument_default=argparse.SUPPRESS,
        description="Train the CNN and MLP, each from scratchnn layers and from torch.nn, with "
        "identical initial weights and data order; write plots and a report to a new "
        "run directory and print its path last. Flags override the preset's values.",
    )
    p.add_argument("--preset", choices=tuple(PRESETS), default="quick")
    p.add_argument("--seeds", type=int, metavar="K", help="train every model with seeds 0..K-1")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=batch_size, metavar="B|full")
    p.add_argument("--optimizer", choices=("adam", "sgd"))
    p.add_argument("--cnn-lr", type=float)
    p.add_argument("--mlp-lr", type=float)
    p.add_argument("--cnn-weight-decay", type=float)
    p.add_argument("--mlp-weight-decay", type=float)
    p.add_argument("--activation")
    p.add_argument("--train-size", type=int)
    p.add_argument("--test-size", type=int)
    add_data_flags(p)
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--deterministic", action="store_true")
    p.add_argument(
        "--no-control",
        dest="control",
        action="store_false",
        help="skip the rounding control (a second torch.nn run per model and seed; default: run it)",
    )
    p.add_argument("--out", default="runs", help="where new run directories go (default: runs/)")
    p.add_argument("--quiet", action="store_true", default=False)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    names = {f.name for f in dataclasses.fields(StudyConfig)} - {"preset"}
    try:
        config = study_config(args.preset, **{k: v for k, v in vars(args).items() if k in names and v is not None})
        resolve_device(config.device)
        data, source = prepare_data(
            config.dataset, config.data_dir, config.download, config.train_size, config.test_size
        )
    except (ValueError, DataError) as e:
        raise UsageError(str(e)) from None
    run_dir = new_run_dir(args.out, "compare")
    write_json(run_dir / CONFIG, config.to_dict())
    progress = Progress(config.epochs * runs_per_seed(config) * config.seeds, args.quiet)
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
