"""The comparison study of scratch and torch.nn models, and its report."""

from .report import write_report

__all__ = ["write_report"]
