"""check_layer(stack=True) and `scratchnn check --stack`: each feature of the PyTorch stack, on both layers."""

import re
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
from broken_layers import (  # noqa: E402
    ContiguousConv2d,
    CPUBufferLinear,
    Float32Linear,
    RankScaledLinear,
    WrongMomentumBatchNorm2d,
)
from thin_layers import SubclassedReLU  # noqa: E402

STACK_ROWS = (
    "torch.compile [aot_eager]",
    "torch.export",
    "ONNX + onnxruntime",
    "torch.func.vmap",
    "per-sample grads",
    "autocast",
    "channels_last",
    "pickle / save / deepcopy",
    "meta device + to_empty",
    "DDP 2 ranks vs 1 process",
)


def twins(make_candidate, make_reference):
    torch.manual_seed(0)
    candidate = make_candidate()
    torch.manual_seed(0)
    return candidate, make_reference()


def stack_row(report, check):
    (row,) = [r for r in report.rows if r.check == check]
    return row


def test_autocast_row_fails_when_the_output_dtype_differs_from_torchs():
    report = check_layer(*twins(lambda: Float32Linear(5, 3), lambda: nn.Linear(5, 3)), (4, 5), stack=["autocast"])
    row = stack_row(report, "autocast")
    assert not row.passed
    assert row.detail == "output dtype: torch.float32, the reference's torch.bfloat16"


def test_channels_last_row_fails_when_the_output_memory_format_differs():
    pair = twins(lambda: ContiguousConv2d(3, 4, 3), lambda: nn.Conv2d(3, 4, 3))
    report = check_layer(*pair, (2, 3, 6, 6), stack=["channels_last"])
    assert (
        stack_row(report, "channels_last").detail == "output memory format: contiguous, the reference's channels_last"
    )


def test_meta_device_row_fails_when_construction_allocates_real_memory():
    pair = twins(lambda: CPUBufferLinear(5, 3), lambda: nn.Linear(5, 3))
    builders = (lambda: CPUBufferLinear(5, 3), lambda: nn.Linear(5, 3))
    report = check_layer(*pair, (4, 5), stack=["meta device + to_empty"], builders=builders)
    row = stack_row(report, "meta device + to_empty")
    assert row.detail == "RuntimeError: construction under torch.device('meta') allocated real tensors: ['scale']"


def test_pickle_row_fails_for_a_class_pickle_cannot_find():
    class LocalConv2d(nn.Conv2d):  # defined in a function: pickle cannot import it by name
        pass

    report = check_layer(*twins(lambda: LocalConv2d(3, 4, 3), lambda: nn.Conv2d(3, 4, 3)), (2, 3, 6, 6),
                         stack=["pickle / save / deepcopy"])  # fmt: skip
    row = stack_row(report, "pickle / save / deepcopy")
    assert not row.passed and "Can't pickle local object" in row.detail and "\n" not in row.detail


def test_a_feature_neither_layer_supports_is_shown_as_such_and_does_not_fail():
    report = check_layer(SubclassedReLU(), nn.ReLU(), (3, 5), stack=["channels_last"])
    row = stack_row(report, "channels_last")
    assert report.passed and row.result == "n/a"
    assert (
        row.detail
        == "neither supports it; the reference: ValueError: channels_last needs a 4-D input, but the input has 2 dims"
    )
    assert report.summary().endswith("all passed (1 skipped or unsupported by both)")
    assert re.search(r"\n\S+\s+-\s+channels_last\s+n/a\s+-\s+-\s+<- neither supports it", report.format())


def test_vmap_rows_fail_for_a_data_dependent_branch_on_the_input():
    class InputBranchReLU(nn.ReLU):
        def forward(self, x):
            return super().forward(x) if x.sum().item() > -1e9 else x

    report = check_layer(InputBranchReLU(), nn.ReLU(), (3, 5), stack=["torch.func.vmap", "per-sample grads"])
    assert {row.check for row in report.failures} == {"torch.func.vmap", "per-sample grads"}
    assert "item()" in stack_row(report, "torch.func.vmap").detail


def test_onnx_row_is_skipped_with_the_reason_when_onnxruntime_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    report = check_layer(SubclassedReLU(), nn.ReLU(), (3, 5), gradcheck=False, stack=["ONNX + onnxruntime"])
    row = stack_row(report, "ONNX + onnxruntime")
    assert report.passed and row.result == "skip"
    assert row.detail == "needs onnx, onnxscript and onnxruntime (onnxruntime is not installed)"


def test_an_unknown_stack_feature_is_refused_with_the_valid_names():
    with pytest.raises(ValueError, match=r"stack must be True or names from \['torch.compile', .*\['jit'\]"):
        check_layer(SubclassedReLU(), nn.ReLU(), (3, 5), stack=["jit"])


def test_builtin_grid_passes_builders_to_the_meta_row():
    report = check_builtin((Case("Linear", (5, 3), input_shape=(2, 5)),), stack=["meta device + to_empty"])
    rows = [r for r in report.rows if r.check == "meta device + to_empty"]
    assert [r.engine for r in rows] == ["manual", "autograd"]


@pytest.mark.slow
def test_ddp_row_fails_when_two_ranks_disagree_with_one_process():
    pair = twins(lambda: RankScaledLinear(5, 3), lambda: nn.Linear(5, 3))
    report = check_layer(*pair, (4, 5), gradcheck=False, stack=["DDP 2 ranks vs 1 process"])
    row = stack_row(report, "DDP 2 ranks vs 1 process")
    assert not row.passed and re.fullmatch(
        r"AssertionError: DDP's grad weight differs from one process's by \S+", row.detail
    )


