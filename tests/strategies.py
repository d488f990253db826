"""Hypothesis strategies for every layer's option space, kept apart from the tests (as minitorch does).

Each strategy draws a *valid* configuration: the constructor arguments of a layer (spelled exactly as torch.nn
takes them, ints and pairs mixed) and an input shape the configuration accepts. Sizes stay small so that a
hundred examples run in a second. ``batch`` picks the batch size; ``None`` draws an unbatched input.

The module also holds the one reference check the tests share: :func:`assert_matches_torch` runs a scratchnn
layer and its torch.nn twin on the same input and compares outputs and every gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from hypothesis import strategies as st
from torch import nn

import scratchnn
from scratchnn.functional import BACKWARDS  # noqa: F401  (the tests' engine parametrisation)

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
BATCHED = st.integers(1, 3)
seeds = st.integers(0, 2**31 - 1)
# float16/bfloat16 outputs may differ from torch's by one rounding (e.g. a bias added after the product)
ONE_ROUNDING = {
    dtype: {"atol": 2 * torch.finfo(dtype).eps, "rtol": 2 * torch.finfo(dtype).eps}
    for dtype in (torch.float16, torch.bfloat16)
}


@dataclass(frozen=True)
class Case:
    """A layer's constructor arguments (as torch.nn takes them) and an input shape it accepts."""

    kwargs: dict
    shape: tuple[int, ...]


