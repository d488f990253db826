"""The harness on layers with state, modes, randomness and two inputs: buffers compared after every forward,
train and eval both run where they differ, dropout masks drawn from the same seed, losses given a target."""

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import scratchnn
from scratchnn.testing import check_layer
from scratchnn.testing.inputs import make_target

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from broken_layers import (
    AlwaysOnDropout,
    BiasedVarianceBatchNorm1d,
    OwnGeneratorDropout,
    UnweightedCrossEntropyLoss,
    WrongMomentumBatchNorm2d,
)


def twins(make_ours, make_theirs, seed=0):
    torch.manual_seed(seed)
    ours = make_ours()
    torch.manual_seed(seed)
    return ours, make_theirs()


def failing(report) -> set[str]:
    return {row.check for row in report.failures}


def test_scratchnn_batch_norm_is_checked_in_train_and_eval_with_its_buffers():
    ours, theirs = twins(lambda: scratchnn.BatchNorm2d(3), lambda: nn.BatchNorm2d(3))
    report = check_layer(ours, theirs, (4, 3, 5, 5), engines=["manual"], unbatched=False)
    assert report.passed, report.format()
    checks = [row.check for row in report.rows]
    for name in ("forward [train, batched]", "buffers [train, batched]", "grad weight [train, batched]",
                 "forward [eval, batched]", "buffers [eval, channels_last]", "gradcheck (float64) [eval]"):  # fmt: skip
        assert name in checks
    assert "forward [batched]" not in checks


@pytest.mark.parametrize(
    ("make", "reference", "shape"),
    [
        (lambda: WrongMomentumBatchNorm2d(3, momentum=0.2), lambda: nn.BatchNorm2d(3, momentum=0.2), (4, 3, 5, 5)),
        (lambda: BiasedVarianceBatchNorm1d(3), lambda: nn.BatchNorm1d(3), (4, 3)),
    ],
    ids=["wrong momentum", "biased running variance"],
)
def test_a_batch_norm_whose_buffers_drift_fails_the_buffer_rows_only(make, reference, shape):
    report = check_layer(*twins(make, reference), shape, gradcheck=False)
    bad = failing(report)
    assert "buffers [train, batched]" in bad
    assert all(check.startswith("buffers [train,") for check in bad), bad
    row = next(r for r in report.rows if r.check == "buffers [train, batched]")
    assert row.detail.startswith("running_") and row.max_abs > 1e-3


def test_a_buffer_the_candidate_does_not_count_is_named():
    class UncountedBatchNorm1d(nn.BatchNorm1d):
        def forward(self, x):
            out = super().forward(x)
            self.num_batches_tracked.zero_()
            return out

    report = check_layer(UncountedBatchNorm1d(3), nn.BatchNorm1d(3), (4, 3), gradcheck=False)
    row = next(r for r in report.rows if r.check == "buffers [train, batched]")
    assert not row.passed and row.detail.startswith("num_batches_tracked: ")


def test_a_missing_buffer_is_a_state_dict_key_mismatch():
    class NoCounterBatchNorm1d(nn.BatchNorm1d):
        def __init__(self, num_features):
            super().__init__(num_features)
            self.num_batches_tracked = None

    (row,) = check_layer(NoCounterBatchNorm1d(3), nn.BatchNorm1d(3), (4, 3)).rows
    assert row.detail == "Missing key(s) in the candidate: 'num_batches_tracked'."


def test_dropout_is_compared_mask_for_mask_from_the_same_seed_in_both_modes():
    report = check_layer(scratchnn.Dropout(0.4), nn.Dropout(0.4), (4, 3, 5, 5))
    assert report.passed, report.format()
    assert {"forward [train, batched]", "forward [eval, batched]", "gradcheck (float64) [train]"} <= {
        row.check for row in report.rows
    }


def test_dropout_with_its_own_generator_fails_in_training_mode_only():
    report = check_layer(OwnGeneratorDropout(0.4), nn.Dropout(0.4), (4, 6), gradcheck=False)
    bad = failing(report)
    assert "forward [train, batched]" in bad and "grad input [train, batched]" in bad
    assert not any("eval" in check for check in bad)


def test_dropout_that_stays_on_in_eval_fails_the_eval_rows_only():
    report = check_layer(AlwaysOnDropout(0.4), nn.Dropout(0.4), (4, 6), gradcheck=False)
    bad = failing(report)
    assert "forward [eval, batched]" in bad
    assert not any("train" in check for check in bad)