@pytest.mark.slow
def test_ddp_row_is_unsupported_by_both_for_a_layer_without_parameters():
    report = check_layer(SubclassedReLU(), nn.ReLU(), (4, 3), gradcheck=False, stack=["DDP 2 ranks vs 1 process"])
    row = stack_row(report, "DDP 2 ranks vs 1 process")
    assert row.result == "n/a" and "DistributedDataParallel is not needed" in row.detail


def run_check(*args):
    return subprocess.run(
        [sys.executable, "-m", "scratchnn", "check", *args, "--stack", "--full"],
        capture_output=True,
        text=True,
        cwd=FIXTURES,
        timeout=600,
    )


@pytest.mark.slow
def test_cli_stack_fails_the_graph_breaking_fixture_on_compile_and_export_only():
    result = run_check("broken_layers:ItemBranchConv2d", "--against", "torch.nn.Conv2d", "--args", "3", "4", "3")
    assert result.returncode == 1, result.stdout + result.stderr
    failing = {re.split(r"\s{2,}", line)[2]: line for line in result.stdout.splitlines() if "  FAIL  " in line}
    assert set(failing) == {"torch.compile [aot_eager]", "torch.export", "ONNX + onnxruntime"}
    assert "1 graph break: Unsupported Tensor.item() call" in failing["torch.compile [aot_eager]"]
    assert "data-dependent expression" in failing["torch.export"]
    assert result.stdout.splitlines()[-1] == "3 of 26 checks FAILED"


@pytest.mark.slow
def test_cli_stack_passes_a_thin_subclass_of_a_torch_layer_on_every_row():
    result = run_check("thin_layers:SubclassedConv2d", "--against", "torch.nn.Conv2d", "--args", "3", "4", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [re.split(r"\s{2,}", line) for line in result.stdout.splitlines()[2:-2]]
    assert [row[2] for row in rows[-len(STACK_ROWS) :]] == list(STACK_ROWS)
    assert all(row[3] == "pass" for row in rows)
    assert result.stdout.splitlines()[-1] == "26 checks, all passed"


# ------------------------------------------------------------- state, modes, randomness and losses in the stack


def stack_results(report) -> dict[str, str]:
    """``{check: result}`` of the stack rows (``torch.export [train]``, ...)."""
    features = {name.split(" [")[0] for name in STACK_ROWS}
    return {row.check: row.result for row in report.rows if row.check.split(" [")[0] in features}


def test_a_batch_norm_runs_each_feature_in_both_modes_and_vmap_counts_in_eval():
    pair = twins(lambda: scratchnn.BatchNorm1d(3), lambda: nn.BatchNorm1d(3))
    features = ["torch.func.vmap", "per-sample grads", "torch.export"]
    report = check_layer(*pair, (4, 3), engines=["manual"], gradcheck=False, stack=features)
    results = stack_results(report)
    assert results["torch.func.vmap [train]"] == results["per-sample grads [train]"] == "n/a"  # torch refuses too
    assert results["torch.func.vmap [eval]"] == results["per-sample grads [eval]"] == "pass"
    assert results["torch.export [train]"] == results["torch.export [eval]"] == "pass"


def test_the_exported_graph_of_a_drifting_batch_norm_fails_on_its_buffers():
    pair = twins(lambda: WrongMomentumBatchNorm2d(3), lambda: nn.BatchNorm2d(3))
    report = check_layer(*pair, (2, 3, 4, 4), gradcheck=False, stack=["torch.export"])
    (row,) = [r for r in report.rows if r.check == "torch.export [train]"]
    assert not row.passed and row.detail.startswith("buffer running_mean: Mismatched elements")
    assert [r.result for r in report.rows if r.check == "torch.export [eval]"] == ["pass"]


def test_dropout_matches_under_vmap_and_export_from_the_same_seed():
    features = ["torch.func.vmap", "torch.export", "autocast"]
    report = check_layer(scratchnn.Dropout(0.4), nn.Dropout(0.4), (2, 3, 4, 4), engines=["manual"], stack=features)
    assert report.passed, report.format()
    assert {"torch.func.vmap [train]", "torch.export [train]", "autocast [eval]"} <= set(stack_results(report))


@pytest.mark.parametrize("target", ["indices", "probabilities"])
def test_a_loss_gets_its_target_in_every_feature(target):
    features = ["torch.export", "torch.func.vmap", "per-sample grads", "autocast", "pickle / save / deepcopy"]
    report = check_layer(scratchnn.CrossEntropyLoss(label_smoothing=0.1), nn.CrossEntropyLoss(label_smoothing=0.1),
                         (4, 5), target=target, engines=["autograd"], stack=features)  # fmt: skip
    results = stack_results(report)
    assert report.passed, report.format()
    assert [results[f] for f in features] == ["pass"] * len(features)


@pytest.mark.slow
def test_ddp_of_a_batch_norm_in_training_mode_equals_the_halves_run_alone():
    pair = twins(lambda: scratchnn.BatchNorm2d(3), lambda: nn.BatchNorm2d(3))
    report = check_layer(*pair, (2, 3, 4, 4), engines=["manual"], gradcheck=False, stack=["DDP 2 ranks vs 1 process"])
    assert stack_results(report) == {"DDP 2 ranks vs 1 process [train]": "pass"}
