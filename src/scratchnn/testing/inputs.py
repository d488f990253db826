"""The harness's inputs: seeded input variants, the second input of a loss (its target), and seeded randomness.

A loss takes ``(input, target)``. The target is derived from each input so that every variant (batched, batch of
one, unbatched, ...) gets one that fits it; the class dim is dim 1 of a batched input and dim 0 of an unbatched
one, as for ``torch.nn.CrossEntropyLoss``:

- ``'indices'``: class indices in ``[0, C)``, shaped like the input without its class dim, int64; when the
  reference has an ``ignore_index``, the first of them (if there are several) is set to it, and one at least is
  not;
- ``'probabilities'``: a probability per class, shaped like the input (softmax over the class dim);
- a callable: ``target(x)`` returns the target for input ``x``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import Tensor, nn

TARGET_KINDS = ("indices", "probabilities")
Target = str | Callable[[Tensor], Tensor] | None


def variants(shape: Sequence[int], dtype, device, seed: int, unbatched: bool) -> Iterator[tuple[str, Tensor]]:
    """(name, input) pairs: batched, batch 1, unbatched, non-contiguous, channels_last, empty batch."""
    g = torch.Generator().manual_seed(seed)

    def randn(*size: int) -> Tensor:
        return torch.randn(size, generator=g, dtype=torch.float64).to(dtype=dtype, device=device)

    shape = tuple(shape)
    yield "batched", randn(*shape)
    yield "batch 1", randn(1, *shape[1:])
    if unbatched:
        yield "unbatched", randn(*shape[1:])
    if len(shape) >= 2:
        yield "non-contiguous", randn(*shape[:-2], shape[-1], shape[-2]).transpose(-1, -2)
    if len(shape) == 4:
        yield "channels_last", randn(*shape).contiguous(memory_format=torch.channels_last)
    yield "empty batch", randn(0, *shape[1:])


def check_target(target: Target) -> None:
    """A ValueError for a target that is neither a kind nor a callable."""
    if target is not None and not callable(target) and target not in TARGET_KINDS:
        raise ValueError(f"target must be None, a callable or one of {list(TARGET_KINDS)}, but got {target!r}")


def extra_inputs(target: Target, reference: nn.Module, seed: int) -> Callable[[Tensor], tuple[Tensor, ...]]:
    """``x -> (target,)`` for a loss, ``x -> ()`` for a layer of one input."""
    if target is None:
        return lambda x: ()
    if callable(target):
        return lambda x: (target(x),)
    ignore_index = getattr(reference, "ignore_index", None)
    return lambda x: (make_target(target, x, seed, ignore_index),)


def make_target(kind: str, x: Tensor, seed: int, ignore_index: int | None = None) -> Tensor:
    """A seeded target of ``kind`` for input ``x`` (see the module's docstring)."""
    class_dim = 1 if x.dim() >= 2 else 0
    classes = x.shape[class_dim]
    g = torch.Generator().manual_seed(seed + 2)
    if kind == "probabilities":
        logits = torch.randn(x.shape, generator=g, dtype=torch.float64)
        return logits.softmax(class_dim).to(dtype=x.dtype, device=x.device)
    shape = x.shape[:class_dim] + x.shape[class_dim + 1 :]  # (N, d1, ...) or () unbatched
    indices = torch.randint(0, max(classes, 1), shape, generator=g)
    flat = indices.view(-1)
    if ignore_index is not None and flat.numel() > 1:
        flat[0] = ignore_index
        if (flat == ignore_index).all():  # every target ignored: a mean of nothing, NaN on both sides
            flat[-1] = (ignore_index + 1) % classes
    return indices.to(x.device)


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Run a block from torch's generator seeded with ``seed``, restoring the caller's generator state after.

    Candidate and reference each run from the same state, so a random layer (dropout) draws the same numbers
    in both when it draws them as its reference does (on the CPU, scratchnn's ``Dropout`` does).
    """
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
