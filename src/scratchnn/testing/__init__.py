"""The harness for testing custom layers against their torch.nn reference."""

from .assertions import assert_layer_matches
from .harness import check_layer
from .options import CheckOptions
from .report import CheckRow, Report

__all__ = ["CheckOptions", "CheckRow", "Report", "assert_layer_matches", "check_layer"]