def test_a_layer_that_ignores_the_mode_runs_once_and_its_rows_name_no_mode():
    report = check_layer(scratchnn.ReLU(), nn.ReLU(), (2, 3), gradcheck=False)
    assert "forward [batched]" in {row.check for row in report.rows}
    assert not any("train" in row.check or "eval" in row.check for row in report.rows)


def test_modes_can_be_chosen_and_both_layers_keep_their_own_mode():
    ours, theirs = twins(lambda: scratchnn.BatchNorm1d(3), lambda: nn.BatchNorm1d(3))
    theirs.eval()
    report = check_layer(ours, theirs, (4, 3), modes=["eval"], gradcheck=False)
    assert report.passed and {row.check.split(" [")[1][:4] for row in report.rows[1:]} == {"eval"}
    assert ours.training and not theirs.training


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"modes": ["test"]}, r"modes must be a non-empty list of \['train', 'eval'\], but got \['test'\]"),
        ({"modes": "train"}, "but got 'train'"),
        (
            {"target": "labels"},
            r"target must be None, a callable or one of \['indices', 'probabilities'\], but got 'labels'",
        ),
    ],
)
def test_bad_modes_and_targets_are_refused_naming_the_value(options, message):
    with pytest.raises(ValueError, match=message):
        check_layer(scratchnn.ReLU(), nn.ReLU(), (2, 3), **options)


@pytest.mark.parametrize("target", ["indices", "probabilities"])
def test_cross_entropy_with_a_target_passes_and_a_float_target_gets_its_gradient_checked(target):
    weight = torch.tensor([1.0, 2.0, 0.5, 1.5, 1.0])
    ours, theirs = scratchnn.CrossEntropyLoss(weight=weight), nn.CrossEntropyLoss(weight=weight)
    report = check_layer(ours, theirs, (4, 5, 3), target=target, gradgradcheck=True)
    assert report.passed, report.format()
    checks = {row.check for row in report.rows}
    assert ("grad target [batched]" in checks) == (target == "probabilities")
    assert "buffers [batched]" in checks  # the class weight is a buffer


def test_a_loss_that_forgets_its_weight_fails_the_forward():
    weight = torch.tensor([1.0, 3.0, 0.2])
    pair = UnweightedCrossEntropyLoss(weight=weight), nn.CrossEntropyLoss(weight=weight)
    report = check_layer(*pair, (4, 3), target="indices", gradcheck=False)
    assert "forward [batched]" in failing(report)
    assert check_layer(UnweightedCrossEntropyLoss(), nn.CrossEntropyLoss(), (4, 3), target="indices").passed


def test_a_loss_without_a_target_fails_with_the_reason():
    report = check_layer(scratchnn.CrossEntropyLoss(), nn.CrossEntropyLoss(), (4, 3), engines=["manual"])
    (row,) = [r for r in report.rows if r.check == "forward [batched]"]
    assert "missing 1 required positional argument: 'target'" in row.detail
    assert row.detail.endswith("(a loss needs a target: target='indices' or 'probabilities')")


def test_targets_fit_every_input_variant():
    x = torch.zeros(4, 5, 3)
    indices = make_target("indices", x, 0, ignore_index=-100)
    assert indices.shape == (4, 3) and indices.dtype == torch.int64
    assert indices.view(-1)[0] == -100 and ((indices.view(-1)[1:] >= 0) & (indices.view(-1)[1:] < 5)).all()
    assert make_target("indices", torch.zeros(5), 0).shape == ()
    for seed in range(20):  # two samples, two classes: never both ignored (a mean of nothing)
        assert (make_target("indices", torch.zeros(2, 2), seed, ignore_index=1) != 1).any()
    probabilities = make_target("probabilities", x, 0)
    torch.testing.assert_close(probabilities.sum(1), torch.ones(4, 3))


def test_a_callable_target_is_called_with_each_input():
    seen = []

    def target(x):
        seen.append(tuple(x.shape))
        return torch.zeros(x.shape[:-1], dtype=torch.int64)

    report = check_layer(scratchnn.CrossEntropyLoss(), nn.CrossEntropyLoss(), (4, 3), target=target)
    assert report.passed, report.format()
    assert (4, 3) in seen and (3,) in seen  # batched and unbatched


def test_an_unknown_option_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="unexpected keyword argument 'grad_check'"):
        check_layer(scratchnn.ReLU(), nn.ReLU(), (2, 3), grad_check=False)
