"""``scratchnn train``: train one model, with checkpoints, and resume a run that stopped.

Under ``torchrun`` every process runs this command: each checks the setup before joining the others, all train
one model with DistributedDataParallel, and rank 0 alone creates the run directory, writes and prints.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
from pathlib import Path

from ..data import DataError, prepare_data
from ..layers import ACTIVATIONS
from ..models import IMPLS, MODELS
from ..training import CHECKPOINT, CONFIG, TrainConfig, load_checkpoint, process_device, train
from ..training.checkpoint import check_world_size
from ..training.config import DEVICES, OPTIMIZERS
from ..training.distributed import (
    BACKENDS,
    check_examples,
    check_setup,
    from_rank_zero,
    init_process_group,
    is_rank_zero,
    world_size,
)
from ._common import (
    Progress,
    UsageError,
    add_data_flags,
    add_size_flags,
    batch_size,
    default_of,
    new_run_dir,
    positive_int,
)


def add_parser(sub) -> None:
    d = functools.partial(default_of, TrainConfig)
    p = sub.add_parser(
        "train",
        help="train one model",
        argument_default=argparse.SUPPRESS,
        description="Train the CNN, MLP or ResNet on MNIST or Fashion-MNIST; writes a new run directory (config, "
        "metrics, checkpoints) and prints its path last. --resume RUN_DIR continues a run that stopped.",
    )
    _add_model_flags(p, d)
    _add_schedule_flags(p, d)
    p.add_argument("--device", choices=DEVICES, help=f"auto: cuda, else mps, else cpu {d('device')}")
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        help=f"torch.distributed backend under torchrun; auto: nccl on CUDA, else gloo {d('backend')}",
    )
    add_size_flags(p, d("train_size"), d("test_size"))
    add_data_flags(p)
    _add_run_flags(p, d)
    p.set_defaults(run=run)


def _add_model_flags(p: argparse.ArgumentParser, d) -> None:
    p.add_argument(
        "--model",
        choices=tuple(MODELS),
        help=f"the architecture: models.CNN, models.MLP or models.ResNet (batch norm) {d('model')}",
    )
    p.add_argument("--impl", choices=IMPLS, help=f"scratchnn layers or their torch.nn twins {d('impl')}")
    p.add_argument("--activation", choices=tuple(ACTIVATIONS), help=f"the hidden layers' activation {d('activation')}")


def _add_schedule_flags(p: argparse.ArgumentParser, d) -> None:
    p.add_argument("--epochs", type=positive_int, metavar="N", help=f"passes over the training data {d('epochs')}")
    p.add_argument(
        "--batch-size",
        type=batch_size,
        metavar="B|full",
        help=f"examples per step, all processes together under torchrun; full: all {d('batch_size')}",
    )
    p.add_argument("--lr", type=float, help=f"learning rate {d('lr')}")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help=f"torch.optim.Adam or SGD {d('optimizer')}")
    p.add_argument("--weight-decay", type=float, metavar="WD", help=f"L2 penalty {d('weight_decay')}")
    p.add_argument("--momentum", type=float, metavar="M", help=f"SGD momentum {d('momentum')}")
    p.add_argument("--seed", type=int, help=f"seeds the initial weights and the batch order {d('seed')}")
    p.add_argument(
        "--deterministic",
        action="store_true",
        help="torch.use_deterministic_algorithms: resumed runs bit-identical on the CPU (default: off)",
    )


def _add_run_flags(p: argparse.ArgumentParser, d) -> None:
    p.add_argument(
        "--checkpoint-every",
        type=int,
        metavar="N",
        help=f"checkpoint every N epochs and at the end; 0: only at the end {d('checkpoint_every')}",
    )
    p.add_argument("--out", default="runs", help="where new run directories go (default: runs)")
    p.add_argument(
        "--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its checkpoint (default: a new run)"
    )
    p.add_argument("--quiet", action="store_true", default=False, help="print only the run directory (default: off)")


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
