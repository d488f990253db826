"""The ``scratchnn`` command line: one sub-command per module in this package."""

from .main import main

__all__ = ["main"]
