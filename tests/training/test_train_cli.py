"""``scratchnn train`` from the outside: kill and resume bit-identically; one-line errors with exit code 2."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

BASE = [
    "--model",
    "cnn",
    "--epochs",
    "6",
    "--batch-size",
    "32",
    "--train-size",
    "300",
    "--test-size",
    "100",
    "--checkpoint-every",
    "1",
    "--deterministic",
    "--device",
    "cpu",
    "--seed",
    "3",
]

SMALL_MLP = ["train", "--model", "mlp", "--epochs", "1", "--train-size", "100", "--test-size", "50", "--quiet"]


def scratchnn(*args, cwd=None, **kw):
    return subprocess.run(
        [sys.executable, "-m", "scratchnn", *args], capture_output=True, text=True, cwd=cwd, timeout=600, **kw
    )


def last_line(result) -> Path:
    return Path(result.stdout.strip().splitlines()[-1])


def test_train_prints_run_dir_last_and_never_reuses_one(tmp_path):
    args = [*SMALL_MLP, "--out", str(tmp_path)]
    first, second = scratchnn(*args), scratchnn(*args)
    assert first.returncode == 0, first.stderr
    assert last_line(first) != last_line(second)
    for result in (first, second):
        run = last_line(result)
        assert {p.name for p in run.iterdir()} == {"config.json", "metrics.json", "checkpoint.pt"}


@pytest.mark.slow
def test_sigkill_then_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    whole = scratchnn("train", *BASE, "--quiet", "--out", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "scratchnn", "train", *BASE, "--quiet", "--out", str(tmp_path / "killed")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 300
    while not list((tmp_path / "killed").glob("*/checkpoint.pt")):
        assert proc.poll() is None and time.monotonic() < deadline, "run ended before its first checkpoint"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    run_dir = next((tmp_path / "killed").iterdir())
    interrupted_at = torch.load(run_dir / "checkpoint.pt", weights_only=True)["epoch"]
    assert interrupted_at < 6, "the kill came too late to test resuming"
    resumed = scratchnn("train", "--resume", str(run_dir), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert last_line(resumed) == run_dir
    a = torch.load(last_line(whole) / "checkpoint.pt", weights_only=True)
    b = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    metrics_a = json.loads((last_line(whole) / "metrics.json").read_text())
    metrics_b = json.loads((run_dir / "metrics.json").read_text())
    assert metrics_a["history"] == metrics_b["history"]
    assert metrics_a["final"] == metrics_b["final"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lr", "0"], "lr must be > 0"),
        (["--lr", "-1"], "lr must be > 0"),
        (["--epochs", "0"], "argument --epochs: expected a positive integer, got '0'"),
        (["--batch-size", "0"], "expected a positive integer"),
        (["--model", "rnn"], "invalid choice: 'rnn'"),
        (["--device", "tpu"], "invalid choice: 'tpu'"),
        (["--dataset", "cifar"], "invalid choice: 'cifar'"),
        (["--dataset", "fashion-mnist", "--data-dir", "{tmp}/empty"], "pass --download"),
        (["--resume", "{tmp}/nowhere"], "does not exist"),
        (["--out", "/proc/forbidden"], "cannot create a run directory"),
    ],
)
def test_user_mistakes_are_one_line_exit_2(tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]  # given last, so they override the defaults here
    result = scratchnn(
        "train", "--epochs", "1", "--train-size", "100", "--test-size", "50", "--out", str(tmp_path / "runs"), *args
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_resume_pointed_at_a_file_is_a_one_line_error_and_keeps_the_file(tmp_path):
    not_a_run = tmp_path / "file.txt"
    not_a_run.write_text("hello")
    result = scratchnn("train", "--resume", str(not_a_run))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "cannot resume" in result.stderr
    assert not_a_run.read_text() == "hello"


def test_resume_refuses_a_different_config_and_keeps_the_run(tmp_path):
    first = scratchnn(*SMALL_MLP, "--out", str(tmp_path))
    run_dir = last_line(first)
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    result = scratchnn("train", "--resume", str(run_dir), "--lr", "0.5")
    assert result.returncode == 2
    assert "different config: lr: 0.01 -> 0.5" in result.stderr
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before
    (run_dir / "checkpoint.pt").write_bytes(b"garbage")
    result = scratchnn("train", "--resume", str(run_dir))
    assert result.returncode == 2 and "not a scratchnn checkpoint" in result.stderr
