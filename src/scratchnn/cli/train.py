"""``scratchnn train``: train one model, with checkpoints, and resume a run that stopped."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from ..data import DataError
from ..training import CHECKPOINT, CONFIG, TrainConfig, load_checkpoint, resolve_device, train
from ..training.data import prepare_data
from ._common import Progress, UsageError, add_data_flags, new_run_dir, positive_int


def batch_size(text: str) -> int | None:
    return None if text == "full" else positive_int(text)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train one model",
        argument_default=argparse.SUPPRESS,
        description="Train the CNN or MLP; writes a new run directory and prints its path last.",
    )
    p.add_argument("--model", choices=("cnn", "mlp"))
    p.add_argument("--impl", choices=("scratch", "torch"))
    p.add_argument("--activation")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=batch_size, metavar="B|full")
    p.add_argument("--lr", type=float)
    p.add_argument("--optimizer", choices=("adam", "sgd"))
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--momentum", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--deterministic", action="store_true")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--checkpoint-every", type=int, metavar="N", help="checkpoint every N epochs (default 1)")
    p.add_argument("--train-size", type=int)
    p.add_argument("--test-size", type=int)
    add_data_flags(p)
    p.add_argument("--out", default="runs", help="where new run directories go (default: runs/)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its checkpoint")
    p.add_argument("--quiet", action="store_true", default=False)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    given = {k: v for k, v in vars(args).items() if k in names and v is not None}
    done = 0
    if getattr(args, "resume", None):
        run_dir = Path(args.resume)
        config = _resumed_config(run_dir, given)
        try:
            done = load_checkpoint(run_dir / CHECKPOINT)["epoch"]
        except ValueError as e:
            raise UsageError(f"cannot resume: {e}") from None
    else:
        config = _config(given)
        run_dir = None
    try:
        resolve_device(config.device)
        data, _ = prepare_data(config.dataset, config.data_dir, config.download, config.train_size, config.test_size)
    except (DataError, ValueError) as e:
        raise UsageError(str(e)) from None
    run_dir = run_dir or new_run_dir(args.out, f"train-{config.model}-{config.impl}")
    progress = Progress(config.epochs - done, args.quiet)
    try:
        result = train(
            config,
            data,
            run_dir,
            resume=bool(getattr(args, "resume", None)),
            on_epoch=lambda m: progress.update(f"{config.model}-{config.impl}", m),
        )
    except ValueError as e:
        raise UsageError(str(e)) from None
    if not args.quiet:
        final = result.final
        print(
            f"final: train loss {final['train_loss']:.4f}, test loss {final['test_loss']:.4f}, "
            f"test accuracy {final['test_accuracy']:.4f}"
        )
    print(run_dir)
    return 0


def _config(values: dict) -> TrainConfig:
    try:
        return TrainConfig(**values)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _resumed_config(run_dir: Path, given: dict) -> TrainConfig:
    """The run's saved config; flags given now must agree with it."""
    path = run_dir / CONFIG
    try:
        saved = TrainConfig.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise UsageError(f"cannot resume: {path} does not exist (not a scratchnn train run?)") from None
    except OSError as e:
        raise UsageError(f"cannot resume from {str(run_dir)!r}: {e.strerror or e}") from None
    except (ValueError, TypeError) as e:
        raise UsageError(f"cannot resume: {path} is not a scratchnn train config ({e})") from None
    wanted = _config({**saved.to_dict(), **given})
    if wanted != saved:
        raise UsageError(f"cannot resume {run_dir} with a different config: {'; '.join(saved.differences(wanted))}")
    return saved
