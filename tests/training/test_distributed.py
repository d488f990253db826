"""``scratchnn train`` and ``compare`` under torchrun: 2 gloo ranks on 127.0.0.1 train the one-process model,
write one run, resume bit-identically after a SIGKILL of the whole job, and refuse impossible setups."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from scratchnn.data import prepare_data
from scratchnn.training import TrainConfig, train
from scratchnn.training.distributed import World

# 301 examples in global batches of 25: every batch splits 13/12 over 2 ranks, and the last one (1 example)
# leaves rank 1 an empty slice. 61 test examples split 31/30.
RUN = {"model": "cnn", "epochs": 4, "batch_size": 25, "train_size": 301, "test_size": 61, "seed": 3}
FLAGS = ["--deterministic", "--checkpoint-every", "1"]
# Measured against one process: 7.0e-7 (weights) and 2.6e-7 (losses); see docs/distributed.md.
WEIGHT_TOL, LOSS_TOL = 5e-6, 2e-6


def flags(run: dict, device: str = "cpu") -> list[str]:
    return [a for k, v in run.items() for a in (f"--{k.replace('_', '-')}", str(v))] + [*FLAGS, "--device", device]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun_cmd(*args: str, nproc: int = 2) -> list[str]:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc)]
    return [*launcher, "--master-addr", "127.0.0.1", "--master-port", str(free_port()), "-m", "scratchnn", *args]


ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def torchrun(*args: str, nproc: int = 2) -> subprocess.CompletedProcess:
    return subprocess.run(torchrun_cmd(*args, nproc=nproc), capture_output=True, text=True, timeout=600, env=ENV)


def only_run(out: Path) -> Path:
    runs = list(out.iterdir())
    assert len(runs) == 1, runs
    return runs[0]


def one_process(run: dict, device: str = "cpu"):
    """The same run in this process (one thread, as the ranks): the reference."""
    config = TrainConfig(**run, deterministic=True, device=device)
    data, _ = prepare_data(config.dataset, None, False, config.train_size, config.test_size)
    return train(config, data)


def assert_matches_one_process(run_dir: Path, run: dict, device="cpu", weight_tol=WEIGHT_TOL, loss_tol=LOSS_TOL):
    reference = one_process(run, device)
    weights = torch.load(run_dir / "checkpoint.pt", weights_only=True)["model"]
    for key, value in reference.model.state_dict().items():
        assert torch.allclose(weights[key], value.cpu(), rtol=0, atol=weight_tol), key
    history = json.loads((run_dir / "metrics.json").read_text())["history"]
    for ours, theirs in zip(history, reference.history, strict=True):
        for key in ("train_loss", "test_loss"):
            assert ours[key] == pytest.approx(theirs[key], rel=0, abs=loss_tol), (ours["epoch"], key)
        for key in ("train_accuracy", "test_accuracy"):  # the same correct counts
            assert ours[key] == theirs[key], (ours["epoch"], key)


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("two-ranks")
    result = torchrun("train", *flags(RUN), "--out", str(out))  # not --quiet: rank 0 shows progress
    assert result.returncode == 0, result.stderr
    return result, out


def test_two_gloo_ranks_train_the_one_process_model(two_ranks):
    _, out = two_ranks
    assert_matches_one_process(only_run(out), RUN)


def test_two_ranks_write_one_run_print_it_once_and_record_the_processes(two_ranks):
    result, out = two_ranks
    run_dir = only_run(out)
    final, last = result.stdout.strip().splitlines()  # rank 0's summary and run directory, nothing from rank 1
    assert final.startswith("final: train loss") and last == str(run_dir)
    assert result.stderr.count("cnn-scratch epoch 4:") == 1  # the progress, from rank 0 alone
    assert {p.name for p in run_dir.iterdir()} == {"config.json", "metrics.json", "checkpoint.pt"}
    env = json.loads((run_dir / "metrics.json").read_text())["environment"]
    assert (env["world_size"], env["backend"], env["rank_devices"]) == (2, "gloo", ["cpu", "cpu"])
    assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["world_size"] == 2


@pytest.mark.slow
def test_full_batch_split_unevenly_over_two_ranks_matches_one_process(tmp_path):
    run = {**RUN, "batch_size": "full", "train_size": 101, "epochs": 3}  # 51 + 50 examples per step
    result = torchrun("train", *flags(run), "--quiet", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert_matches_one_process(only_run(tmp_path), {**run, "batch_size": None})


@pytest.mark.slow
def test_sigkill_of_the_whole_job_then_resume_is_bit_identical(two_ranks, tmp_path):
    _, whole_out = two_ranks
    whole = only_run(whole_out)
    out = tmp_path / "killed"
    job = subprocess.Popen(
        torchrun_cmd("train", *flags(RUN), "--quiet", "--out", str(out)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=ENV,
        start_new_session=True,  # torchrun and its workers in one process group, killed together
    )
    deadline = time.monotonic() + 300
    while not list(out.glob("*/checkpoint.pt")):
        assert job.poll() is None and time.monotonic() < deadline, "the job ended before its first checkpoint"
        time.sleep(0.01)
    time.sleep(0.05)  # into the next epoch
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    run_dir = only_run(out)
    assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["epoch"] < RUN["epochs"], "killed too late"
    resumed = torchrun("train", "--resume", str(run_dir), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip() == str(run_dir) and only_run(out) == run_dir
    a, b = (torch.load(d / "checkpoint.pt", weights_only=True) for d in (whole, run_dir))
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    metrics_a, metrics_b = (json.loads((d / "metrics.json").read_text()) for d in (whole, run_dir))
    assert metrics_a["history"] == metrics_b["history"] and metrics_a["final"] == metrics_b["final"]


@pytest.mark.parametrize(
    ("n", "size", "slices"),
    [
        (25, 2, [(0, 13), (13, 25)]),
        (24, 2, [(0, 12), (12, 24)]),
        (1, 2, [(0, 1), (1, 1)]),
        (10, 3, [(0, 4), (4, 7), (7, 10)]),
    ],
)
def test_each_rank_takes_a_contiguous_slice_the_first_ones_one_more(n, size, slices):
    assert [World(rank, size).share(n) for rank in range(size)] == slices


def as_rank(rank: int, world: int, *args: str, per_host: int | None = None) -> subprocess.CompletedProcess:
    """``scratchnn train`` as torchrun starts rank ``rank`` of ``world`` (the setup checks run before joining)."""
    env = {
        **ENV,
        "RANK": str(rank),
        "LOCAL_RANK": str(rank),
        "WORLD_SIZE": str(world),
        "LOCAL_WORLD_SIZE": str(per_host or world),
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(free_port()),
    }
    cmd = [sys.executable, "-m", "scratchnn", "train", "--epochs", "1", "--train-size", "20", "--test-size", "10"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=600, env=env)


no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


@pytest.mark.parametrize(
    ("world", "args", "message"),
    [
        pytest.param(2, ["--backend", "nccl"], "backend 'nccl' needs CUDA, but no CUDA device", marks=no_cuda),
        (2, ["--device", "cpu", "--backend", "nccl"], "backend 'nccl' cannot train on device 'cpu'"),
        (2, ["--device", "mps"], "device 'mps' cannot train under torchrun"),
        (16, ["--train-size", "10"], "more processes than training examples: world size 16, but 10 training"),
    ],
)
def test_impossible_setups_are_one_line_on_rank_zero_exit_2_and_write_nothing(tmp_path, world, args, message):
    result = as_rank(0, world, *args, "--out", str(tmp_path / "runs"))
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("scratchnn train: error: ") and message in line
    assert result.stdout == ""
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("args", [["--device", "cpu", "--backend", "nccl"], ["--model", "rnn"]])
def test_other_ranks_exit_2_silently(tmp_path, args):
    result = as_rank(1, 2, *args, "--out", str(tmp_path / "runs"))
    assert (result.returncode, result.stderr, result.stdout) == (2, "", "")
    assert not (tmp_path / "runs").exists()


def test_resuming_with_another_world_size_is_refused_and_changes_nothing(tmp_path):
    config = TrainConfig(model="mlp", epochs=1, train_size=20, test_size=10, device="cpu")
    data, _ = prepare_data("mnist", None, False, 20, 10)
    train(config, data, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    result = as_rank(0, 2, "--resume", str(tmp_path))
    assert result.returncode == 2
    assert "with world size 2: it was trained with world size 1" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.slow
def test_an_impossible_setup_stops_the_whole_job_with_one_message(tmp_path):
    result = torchrun("train", "--device", "cpu", "--backend", "nccl", "--out", str(tmp_path / "runs"))
    assert result.returncode != 0 and result.stdout == ""
    assert result.stderr.count("scratchnn train: error:") == 1
    assert "exitcode  : 2" in result.stderr  # torchrun's report of the worker's exit code
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_compare_under_two_ranks_writes_one_run(tmp_path):
    small = ["--epochs", "1", "--seeds", "1", "--train-size", "60", "--test-size", "30", "--device", "cpu"]
    result = torchrun("compare", *small, "--quiet", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    run_dir = only_run(tmp_path)
    assert result.stdout.strip() == str(run_dir)
    env = json.loads((run_dir / "metrics.json").read_text())["environment"]
    assert (env["world_size"], env["backend"], env["rank_devices"]) == (2, "gloo", ["cpu", "cpu"])
    report = (run_dir / "report.md").read_text()  # markdown escapes the underscores
    assert "| world\\_size | 2 |" in report and "| rank\\_devices | cpu, cpu |" in report


needs_gpus = pytest.mark.skipif(
    torch.cuda.device_count() < 2 or not torch.distributed.is_nccl_available(), reason="needs 2 CUDA devices, nccl"
)


@pytest.mark.cuda
@needs_gpus
def test_two_nccl_ranks_on_two_gpus_train_the_one_process_model(tmp_path):
    result = torchrun("train", *flags(RUN, "cuda"), "--quiet", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    run_dir = only_run(tmp_path)
    env = json.loads((run_dir / "metrics.json").read_text())["environment"]
    assert (env["backend"], env["rank_devices"]) == ("nccl", ["cuda:0", "cuda:1"])
    assert_matches_one_process(run_dir, RUN, "cuda", weight_tol=1e-4, loss_tol=1e-4)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_more_processes_per_host_than_gpus_is_refused(tmp_path):
    per_host = torch.cuda.device_count() + 1
    result = as_rank(0, per_host, "--device", "cuda", "--out", str(tmp_path / "runs"))
    assert result.returncode == 2
    assert f"{per_host} processes on this host need a CUDA device each" in result.stderr
    assert not (tmp_path / "runs").exists()
