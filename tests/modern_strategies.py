"""Hypothesis strategies for the option spaces of the modern-CNN layers (normalisation, dropout, transposed and
adaptive layers, flatten, the loss), beside :mod:`strategies` for the original layers.

Each strategy draws a *valid* configuration as a :class:`LayerCase`: the constructor arguments of the layer,
spelled as torch.nn takes them, a batched input shape the configuration accepts, and for a loss the kind of its
target. Sizes stay small so that the harness checks a draw in well under a second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from hypothesis import strategies as st


@dataclass(frozen=True)
class LayerCase:
    """``<name>(*args, **kwargs)`` of scratchnn and of torch.nn, a batched input shape, and for a loss the kind
    of its target (``scratchnn.testing.check_layer``'s ``target``)."""

    name: str
    args: tuple
    kwargs: dict
    shape: tuple[int, ...]
    target: str | None = None


EPS = st.sampled_from([1e-5, 1e-3, 0.1])


@st.composite
def batch_norm_cases(draw, dims: int = 2) -> LayerCase:
    """``nn.BatchNorm1d`` (``dims=1``: ``(N, C)`` or ``(N, C, L)``) or ``nn.BatchNorm2d`` arguments: eps,
    momentum (``None``: the cumulative average), affine, track_running_stats; a batch of at least two."""
    C, N = draw(st.integers(1, 4)), draw(st.integers(2, 4))
    kwargs = {
        "eps": draw(EPS),
        "momentum": draw(st.sampled_from([0.1, 0.5, 1.0, None])),
        "affine": draw(st.booleans()),
        "track_running_stats": draw(st.booleans()),
    }
    side = st.integers(1, 4)
    extra = draw(st.sampled_from([(), (draw(side),)])) if dims == 1 else (draw(side), draw(side))
    return LayerCase(f"BatchNorm{dims}d", (C,), kwargs, (N, C, *extra))


@st.composite
def layer_norm_cases(draw) -> LayerCase:
    """``nn.LayerNorm`` arguments: normalized_shape of one or two dims (an int or a tuple), elementwise_affine,
    bias, eps; an input with one to two more leading dims."""
    normalized = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=2)))
    as_int = len(normalized) == 1 and draw(st.booleans())
    kwargs = {"eps": draw(EPS), "elementwise_affine": draw(st.booleans()), "bias": draw(st.booleans())}
    leading = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=2)))
    return LayerCase("LayerNorm", (normalized[0] if as_int else normalized,), kwargs, (*leading, *normalized))


@st.composite
def group_norm_cases(draw) -> LayerCase:
    """``nn.GroupNorm`` arguments: num_groups dividing num_channels, affine, eps; zero to two spatial dims (at
    least two values per group)."""
    groups = draw(st.integers(1, 3))
    channels = groups * draw(st.integers(1, 2))
    kwargs = {"eps": draw(EPS), "affine": draw(st.booleans())}
    spatial = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    if channels == groups and math.prod(spatial) == 1:  # torch refuses a group of one value in training
        spatial = (2,)
    return LayerCase("GroupNorm", (groups, channels), kwargs, (draw(st.integers(1, 3)), channels, *spatial))


@st.composite
def dropout_cases(draw) -> LayerCase:
    """``nn.Dropout`` arguments: p (0 and 1 included), inplace; an input of one to four dims."""
    p = draw(st.sampled_from([0.0, 1.0]) | st.floats(0.05, 0.95))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    return LayerCase("Dropout", (p,), {"inplace": draw(st.booleans())}, shape)


@st.composite
def conv_transpose_layer_cases(draw) -> LayerCase:
    """``nn.ConvTranspose2d`` arguments: stride, padding, output_padding (below the stride or the dilation),
    dilation, groups, bias; a batched input whose output is not empty."""
    groups = draw(st.integers(1, 2))
    in_channels, out_channels = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel, stride, dilation = (tuple(draw(st.integers(1, 3)) for _ in range(2)) for _ in range(3))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation, strict=True))
    H, W = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    padding = []
    for n, s, d, k, op in zip((H, W), stride, dilation, kernel, output_padding, strict=True):
        full = (n - 1) * s + d * (k - 1) + op + 1  # the output side without padding
        padding.append(draw(st.integers(0, min(2, (full - 1) // 2))))
    kwargs = {"stride": stride, "padding": tuple(padding), "output_padding": output_padding, "groups": groups,
              "bias": draw(st.booleans()), "dilation": dilation}  # fmt: skip
    args = (in_channels, out_channels, kernel)
    return LayerCase("ConvTranspose2d", args, kwargs, (draw(st.integers(1, 2)), in_channels, H, W))


@st.composite
def adaptive_avg_pool_cases(draw) -> LayerCase:
    """``nn.AdaptiveAvgPool2d`` output sizes: an int or a pair with ``None`` entries, smaller or larger than the
    input, dividing it or not."""
    side = st.one_of(st.integers(1, 6), st.none())
    output_size = draw(st.one_of(st.integers(1, 6), st.tuples(side, side)))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    return LayerCase("AdaptiveAvgPool2d", (output_size,), {}, shape)


@st.composite
def flatten_cases(draw) -> LayerCase:
    """``nn.Flatten`` start_dim and end_dim (negative or not, start before end) on a two- to four-dim input."""
    shape = tuple(draw(st.lists(st.integers(1, 3), min_size=2, max_size=4)))
    start = draw(st.integers(0, len(shape) - 1))
    end = draw(st.integers(start, len(shape) - 1))
    spell = draw(st.booleans())  # negative indices
    return LayerCase("Flatten", (start - len(shape) if spell else start, end - len(shape)), {}, shape)


@st.composite
def cross_entropy_cases(draw) -> LayerCase:
    """``nn.CrossEntropyLoss`` arguments: class weight, ignore_index (class indices only), reduction,
    label_smoothing; class indices or probabilities; zero to two dims after the classes."""
    target = draw(st.sampled_from(["indices", "probabilities"]))
    classes = draw(st.integers(2, 5))
    weight = draw(st.none() | st.lists(st.floats(0.1, 2.0), min_size=classes, max_size=classes))
    kwargs = {
        "weight": None if weight is None else torch.tensor(weight),
        "reduction": draw(st.sampled_from(["none", "sum", "mean"])),
        "label_smoothing": draw(st.sampled_from([0.0, 0.1, 0.5])),
    }
    if target == "indices":
        kwargs["ignore_index"] = draw(st.sampled_from([-100, 0, classes - 1]))
    extra = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    return LayerCase("CrossEntropyLoss", (), kwargs, (draw(st.integers(2, 4)), classes, *extra), target)
