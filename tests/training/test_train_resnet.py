"""``scratchnn train --model resnet``: batch norm in the training loop. Train mode while training, eval mode (the
running statistics) for the test metrics; checkpoints keep the running statistics and resuming restores them;
under torchrun the ResNet trains like the other models."""

import json
import os
import socket
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from scratchnn.data import prepare_data
from scratchnn.training import TrainConfig, evaluate, train

# 200 embedded digits in batches of 50: 4 steps an epoch.
TINY = {"model": "resnet", "epochs": 2, "batch_size": 50, "train_size": 200, "test_size": 50, "seed": 1}


@pytest.fixture(scope="module")
def data():
    data, _ = prepare_data("mnist", None, False, TINY["train_size"], TINY["test_size"])
    return data


def config(**changes) -> TrainConfig:
    return TrainConfig(**{**TINY, "deterministic": True, "device": "cpu", **changes})


def test_test_metrics_come_from_eval_mode_with_the_running_statistics(data):
    result = train(config(), data)
    model = result.model
    assert model.stem[1].num_batches_tracked.item() == 2 * 4  # every training step updated the statistics
    loss, accuracy, _ = evaluate(model, data.x_test, data.y_test)  # eval mode
    assert (result.final["test_loss"], result.final["test_accuracy"]) == (loss, accuracy)
    model.train()
    with torch.no_grad():
        batch_statistics_loss = F.cross_entropy(model(data.x_test), data.y_test).item()
    assert batch_statistics_loss != pytest.approx(loss, rel=1e-3)  # train mode would have reported another number


def test_checkpoint_keeps_the_running_statistics_and_resume_is_bit_identical(data, tmp_path):
    uninterrupted = train(config(), data)

    def stop_in_epoch_two(metrics):
        if metrics["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config(), data, tmp_path, on_epoch=stop_in_epoch_two)
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert saved["epoch"] == 1
    assert saved["model"]["stem.1.num_batches_tracked"].item() == 4
    assert not torch.equal(saved["model"]["stem.1.running_var"], torch.ones(16))
    resumed = train(config(), data, tmp_path, resume=True)
    for key, value in uninterrupted.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    assert resumed.history == uninterrupted.history


@pytest.mark.slow
def test_two_gloo_ranks_train_the_resnet(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()] + ["--device=cpu", "--quiet"]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1"]
    command = [*launcher, "--master-port", str(port), "-m", "scratchnn", "train", *flags, "--out", str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr
    (run_dir,) = tmp_path.iterdir()
    assert result.stdout.strip() == str(run_dir)  # printed once, by rank 0
    weights = torch.load(run_dir / "checkpoint.pt", weights_only=True)["model"]
    assert weights["stem.1.num_batches_tracked"].item() == 2 * 4  # rank 0's statistics, broadcast by DDP
    assert not torch.equal(weights["stem.1.running_mean"], torch.zeros(16))
    assert json.loads((run_dir / "metrics.json").read_text())["final"]["test_accuracy"] > 0.1
