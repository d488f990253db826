"""``scratchnn train``: train one model, with checkpoints, and resume a run that stopped.

Under ``torchrun`` every process runs this command: each checks the setup before joining the others, all train
one model with DistributedDataParallel, and rank 0 alone creates the run directory, writes and prints.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from ..data import DataError
from ..training import CHECKPOINT, CONFIG, TrainConfig, load_checkpoint, process_device, train
from ..training.checkpoint import check_world_size
from ..training.data import prepare_data
from ..training.distributed import (
    BACKENDS,
    check_examples,
    check_setup,
    from_rank_zero,
    init_process_group,
    is_rank_zero,
    world_size,
)
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
    p.add_argument(
        "--batch-size",
        type=batch_size,
        metavar="B|full",
        help="examples per step, over all processes under torchrun (default 64; full: the whole training set)",
    )
    p.add_argument("--lr", type=float)
    p.add_argument("--optimizer", choices=("adam", "sgd"))
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--momentum", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--deterministic", action="store_true")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        help="torch.distributed backend under torchrun (default auto: nccl on CUDA, gloo on the CPU)",
    )
    p.add_argument("--checkpoint-every", type=int, metavar="N", help="checkpoint every N epochs (default 1)")
    p.add_argument("--train-size", type=int)
    p.add_argument("--test-size", type=int)
    add_data_flags(p)
    p.add_argument("--out", default="runs", help="where new run directories go (default: runs/)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its checkpoint")
    p.add_argument("--quiet", action="store_true", default=False)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config, run_dir, state = _config_and_checkpoint(args)
    try:
        if state is not None:
            check_world_size(state, run_dir, world_size())
        check_setup(config.device, config.backend)
        device = process_device(config.device)
        data, _ = prepare_data(config.dataset, config.data_dir, config.download, config.train_size, config.test_size)
        check_examples(len(data.y_train))
    except (DataError, ValueError) as e:
        raise UsageError(str(e)) from None
    init_process_group(device, config.backend)  # joins torchrun's job; a plain command stays one process
    run_dir = run_dir or from_rank_zero(lambda: new_run_dir(args.out, f"train-{config.model}-{config.impl}"))
    progress = Progress(config.epochs - (state["epoch"] if state else 0), args.quiet or not is_rank_zero())
    try:
        result = train(
            config,
            data,
            run_dir,
            resume=state is not None,
            on_epoch=lambda m: progress.update(f"{config.model}-{config.impl}", m),
        )
    except ValueError as e:
        raise UsageError(str(e)) from None
    if not is_rank_zero():
        return 0
    if not args.quiet:
        final = result.final
        print(
            f"final: train loss {final['train_loss']:.4f}, test loss {final['test_loss']:.4f}, "
            f"test accuracy {final['test_accuracy']:.4f}"
        )
    print(run_dir)
    return 0


def _config_and_checkpoint(args: argparse.Namespace) -> tuple[TrainConfig, Path | None, dict | None]:
    """The run's config, and with ``--resume`` its directory and checkpoint (``None`` for a new run)."""
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    given = {k: v for k, v in vars(args).items() if k in names}
    if not getattr(args, "resume", None):
        return _config(given), None, None
    run_dir = Path(args.resume)
    config = _resumed_config(run_dir, given)
    try:
        return config, run_dir, load_checkpoint(run_dir / CHECKPOINT)
    except ValueError as e:
        raise UsageError(f"cannot resume: {e}") from None


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
