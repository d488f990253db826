"""The arguments every model takes: ``impl`` (which layers build it) and ``activation``."""

from __future__ import annotations

from ..layers import ACTIVATIONS

IMPLS = ("scratch", "torch")


def check_arguments(impl: str, activation: str) -> None:
    """A ValueError naming ``impl`` or ``activation`` when it is not one of the accepted names."""
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, but got impl={impl!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, but got activation={activation!r}")
