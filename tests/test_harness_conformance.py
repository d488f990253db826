"""Every option combination of the modern-CNN layers, drawn at random, through the harness: forward, buffers and
gradients against torch.nn in float64, under both backward engines, in training and eval mode where they differ.

Each draw builds scratchnn's layer and torch.nn's from the same seed, gives the reference random affine
parameters and running statistics (so that gamma is not 1 and eval mode does not normalise with 0 and 1), and
runs ``check_layer``; the larger grid, with gradcheck and gradgradcheck, is marked slow.
"""

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import scratchnn
from modern_strategies import (
    LayerCase,
    adaptive_avg_pool_cases,
    batch_norm_cases,
    conv_transpose_layer_cases,
    cross_entropy_cases,
    dropout_cases,
    flatten_cases,
    group_norm_cases,
    layer_norm_cases,
)
from scratchnn.testing import check_layer
from strategies import seeds

LAYERS = {
    "BatchNorm1d": batch_norm_cases(dims=1),
    "BatchNorm2d": batch_norm_cases(dims=2),
    "LayerNorm": layer_norm_cases(),
    "GroupNorm": group_norm_cases(),
    "Dropout": dropout_cases(),
    "ConvTranspose2d": conv_transpose_layer_cases(),
    "AdaptiveAvgPool2d": adaptive_avg_pool_cases(),
    "Flatten": flatten_cases(),
    "CrossEntropyLoss": cross_entropy_cases(),
}


def twins(case: LayerCase, seed: int) -> tuple[nn.Module, nn.Module]:
    """scratchnn's and torch.nn's layer from the same seed; the reference's floating state then randomised."""
    torch.manual_seed(seed)
    ours = getattr(scratchnn, case.name)(*case.args, **case.kwargs)
    torch.manual_seed(seed)
    theirs = getattr(nn, case.name)(*case.args, **case.kwargs)
    with torch.no_grad():
        for t in theirs.parameters():
            t.uniform_(-2, 2)
        for name, t in theirs.named_buffers():
            if name == "running_mean":
                t.uniform_(-1, 1)
            elif name == "running_var":
                t.uniform_(0.5, 2)
    return ours, theirs


def assert_conforms(case: LayerCase, seed: int, **options) -> None:
    ours, theirs = twins(case, seed)
    report = check_layer(ours, theirs, case.shape, target=case.target, dtype=torch.float64, seed=seed, **options)
    assert report.passed, f"{case}\n" + report.format(failures_only=True)


@pytest.mark.filterwarnings("ignore")  # var_mean of an empty batch warns in both layers
@pytest.mark.parametrize("layer", LAYERS)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=seeds)
def test_a_random_option_combination_matches_torch(layer, data, seed):
    assert_conforms(data.draw(LAYERS[layer]), seed, gradcheck=False)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("layer", LAYERS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), seed=seeds)
def test_many_option_combinations_match_torch_with_gradcheck(layer, data, seed):
    assert_conforms(data.draw(LAYERS[layer]), seed, gradgradcheck=True)
