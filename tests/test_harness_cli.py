"""`scratchnn check` on layers with buffers, modes, randomness and a target: the flags, the default input shapes
of normalisation layers and losses, and the rows that fail."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def run_check(*args):
    return subprocess.run(
        [sys.executable, "-W", "ignore", "-m", "scratchnn", "check", *args],
        capture_output=True,
        text=True,
        cwd=FIXTURES,
        timeout=300,
    )


def failing_checks(stdout: str) -> set[str]:
    return {re.split(r"\s{2,}", line)[2] for line in stdout.splitlines() if "  FAIL  " in line}


def test_a_batch_norm_with_the_wrong_momentum_fails_on_its_buffers_only():
    result = run_check("broken_layers:WrongMomentumBatchNorm2d", "--against", "torch.nn.BatchNorm2d", "--args", "3",
                       "--full")  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    bad = failing_checks(result.stdout)
    assert "buffers [train, batched]" in bad and all(check.startswith("buffers [train, ") for check in bad)
    assert "forward [eval, batched]" in result.stdout  # train and eval both ran: (4, 3, 11, 11) by default


def test_a_loss_is_checked_with_the_target_flag():
    result = run_check("scratchnn:CrossEntropyLoss", "--against", "torch.nn.CrossEntropyLoss", "--target",
                       "probabilities", "--kwargs", "label_smoothing=0.1", "--full")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "grad target [batched]" in result.stdout
    assert result.stdout.splitlines()[-1].endswith("checks, all passed")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("layer", "args"), [("BatchNorm1d", ["3"]), ("LayerNorm", ["(4,5)"]), ("GroupNorm", ["2", "4"])]
)
def test_normalisation_layers_get_a_default_input_shape_they_accept(layer, args):
    result = run_check(f"torch.nn:{layer}", "--against", f"torch.nn.{layer}", "--args", *args, "--modes", "eval")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "checks, all passed" in result.stdout


@pytest.mark.slow
def test_dropout_runs_in_both_modes_from_the_same_seed():
    result = run_check("scratchnn:Dropout", "--against", "torch.nn.Dropout", "--args", "0.3", "--seed", "7", "--full")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "forward [train, batched]" in result.stdout and "forward [eval, batched]" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "indices"], "--target needs a layer to check: PKG.MOD:CLASS --against torch.nn.CLASS"),
        (["--args", "3", "--input-shape", "2,3"], "--args, --input-shape need a layer to check"),
        (["scratchnn:Dropout", "--against", "torch.nn.Dropout", "--target", "labels"], "invalid choice: 'labels'"),
        (["scratchnn:Dropout", "--against", "torch.nn.Dropout", "--modes", "test"], "invalid choice: 'test'"),
        (
            ["scratchnn:BatchNorm1d", "--against", "torch.nn.BatchNorm1d", "--args", "3", "--input-shape", "4,5"],
            "--input-shape 4,5 does not fit torch.nn.BatchNorm1d: RuntimeError: running_mean should contain 5 "
            "elements not 3; it accepts e.g. --input-shape 4,3",
        ),
        (
            ["scratchnn:CrossEntropyLoss", "--against", "torch.nn.CrossEntropyLoss"],
            "missing 1 required positional argument: 'target'; pass an --input-shape that the reference accepts "
            "(and --target for a loss)",
        ),
    ],
)
def test_usage_errors_are_one_line_exit_2(args, message):
    result = run_check(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