def randn(shape, seed: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Standard-normal values drawn from ``seed``, independent of the global RNG."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype)


def _int_or_pair(draw, first: int, second: int):
    """``3`` or ``(3, 3)`` when both sides agree, else ``(first, second)``: torch takes both spellings."""
    if first == second and draw(st.booleans()):
        return first
    return (first, second)


def _shape(draw, batch, channels: int, spatial: tuple[int, int]) -> tuple[int, ...]:
    n = draw(batch)
    return (channels, *spatial) if n is None else (n, channels, *spatial)


# ------------------------------------------------------------------------------------------------ Conv2d


def _conv_min_size(kernel: int, dilation: int, before: int, after: int, mode: str) -> int:
    """The smallest input side for which this dimension of the conv is valid."""
    need = max(1, dilation * (kernel - 1) + 1 - before - after)  # the kernel fits the padded input
    if mode == "reflect":
        need = max(need, before + 1, after + 1)  # reflect padding must be smaller than the input
    if mode == "circular":
        need = max(need, before, after)  # circular padding may wrap the input at most once
    return need


@st.composite
def conv_cases(draw, batch=BATCHED) -> Case:
    """``nn.Conv2d`` arguments over the whole option space, with an input size valid for them."""
    groups = draw(st.integers(1, 3))
    in_channels, out_channels = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding_mode = draw(st.sampled_from(PADDING_MODES))
    padding = draw(st.sampled_from(["numbers", "same", "valid"]))
    if padding == "same":
        stride = (1, 1)
        totals = [d * (k - 1) for d, k in zip(dilation, kernel, strict=True)]
        pads = [(t // 2, t - t // 2) for t in totals]  # torch puts the odd pixel after
    else:
        stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        numbers = (draw(st.integers(0, 2)), draw(st.integers(0, 2))) if padding == "numbers" else (0, 0)
        pads = [(p, p) for p in numbers]
        if padding == "numbers":
            padding = _int_or_pair(draw, *numbers)
    H, W = (
        draw(st.integers(low, low + 3))
        for low in (_conv_min_size(k, d, *p, padding_mode) for k, d, p in zip(kernel, dilation, pads, strict=True))
    )
    kwargs = {
        "in_channels": in_channels,
        "out_channels": out_channels,
        "kernel_size": _int_or_pair(draw, *kernel),
        "stride": _int_or_pair(draw, *stride),
        "padding": padding,
        "dilation": _int_or_pair(draw, *dilation),
        "groups": groups,
        "bias": draw(st.booleans()),
        "padding_mode": padding_mode,
    }
    return Case(kwargs, _shape(draw, batch, in_channels, (H, W)))


def conv_functional_args(kwargs: dict) -> dict:
    """The keyword arguments of ``F.conv2d`` for a :func:`conv_cases` case (``padding_mode`` aside)."""
    return {k: kwargs[k] for k in ("stride", "padding", "dilation", "groups")}


# ----------------------------------------------------------------------------------------------- pooling


def _pool_window(draw, max_dilation: int):
    """Kernel, stride (None: the kernel), padding (at most half the kernel) and dilation, plus their pairs."""
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = draw(st.none() | st.tuples(st.integers(1, 3), st.integers(1, 3)))
    pads = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    dilation = (draw(st.integers(1, max_dilation)), draw(st.integers(1, max_dilation)))
    kwargs = {
        "kernel_size": _int_or_pair(draw, *kernel),
        "stride": stride if stride is None else _int_or_pair(draw, *stride),
        "padding": _int_or_pair(draw, *pads),
    }
    return kwargs, kernel, pads, dilation


def _pool_size(draw, kernel: int, pad: int, dilation: int) -> int:
    """An input side with at least one window, each of which reaches a real pixel.

    A dilated window that starts in the padding can step over a plane narrower than ``dilation``; torch then
    reports an index outside the plane and its backward writes out of bounds, so such inputs are left out.
    """
    low = max(dilation, dilation * (kernel - 1) + 1 - 2 * pad)
    return draw(st.integers(low, low + 4))


@st.composite
def max_pool_cases(draw, batch=BATCHED) -> Case:
    """``nn.MaxPool2d`` arguments: kernel, stride, padding <= kernel // 2, dilation, ceil_mode,
    return_indices."""
    kwargs, kernel, pads, dilation = _pool_window(draw, max_dilation=2)
    kwargs["dilation"] = _int_or_pair(draw, *dilation)
    kwargs["ceil_mode"] = draw(st.booleans())
    kwargs["return_indices"] = draw(st.booleans())
    H, W = (_pool_size(draw, k, p, d) for k, p, d in zip(kernel, pads, dilation, strict=True))
    return Case(kwargs, _shape(draw, batch, draw(st.integers(1, 3)), (H, W)))


@st.composite
def avg_pool_cases(draw, batch=BATCHED) -> Case:
    """``nn.AvgPool2d`` arguments: kernel, stride, padding, ceil_mode, count_include_pad, divisor_override."""
    kwargs, kernel, pads, _ = _pool_window(draw, max_dilation=1)
    kwargs["ceil_mode"] = draw(st.booleans())
    kwargs["count_include_pad"] = draw(st.booleans())
    kwargs["divisor_override"] = draw(st.none() | st.integers(1, 5))
    H, W = (_pool_size(draw, k, p, 1) for k, p in zip(kernel, pads, strict=True))
    return Case(kwargs, _shape(draw, batch, draw(st.integers(1, 3)), (H, W)))


# ------------------------------------------------------------------------------------------------ Linear


LEADING_DIMS = st.lists(st.integers(1, 3), max_size=3)


@st.composite
def linear_cases(draw, leading=LEADING_DIMS) -> Case:
    """``nn.Linear`` arguments and an input ``(*, in_features)`` with 0 to 3 leading dims."""
    kwargs = {
        "in_features": draw(st.integers(1, 5)),
        "out_features": draw(st.integers(1, 5)),
        "bias": draw(st.booleans()),
    }
    return Case(kwargs, (*draw(leading), kwargs["in_features"]))


# ------------------------------------------------------------------------------------------- activations

shapes = st.lists(st.integers(1, 4), max_size=4).map(tuple)


# --------------------------------------------------------------------------------------- memory layouts

LAYOUTS = ("transposed", "sliced", "channels_last")


def relayout(x: torch.Tensor, layout: str) -> torch.Tensor:
    """The values of ``x`` in another memory layout: H and W strides swapped, every other element of a larger
    buffer (with a storage offset), or channels-last (4-D only)."""
    if layout == "transposed":
        return x.transpose(-1, -2).contiguous().transpose(-1, -2)
    if layout == "sliced":
        buffer = torch.zeros((*x.shape[:-1], 2 * x.shape[-1] + 1), dtype=x.dtype)
        buffer[..., 1::2] = x
        return buffer[..., 1::2]
    if layout == "channels_last":
        return x.contiguous(memory_format=torch.channels_last)
    raise ValueError(f"unknown layout {layout!r}")


# ------------------------------------------------------------------------------------ the reference check


def twins(name: str, kwargs: dict, dtype: torch.dtype = torch.float32, backward: str | None = None):
    """``(scratchnn.<name>, torch.nn.<name>)`` built from the same arguments, holding the same parameters."""
    theirs = getattr(nn, name)(**kwargs).to(dtype)
    ours = getattr(scratchnn, name)(**kwargs, backward=backward).to(dtype)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def assert_matches_torch(ours, theirs, x: torch.Tensor, grad: torch.Tensor | None = None, **tolerance) -> None:
    """Outputs, the input's gradient and every parameter's gradient agree (``assert_close`` tolerances).

    Each module gets its own leaf viewing ``x`` with ``x``'s strides (a non-contiguous or channels-last input
    stays so); both receive the same ``grad`` (default: random) as ``grad_output``. A module that returns
    ``(out, indices)`` has both compared, the indices exactly. Integer inputs are compared forward only.
    """
    differentiable = x.is_floating_point()
    x_ours, x_theirs = (x.detach().requires_grad_(differentiable) for _ in range(2))
    out_ours, out_theirs = ours(x_ours), theirs(x_theirs)
    torch.testing.assert_close(out_ours, out_theirs, **tolerance)
    if not differentiable:
        return
    if isinstance(out_theirs, tuple):
        out_ours, out_theirs = out_ours[0], out_theirs[0]
    grad = randn(out_theirs.shape, 0, out_theirs.dtype) if grad is None else grad
    out_ours.backward(grad)
    out_theirs.backward(grad)
    torch.testing.assert_close(x_ours.grad, x_theirs.grad, **tolerance)
    ours_params, theirs_params = dict(ours.named_parameters()), dict(theirs.named_parameters())
    assert ours_params.keys() == theirs_params.keys()
    for name, param in theirs_params.items():
        torch.testing.assert_close(
            ours_params[name].grad, param.grad, **tolerance, msg=lambda m, name=name: f"grad of {name}: {m}"
        )


def assert_low_precision_forward(ours, theirs, x: torch.Tensor, **tolerance) -> None:
    """The scratchnn layer keeps ``x``'s (half) dtype and matches its torch.nn twin within ``tolerance``."""
    out = ours(x)
    assert (out[0] if isinstance(out, tuple) else out).dtype == x.dtype
    torch.testing.assert_close(out, theirs(x), **tolerance)
