"""The harness passes correct layers and points at the failing check of broken ones."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import scratchnn
from scratchnn.testing import check_layer
from scratchnn.testing.grid import Case, check_builtin

FIXTURES = Path(__file__).parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
from broken_layers import PermutedConv2d, RenamedLinear, WrongGradReLU  # noqa: E402


def failing(report) -> set[str]:
    return {row.check for row in report.failures}


def test_correct_layer_passes_every_check_under_both_engines():
    torch.manual_seed(0)
    ours = scratchnn.Conv2d(3, 4, 3, padding=1)
    torch.manual_seed(0)
    ref = nn.Conv2d(3, 4, 3, padding=1)
    report = check_layer(ours, ref, (4, 3, 6, 6), check_init=True, gradgradcheck=True)
    assert report.passed, report.format()
    assert {row.engine for row in report.rows} == {"-", "manual", "autograd"}
    checks = {row.check for row in report.rows}
    for expected in (
        "forward [batched]",
        "grad input [batched]",
        "grad weight [batched]",
        "grad bias [batched]",
        "forward [unbatched]",
        "forward [non-contiguous]",
        "forward [channels_last]",
        "forward [empty batch]",
        "gradcheck (float64)",
        "gradgradcheck (float64)",
        "identical initialisation",
    ):
        assert expected in checks


def test_permute_bug_fails_batched_forward_but_not_batch_of_one():
    torch.manual_seed(0)
    broken = PermutedConv2d(3, 4, 3)
    report = check_layer(broken, nn.Conv2d(3, 4, 3), (4, 3, 6, 6), unbatched=False)
    assert not report.passed
    assert "forward [batched]" in failing(report)
    assert "forward [batch 1]" not in failing(report)
    row = next(r for r in report.rows if r.check == "forward [batched]")
    assert row.max_abs > 0.1
    assert "FAIL" in report.format()


def test_wrong_backward_is_caught_by_gradient_rows_and_gradcheck():
    report = check_layer(WrongGradReLU(), nn.ReLU(), (3, 5))
    assert "grad input [batched]" in failing(report)
    assert "gradcheck (float64)" in failing(report)
    assert "forward [batched]" not in failing(report)


def test_state_dict_key_mismatch_is_reported_and_stops_the_check():
    report = check_layer(RenamedLinear(5, 3), nn.Linear(5, 3), (4, 5))
    assert len(report.rows) == 1 and not report.passed
    assert "Unexpected key(s) in the candidate: 'w', 'b'" in report.rows[0].detail


def test_different_initialisation_fails_identical_init_check():
    torch.manual_seed(0)
    ours = scratchnn.Linear(5, 3)
    torch.manual_seed(1)
    ref = nn.Linear(5, 3)
    report = check_layer(ours, ref, (4, 5), check_init=True, gradcheck=False)
    assert failing(report) == {"identical initialisation"}


def test_report_table_lists_rows_and_summary():
    report = check_layer(scratchnn.ReLU(), nn.ReLU(), (2, 3), gradcheck=False)
    text = report.format()
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["layer", "engine", "check", "result"]
    assert len(lines) == len(report.rows) + 4
    assert lines[-1] == f"{len(report.rows)} checks, all passed"


@pytest.mark.slow
def test_builtin_grid_passes():
    report = check_builtin()
    assert report.passed, report.format(failures_only=True)


def run_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "scratchnn", "check", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_cli_check_user_layer_passes():
    result = run_cli(
        "scratchnn:Conv2d",
        "--against",
        "torch.nn.Conv2d",
        "--args",
        "2",
        "3",
        "3",
        "--kwargs",
        "padding=1",
        "padding_mode='reflect'",
        "--input-shape",
        "3,2,5,5",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "checks, all passed" in result.stdout


def test_cli_check_broken_layer_exits_nonzero_and_names_the_check():
    result = run_cli(
        "broken_layers:PermutedConv2d",
        "--against",
        "torch.nn.Conv2d",
        "--args",
        "3",
        "4",
        "3",
        "--full",
        cwd=FIXTURES,
    )
    assert result.returncode == 1
    fail_lines = [line for line in result.stdout.splitlines() if "FAIL" in line]
    assert any("forward [batched]" in line for line in fail_lines)
    assert not any("forward [batch 1]" in line for line in fail_lines)
    assert "FAILED" in result.stdout.splitlines()[-1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuchmodule:Thing", "--against", "torch.nn.Conv2d"], "cannot load 'nosuchmodule:Thing'"),
        (["scratchnn:Conv2d"], "needs --against"),
        (["scratchnn:Conv2d", "--against", "torch.nn.Conv2d", "--args", "3"], "cannot construct"),
        (
            ["scratchnn:Linear", "--against", "torch.nn.Linear", "--args", "3", "2", "--input-shape", "x"],
            "--input-shape expects",
        ),
        (["scratchnn:functional", "--against", "torch.nn.Linear"], "is not a torch.nn.Module subclass"),
        (
            ["scratchnn:Conv2d", "--against", "torch.nn.Conv2d", "--args", "2", "3", "3", "--input-shape", "3,5,5,5"],
            "--input-shape 3,5,5,5 does not fit torch.nn.Conv2d: RuntimeError: Given groups=1, weight of size "
            "[3, 2, 3, 3], expected input[3, 5, 5, 5] to have 2 channels, but got 5 channels instead; "
            "it expects (N, 2, H, W), e.g. --input-shape 4,2,11,11",
        ),
        (
            ["scratchnn:Linear", "--against", "torch.nn.Linear", "--args", "2", "3", "--input-shape", "4,3"],
            "it expects (N, *, 2)",
        ),
        ([".relative:Thing", "--against", "torch.nn.Linear"], "cannot load '.relative:Thing'"),
        (["--device", "tpu"], "invalid choice: 'tpu'"),
    ],
)
def test_cli_check_usage_errors_are_one_line_exit_2(args, message):
    result = run_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_case_builds_identically_seeded_pairs():
    ours, ref = Case("Conv2d", (2, 3, 3)).build(seed=5)
    assert torch.equal(ours.weight, ref.weight) and torch.equal(ours.bias, ref.bias)


def test_a_reference_that_rejects_the_input_fails_instead_of_passing_silently():
    report = check_layer(scratchnn.ReLU(), nn.PixelShuffle(2), (2, 3, 4, 4))
    assert not report.passed
    row = next(r for r in report.rows if r.check == "forward [batched]")
    assert "the reference rejects input_shape [2, 3, 4, 4]" in row.detail


def test_one_tolerance_without_the_other_is_refused():
    with pytest.raises(ValueError, match="both rtol and atol"):
        check_layer(scratchnn.ReLU(), nn.ReLU(), (2, 3), rtol=1e-3)
