"""``assert_layer_matches``: :func:`check_layer` as a pytest assertion."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from .harness import check_layer
from .report import Report

FULL_TABLE_UP_TO = 30  # rows; a longer report's message lists only the failing rows


def assert_layer_matches(candidate: nn.Module, reference: nn.Module, input_shape: Sequence[int], **options) -> Report:
    """Run :func:`check_layer` and raise ``AssertionError`` unless every check passes.

    The error's message is the report's table: every row when the report has at most ``FULL_TABLE_UP_TO``
    rows, otherwise only the failing rows (the summary line then says so). Returns the report when it passes.

    Args:
        candidate, reference, input_shape: as for :func:`check_layer`.
        **options: any other keyword argument of :func:`check_layer` (``stack=True``, ``gradgradcheck=True``,
            ``check_init=True``, ``dtype``, ``rtol``/``atol``, ...).

    Example::

        def test_my_conv():
            assert_layer_matches(MyConv2d(3, 8, 3), torch.nn.Conv2d(3, 8, 3), input_shape=(4, 3, 9, 9))
    """
    report = check_layer(candidate, reference, input_shape, **options)
    if not report.passed:
        raise AssertionError("\n" + report.format(failures_only=len(report.rows) > FULL_TABLE_UP_TO))
    return report
