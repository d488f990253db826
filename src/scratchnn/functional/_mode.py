"""The switch between hand-written backward passes and autograd through the forward.

``'manual'`` (the default) runs each layer as a ``torch.autograd.Function`` whose ``backward`` is written out by
hand in this package. ``'autograd'`` runs the very same forward operations (pad, unfold, matmul, ...) outside any
Function, so PyTorch's autograd differentiates through them, as the original from-scratch project did. Both give
the same gradients; comparing them shows what the hand-derived formulas replace.

Every op picks its engine the same way, with :func:`composite`. Set it per layer with ``backward=`` or per call of
a functional op; otherwise the global default applies::

    scratchnn.set_backward("autograd")          # global
    with scratchnn.use_backward("autograd"):    # for a block of code
        ...
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .._library import onnx_exporting

BACKWARDS = ("manual", "autograd")


class _Default:
    """The process-wide default. A plain class attribute rather than a ContextVar: ``torch.compile`` reads it, and
    guards on its value, without a graph break (``ContextVar.get`` breaks the graph)."""

    backward = "manual"


def _check(mode: str) -> str:
    if mode not in BACKWARDS:
        raise ValueError(f"backward must be one of {BACKWARDS}, but got backward={mode!r}")
    return mode


def get_backward() -> str:
    """The backward used by layers and ops that were not given one: ``'manual'`` or ``'autograd'``."""
    return _Default.backward


def set_backward(mode: str) -> None:
    """Set the global default backward: ``'manual'`` (hand-written) or ``'autograd'``."""
    _Default.backward = _check(mode)


@contextmanager
def use_backward(mode: str) -> Iterator[None]:
    """Use ``mode`` as the default backward inside a ``with`` block, then restore the previous one."""
    previous = get_backward()
    set_backward(mode)
    try:
        yield
    finally:
        set_backward(previous)


def resolve_backward(mode: str | None) -> str:
    """A layer's own ``backward`` if it has one, else the global default."""
    return get_backward() if mode is None else _check(mode)


def composite(mode: str | None) -> bool:
    """Whether an op runs its composite forward (plain tensor ops, no autograd Function, no custom op) rather than
    its Function: under the ``'autograd'`` engine (``mode``, else the global default), and during ONNX export, whose
    translator knows torch's ops but not ours."""
    return resolve_backward(mode) == "autograd" or onnx_exporting()
