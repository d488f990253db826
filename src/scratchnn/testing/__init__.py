"""The harness for testing custom layers against their torch.nn reference."""

from .harness import check_layer
from .report import CheckRow, Report

__all__ = ["CheckRow", "Report", "check_layer"]
