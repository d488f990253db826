"""The training loop: learns, checkpoints atomically, refuses a resume with another config."""

import json

import pytest
import torch

from scratchnn.training import CHECKPOINT, CONFIG, METRICS, Splits, TrainConfig, load_checkpoint, train


def tiny_data(n_train=96, n_test=48, seed=0):
    """Separable synthetic digits: class k lights up row 2k+4 of the image."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n_train + n_test,), generator=g)
    x = torch.randn(n_train + n_test, 1, 28, 28, generator=g) * 0.3
    x[torch.arange(len(y)), 0, 2 * y + 4, :] += 2.0
    return Splits(x[:n_train], y[:n_train], x[n_train:], y[n_train:])


CONFIG_KW = {"epochs": 3, "batch_size": 16, "lr": 0.01, "device": "cpu", "deterministic": True}


@pytest.mark.parametrize("model", ["cnn", "mlp"])
def test_training_learns_and_writes_the_contract_files(tmp_path, model):
    result = train(TrainConfig(model=model, checkpoint_every=1, **CONFIG_KW), tiny_data(), tmp_path)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.final["test_accuracy"] > 0.5
    metrics = json.loads((tmp_path / METRICS).read_text())
    assert set(metrics["final"]) >= {"train_loss", "test_loss", "test_accuracy"}
    assert [h["epoch"] for h in metrics["history"]] == [1, 2, 3]
    assert json.loads((tmp_path / CONFIG).read_text())["model"] == model
    state = torch.load(tmp_path / CHECKPOINT, weights_only=True)
    assert {"model", "optimizer", "epoch", "config"} <= set(state) and state["epoch"] == 3
    assert not list(tmp_path.glob("*.tmp"))


def test_same_config_same_result_and_twins_track_each_other():
    data = tiny_data()
    a = train(TrainConfig(model="cnn", **CONFIG_KW), data)
    b = train(TrainConfig(model="cnn", **CONFIG_KW), data)
    assert a.history == b.history
    t = train(TrainConfig(model="cnn", impl="torch", **CONFIG_KW), data)
    for ours, theirs in zip(a.history, t.history, strict=True):
        assert abs(ours["test_loss"] - theirs["test_loss"]) < 1e-4


def test_resume_with_a_different_config_is_refused_and_changes_nothing(tmp_path):
    data = tiny_data()
    train(TrainConfig(model="mlp", checkpoint_every=1, **CONFIG_KW), data, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(ValueError, match=r"different config: lr: 0\.01 -> 0\.1"):
        train(TrainConfig(model="mlp", checkpoint_every=1, **{**CONFIG_KW, "lr": 0.1}), data, tmp_path, resume=True)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_foreign_or_missing_checkpoint_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no checkpoint"):
        load_checkpoint(tmp_path / CHECKPOINT)
    torch.save({"weights": torch.zeros(3)}, tmp_path / CHECKPOINT)
    with pytest.raises(ValueError, match="not a scratchnn checkpoint"):
        load_checkpoint(tmp_path / CHECKPOINT)
    (tmp_path / CHECKPOINT).write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="not a scratchnn checkpoint"):
        load_checkpoint(tmp_path / CHECKPOINT)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("lr", 0.0, "lr must be > 0"),
        ("epochs", 0, "epochs must be >= 1"),
        ("batch_size", 0, "batch_size"),
        ("model", "rnn", "model must be one of"),
        ("device", "tpu", "device must be one of"),
        ("optimizer", "lbfgs", "optimizer must be one of"),
        ("seed", 2**70, "seed must be an integer"),
        ("seed", -1, "seed must be an integer"),
    ],
)
def test_invalid_hyperparameters_are_rejected(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})
