"""The harness inside pytest: assert_layer_matches, the Report's repr, whole models, phases and reasons."""

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import scratchnn
from scratchnn.models import CNN, MLP
from scratchnn.testing import assert_layer_matches, check_layer
from scratchnn.testing.assertions import FULL_TABLE_UP_TO

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from broken_layers import BatchedOnlyBackwardReLU, PermutedConv2d, RenamedLinear, WrongGradReLU


def twins(make_ours, make_theirs, seed=0):
    torch.manual_seed(seed)
    ours = make_ours()
    torch.manual_seed(seed)
    return ours, make_theirs()


def test_assert_layer_matches_returns_the_report_of_a_correct_layer():
    ours, ref = twins(lambda: scratchnn.Linear(5, 3), lambda: nn.Linear(5, 3))
    report = assert_layer_matches(ours, ref, input_shape=(4, 5), check_init=True)
    assert report.passed and len(report.rows) > 10


def test_assert_layer_matches_raises_with_the_report_table():
    ours, ref = twins(lambda: PermutedConv2d(3, 4, 3), lambda: nn.Conv2d(3, 4, 3))
    with pytest.raises(AssertionError) as info:
        assert_layer_matches(ours, ref, input_shape=(4, 3, 6, 6), unbatched=False)
    message = str(info.value)
    expected = check_layer(*twins(lambda: PermutedConv2d(3, 4, 3), lambda: nn.Conv2d(3, 4, 3)), (4, 3, 6, 6),
                           unbatched=False).format()  # fmt: skip
    assert expected in message
    assert "forward [batched]" in message and "FAIL" in message and "forward [batch 1]" in message
    assert message.strip().splitlines()[-1].startswith("8 of 13 checks FAILED")


def test_a_long_report_lists_only_its_failing_rows_and_says_so():
    torch.manual_seed(0)
    model = nn.Sequential(scratchnn.Linear(5, 4), WrongGradReLU(), scratchnn.Linear(4, 3))
    torch.manual_seed(0)
    ref = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3))
    assert len(check_layer(model, ref, (3, 5)).rows) > FULL_TABLE_UP_TO
    with pytest.raises(AssertionError) as info:
        assert_layer_matches(model, ref, (3, 5))
    lines = str(info.value).strip().splitlines()
    assert all(" FAIL " in line for line in lines[2:-2])
    assert "grad input [batched]" in str(info.value)
    assert lines[-1] == "14 of 31 checks FAILED; only the 14 failing rows are shown"


def test_report_repr_summarises_instead_of_dumping_rows():
    passing = check_layer(scratchnn.ReLU(), nn.ReLU(), (2, 3), gradcheck=False)
    assert repr(passing) == f"Report({len(passing.rows)} checks, all passed)"
    failing = check_layer(PermutedConv2d(3, 4, 3), nn.Conv2d(3, 4, 3), (4, 3, 6, 6), unbatched=False)
    assert repr(failing).startswith("Report(13 checks, 8 FAILED: forward [batched], grad input [batched], ")
    assert "CheckRow" not in repr(failing)
    assert not failing and passing  # bool(report) is report.passed: `assert check_layer(...)` works


def test_a_sequential_of_scratchnn_layers_matches_its_torch_twin():
    ours, ref = twins(
        lambda: nn.Sequential(scratchnn.Conv2d(2, 3, 3), scratchnn.ReLU(), scratchnn.MaxPool2d(2), nn.Flatten(),
                              scratchnn.Linear(12, 4)),
        lambda: nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(12, 4)),
    )  # fmt: skip
    report = assert_layer_matches(ours, ref, input_shape=(3, 2, 6, 6), check_init=True, unbatched=False)
    assert "grad 4.weight [batched]" in {row.check for row in report.rows}


@pytest.mark.parametrize(("model", "grads"), [(CNN, {"grad conv1.weight", "grad fc.bias"}), (MLP, {"grad fc1.weight"})])
def test_the_studys_models_match_their_torch_twins_including_gradcheck(model, grads):
    ours, ref = twins(model, lambda: model(impl="torch"))
    report = assert_layer_matches(ours, ref, input_shape=(2, 1, 28, 28), check_init=True)
    checks = {row.check for row in report.rows}
    assert {f"{g} [batched]" for g in grads} | {"gradcheck (float64, fast mode)"} <= checks


def test_a_backward_that_raises_fails_a_gradient_row_not_the_forward():
    report = check_layer(BatchedOnlyBackwardReLU(), nn.ReLU(), (3, 5), gradcheck=False)
    bad = {row.check: row.detail for row in report.failures}
    assert set(bad) == {"gradients [unbatched]"}
    assert "ValueError: not enough values to unpack" in bad["gradients [unbatched]"]


def test_gradcheck_reason_is_whole_and_names_the_input():
    report = check_layer(WrongGradReLU(), nn.ReLU(), (3, 5))
    row = next(r for r in report.rows if r.check == "gradcheck (float64)")
    assert not row.passed
    assert row.detail == "GradcheckError: Jacobian mismatch for output 0 with respect to input 0 (the input)"


def test_state_dict_mismatch_lists_missing_and_unexpected_keys_apart():
    report = check_layer(RenamedLinear(5, 3), nn.Linear(5, 3), (4, 5))
    (row,) = report.rows
    assert row.check == "state_dict keys" and not row.passed
    assert (
        row.detail == "Missing key(s) in the candidate: 'weight', 'bias'. Unexpected key(s) in the candidate: 'w', 'b'."
    )
