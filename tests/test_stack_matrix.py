"""Every layer works wherever its torch.nn twin works: compile, export, ONNX, torch.func, autocast, memory formats.

One table of layers (each with its torch.nn twin carrying the same weights) crossed with one test per feature and
both backward engines. Each test runs the feature on our layer and on the twin and compares what a user sees:
outputs, gradients, dtypes, memory formats.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call, grad, jacrev, vmap

import scratchnn
from strategies import BACKWARDS, randn
from twin_checks import (
    assert_autocast_like_torch,
    assert_channels_last_like_torch,
    onnxruntime_output,
    outputs_and_grads,
)

# name: (build ours(backward), build torch's, the shape of a batched input); the twins get the same weights
LAYERS = {
    "Linear": (lambda b: scratchnn.Linear(5, 3, backward=b), lambda: nn.Linear(5, 3), (4, 5)),
    "Conv2d": (lambda b: scratchnn.Conv2d(2, 8, 3, padding=1, backward=b), lambda: nn.Conv2d(2, 8, 3, padding=1), None),
    "Conv2d-strided": (
        lambda b: scratchnn.Conv2d(2, 4, 3, stride=2, padding=1, backward=b),
        lambda: nn.Conv2d(2, 4, 3, stride=2, padding=1),
        None,
    ),
    "MaxPool2d": (lambda b: scratchnn.MaxPool2d(2, backward=b), lambda: nn.MaxPool2d(2), None),
    "MaxPool2d-padded": (
        lambda b: scratchnn.MaxPool2d(3, 2, padding=1, backward=b),
        lambda: nn.MaxPool2d(3, 2, padding=1),
        None,
    ),
    "AvgPool2d": (lambda b: scratchnn.AvgPool2d(3, 2, 1, backward=b), lambda: nn.AvgPool2d(3, 2, 1), None),
    "ReLU": (lambda b: scratchnn.ReLU(backward=b), nn.ReLU, (4, 5)),
    "LeakyReLU": (lambda b: scratchnn.LeakyReLU(0.1, backward=b), lambda: nn.LeakyReLU(0.1), (4, 5)),
    "Sigmoid": (lambda b: scratchnn.Sigmoid(backward=b), nn.Sigmoid, (4, 5)),
    "Tanh": (lambda b: scratchnn.Tanh(backward=b), nn.Tanh, (4, 5)),
    "SiLU": (lambda b: scratchnn.SiLU(backward=b), nn.SiLU, (4, 5)),
}
IMAGE = (3, 2, 6, 6)
SPATIAL = [name for name, (_, _, shape) in LAYERS.items() if shape is None]


def twins(name: str, backward: str) -> tuple[nn.Module, nn.Module, torch.Tensor]:
    ours, theirs, shape = LAYERS[name]
    torch.manual_seed(0)
    ours = ours(backward)
    theirs = theirs()
    theirs.load_state_dict(ours.state_dict())
    return ours, theirs, randn(shape or IMAGE, 1)


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("name", LAYERS)
def test_compile_fullgraph_forward_and_backward(name, backward):
    ours, _, x = twins(name, backward)
    torch._dynamo.reset()
    compiled = torch.compile(ours, fullgraph=True, backend="aot_eager")  # raises at the first graph break
    expected = outputs_and_grads(ours, ours, x)
    actual = outputs_and_grads(ours, compiled, x)
    torch.testing.assert_close(actual, expected)


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("name", LAYERS)
def test_export_runs_matches_and_backpropagates(name, backward):
    ours, theirs, x = twins(name, backward)
    exported = torch.export.export(ours, (x,)).module()
    torch.testing.assert_close(exported(x), theirs(x))
    # the exported graph (training mode: autograd recorded) backpropagates to the same gradients
    torch.testing.assert_close(outputs_and_grads(exported, exported, x), outputs_and_grads(theirs, theirs, x))


@pytest.mark.slow
@pytest.mark.parametrize("name", LAYERS)
def test_onnx_export_runs_in_onnxruntime(name):
    """Both engines export the same composite forward (ONNX knows torch's ops, not ours), so one run per layer."""
    ours, theirs, x = twins(name, "manual")
    torch.testing.assert_close(onnxruntime_output(ours.eval(), x), theirs(x).detach(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("name", LAYERS)
def test_per_sample_gradients_equal_a_loop_over_samples(name, backward):
    ours, _, x = twins(name, backward)
    params = {k: v.detach() for k, v in ours.named_parameters()}

    def loss(params, inputs, sample):
        return (functional_call(ours, params, (sample.unsqueeze(0),)) ** 2).sum() + inputs.sum()

    def per_sample(params, sample):
        return grad(loss, argnums=(0, 2))(params, torch.zeros(()), sample)

    batched = vmap(per_sample, in_dims=(None, 0))(params, x)
    for i in range(x.shape[0]):
        one = per_sample(params, x[i])
        torch.testing.assert_close({k: v[i] for k, v in batched[0].items()}, one[0])
        torch.testing.assert_close(batched[1][i], one[1])


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("name", LAYERS)
def test_jacrev_equals_the_twins(name, backward):
    ours, theirs, x = twins(name, backward)
    x = x[:2]
    torch.testing.assert_close(jacrev(ours)(x), jacrev(theirs)(x))


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("name", LAYERS)
def test_autocast_cpu_follows_torchs_dtype_rule(name, backward):
    assert_autocast_like_torch(*twins(name, backward))


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("name", SPATIAL)
def test_channels_last_input_gives_torchs_memory_format(name, backward):
    assert_channels_last_like_torch(*twins(name, backward))
