"""Infinities and NaN in the input and in the output gradient land where torch puts them, for every layer.

Both sides run in float64, where torch's convolution backward is its im2col path: like ours, it multiplies the
padded zeros too, so a zero-padded conv's dL/dW is NaN wherever torch's is (torch's float32 oneDNN backward skips
the padding instead; the README says so). The activations have their own test in ``test_activations.py``.
"""

import math

import pytest
import torch

from strategies import BACKWARDS, assert_matches_torch, twins

LAYERS = {
    "Linear": ({"in_features": 6, "out_features": 4}, (3, 6)),
    "Conv2d-zeros": ({"in_channels": 3, "out_channels": 4, "kernel_size": 3, "padding": 1}, (2, 3, 7, 8)),
    "Conv2d-strided": (
        {"in_channels": 4, "out_channels": 4, "kernel_size": (2, 3), "stride": 2, "groups": 2, "dilation": (2, 1)},
        (2, 4, 9, 9),
    ),
    "Conv2d-reflect": (
        {"in_channels": 3, "out_channels": 2, "kernel_size": 3, "padding": 2, "padding_mode": "reflect"},
        (2, 3, 6, 6),
    ),
    "MaxPool2d": ({"kernel_size": 2}, (2, 3, 6, 6)),
    "MaxPool2d-padded": ({"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, (2, 3, 7, 7)),
    "AvgPool2d": ({"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}, (2, 3, 7, 7)),
}
SPECIALS = torch.tensor([math.inf, -math.inf, math.nan], dtype=torch.float64)


def _sprinkle(t: torch.Tensor, seed: int) -> torch.Tensor:
    """``t`` with inf, -inf and NaN written at three seeded positions."""
    flat = t.clone().reshape(-1)
    where = torch.randperm(flat.numel(), generator=torch.Generator().manual_seed(seed))[:3]
    flat[where] = SPECIALS
    return flat.reshape(t.shape)


@pytest.mark.parametrize("where", ["input", "gradient", "both"])
@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("layer", LAYERS)
def test_non_finite_values_match_torch(layer, backward, where):
    kwargs, shape = LAYERS[layer]
    ours, theirs = twins(layer.split("-")[0], kwargs, torch.float64, backward=backward)
    for seed in range(4):
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(shape, dtype=torch.float64, generator=gen)
        out = theirs(x)
        grad = torch.randn(out.shape, dtype=torch.float64, generator=gen)
        if where != "gradient":
            x = _sprinkle(x, seed)
        if where != "input":
            grad = _sprinkle(grad, seed + 100)
        assert_matches_torch(ours, theirs, x, grad, equal_nan=True)
        for module in (ours, theirs):
            module.zero_grad(set_to_none=True)
