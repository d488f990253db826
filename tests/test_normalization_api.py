"""The normalisation layers' interface as torch.nn's: signatures, and errors of torch's type and wording at the
moment torch raises them."""

from __future__ import annotations

import inspect
import re

import pytest
import torch
import torch.nn.functional as TF
from torch import nn

import scratchnn
from scratchnn import functional as SF
from strategies import randn

# ----------------------------------------------------------------------------------------------- errors

ERRORS = [  # (build, input shape, exception type, the start of torch's message)
    (lambda: scratchnn.BatchNorm2d(3), (3, 4, 4), ValueError, "expected 4D input (got 3D input)"),
    (lambda: scratchnn.BatchNorm1d(3), (3,), ValueError, "expected 2D or 3D input (got 1D input)"),
    (lambda: scratchnn.BatchNorm1d(3), (1, 3), ValueError, "Expected more than 1 value per channel when training"),
    (lambda: scratchnn.BatchNorm1d(3), (4, 4), RuntimeError, "running_mean should contain 4 elements not 3"),
    (lambda: scratchnn.BatchNorm1d(3, track_running_stats=False), (4, 4), RuntimeError, "weight should contain 4"),
    (lambda: scratchnn.BatchNorm1d(3, eps=0), (4, 3), ValueError, "batch_norm eps must be positive during training"),
    (lambda: scratchnn.BatchNorm1d(3, eps=-1).eval(), (4, 3), ValueError, "batch_norm eps must be non-negative"),
    (lambda: scratchnn.GroupNorm(2, 4), (2, 5, 3), RuntimeError, "Expected number of channels in input to be divis"),
    (lambda: scratchnn.GroupNorm(2, 4), (2, 6, 3), RuntimeError, "Expected weight to be a vector of size equal"),
    (lambda: scratchnn.GroupNorm(2, 4), (4,), RuntimeError, "Expected at least 2 dimensions for input tensor"),
    (lambda: scratchnn.GroupNorm(4, 4), (1, 4), ValueError, "Expected more than 1 value per channel when training"),
    (lambda: scratchnn.LayerNorm(4), (2, 3), RuntimeError, "Given normalized_shape=[4], expected input with shape"),
    (lambda: scratchnn.LayerNorm((2, 3, 4)), (3, 4), RuntimeError, "Given normalized_shape=[2, 3, 4], expected"),
    (lambda: scratchnn.LayerNorm(()), (2, 4), RuntimeError, "Expected normalized_shape to be at least 1-dimensional"),
    (lambda: scratchnn.LayerNorm(4), torch.float64, RuntimeError, "mixed dtype (CPU): all inputs must share"),
]


@pytest.mark.parametrize(("build", "shape", "kind", "message"), ERRORS, ids=[e[3][:40] for e in ERRORS])
def test_errors_have_torchs_type_and_wording(build, shape, kind, message):
    ours = build()
    theirs = getattr(nn, type(ours).__name__)(*_ctor_args(ours)).train(ours.training)
    x = randn((2, 4), 0, shape) if isinstance(shape, torch.dtype) else randn(shape, 0)
    for layer in (ours, theirs):
        with pytest.raises(kind, match=re.escape(message)):
            layer(x)


def _ctor_args(layer: nn.Module) -> tuple:
    if isinstance(layer, scratchnn.LayerNorm):
        return (layer.normalized_shape, layer.eps)
    if isinstance(layer, scratchnn.GroupNorm):
        return (layer.num_groups, layer.num_channels, layer.eps)
    return (layer.num_features, layer.eps, layer.momentum, layer.affine, layer.track_running_stats)


def test_constructor_errors_match_torch():
    with pytest.raises(ValueError, match=r"num_channels \(4\) must be divisible by num_groups \(3\)"):
        scratchnn.GroupNorm(3, 4)
    with pytest.raises(TypeError, match="must be tuple of ints, not int"):
        SF.layer_norm(randn((2, 4), 0), 4)
    with pytest.raises(NotImplementedError, match="\"batch_norm\" not implemented for 'Long'"):
        SF.batch_norm(torch.ones(2, 3, dtype=torch.long), None, None, training=True)
    with pytest.raises(TypeError, match="must be Tensor, not list"):
        scratchnn.LayerNorm(2)([1.0, 2.0])


@pytest.mark.parametrize("name", ["batch_norm", "layer_norm", "group_norm"])
def test_functional_signatures_are_torchs(name):
    """The same parameter names, order and defaults; ours adds only the keyword-only ``backward``."""
    ours = inspect.signature(getattr(SF, name)).parameters
    theirs = inspect.signature(getattr(TF, name)).parameters
    assert [(p.name, p.default) for p in ours.values() if p.name != "backward"] == [
        (p.name, p.default) for p in theirs.values()
    ]
    assert ours["backward"].kind is inspect.Parameter.KEYWORD_ONLY


@pytest.mark.parametrize("name", ["BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm"])
def test_constructor_signatures_are_torchs(name):
    ours = inspect.signature(getattr(scratchnn, name)).parameters
    theirs = inspect.signature(getattr(nn, name)).parameters
    assert [(p.name, p.default, p.kind) for p in ours.values() if p.name != "backward"] == [
        (p.name, p.default, p.kind) for p in theirs.values()
    ]
