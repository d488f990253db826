"""The autocast stack row: results computed through bfloat16 are judged at bfloat16's precision, whatever dtype they
come back in (a float32 input's gradient under autocast is a bfloat16 gradient cast up), and a real error still fails.
"""

import pytest
import torch
from torch import nn

import scratchnn
from scratchnn.testing import check_layer
from scratchnn.testing.grid import GRID

CONVS = [case for case in GRID if case.layer == "Conv2d"]


def autocast_row(report):
    (row,) = [r for r in report.rows if r.check == "autocast"]
    return row


@pytest.mark.parametrize("case", CONVS, ids=lambda case: case.name)
def test_builtin_convs_pass_the_autocast_row_under_both_engines(case):
    candidate, reference = case.build()
    report = check_layer(candidate, reference, case.input_shape, stack=["autocast"], gradcheck=False)
    rows = [r for r in report.rows if r.check == "autocast"]
    assert [r.engine for r in rows] == ["manual", "autograd"]
    assert all(r.passed for r in rows), [r.detail for r in rows]


class ScaledGradConv2d(scratchnn.Conv2d):
    """A conv whose input gradient is 5% too large: far beyond bfloat16's rounding, invisible in the output."""

    def forward(self, x):
        x = x * 1.05 - (x * 0.05).detach()  # the value of x, the gradient of 1.05 x
        return super().forward(x)


def test_autocast_row_still_fails_a_gradient_wrong_beyond_bfloat16_rounding():
    torch.manual_seed(0)
    candidate = ScaledGradConv2d(3, 4, 3)
    torch.manual_seed(0)
    report = check_layer(candidate, nn.Conv2d(3, 4, 3), (2, 3, 7, 7), stack=["autocast"], gradcheck=False)
    row = autocast_row(report)
    assert not row.passed
    assert row.detail.startswith("grad input: Mismatched elements")
