"""The normalisation layers work wherever their torch.nn twins work: compile (fullgraph, with the running-statistics
updates), export, torch.func (per-sample gradients in eval mode, jacrev), autocast and channels_last, under both
backward engines. Each test runs the feature on our layer and on the twin and compares what a user sees."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call, grad, jacrev, vmap

import scratchnn
from strategies import BACKWARDS, randn
from twin_checks import assert_channels_last_like_torch, onnxruntime_output, outputs_and_grads

# name: (build ours(backward), build torch's, input shape)
LAYERS = {
    "BatchNorm1d": (lambda b: scratchnn.BatchNorm1d(3, backward=b), lambda: nn.BatchNorm1d(3), (4, 3)),
    "BatchNorm2d": (lambda b: scratchnn.BatchNorm2d(3, backward=b), lambda: nn.BatchNorm2d(3), (2, 3, 4, 4)),
    "BatchNorm2d-cumulative": (
        lambda b: scratchnn.BatchNorm2d(3, momentum=None, backward=b),
        lambda: nn.BatchNorm2d(3, momentum=None),
        (2, 3, 4, 4),
    ),
    "LayerNorm": (lambda b: scratchnn.LayerNorm((4, 4), backward=b), lambda: nn.LayerNorm((4, 4)), (2, 3, 4, 4)),
    "GroupNorm": (lambda b: scratchnn.GroupNorm(3, 6, backward=b), lambda: nn.GroupNorm(3, 6), (2, 6, 4, 4)),
}
SPATIAL = ["BatchNorm2d", "LayerNorm", "GroupNorm"]
# compiling takes seconds per layer: the cumulative average (the case torch's own BatchNorm cannot compile with
# fullgraph) runs every time, the others with the slow tests
COMPILED = [name if name == "BatchNorm2d-cumulative" else pytest.param(name, marks=pytest.mark.slow) for name in LAYERS]


def twins(name: str, backward: str):
    ours, theirs, shape = LAYERS[name]
    ours, theirs = ours(backward), theirs()
    with torch.no_grad():
        for p in ours.parameters():
            p.uniform_(-2, 2)
    theirs.load_state_dict(ours.state_dict())
    return ours, theirs, shape


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("name", COMPILED)
def test_compile_fullgraph_trains_like_torch_buffers_included(name, backward):
    """Two training steps, then eval: compiled without a graph break, the same outputs, gradients and buffers
    (momentum=None included: the count never leaves the graph)."""
    ours, theirs, shape = twins(name, backward)
    torch._dynamo.reset()
    compiled = torch.compile(ours, fullgraph=True, backend="aot_eager")  # raises at the first graph break
    for seed in (1, 2):
        x = randn(shape, seed)
        torch.testing.assert_close(outputs_and_grads(ours, compiled, x), outputs_and_grads(theirs, theirs, x))
        torch.testing.assert_close(ours.state_dict(), theirs.state_dict())
    ours.eval(), theirs.eval()
    x = randn(shape, 3)
    torch.testing.assert_close(compiled(x), theirs(x))


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("name", LAYERS)
def test_export_runs_matches_updates_buffers_and_backpropagates(name, backward, training):
    ours, theirs, shape = twins(name, backward)
    ours.train(training), theirs.train(training)
    x = randn(shape, 1)
    exported = torch.export.export(ours, (x,)).module()
    torch.testing.assert_close(outputs_and_grads(exported, exported, x), outputs_and_grads(theirs, theirs, x))
    torch.testing.assert_close(exported.state_dict(), theirs.state_dict())  # the buffer updates were exported


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("name", LAYERS)
def test_per_sample_gradients_in_eval_mode_equal_a_loop(name, backward):
    ours, _, shape = twins(name, backward)
    ours.eval()
    params = {k: v.detach() for k, v in ours.named_parameters()}

    def loss(params, sample):
        return (functional_call(ours, params, (sample.unsqueeze(0),)) ** 2).sum()

    per_sample = grad(loss, argnums=(0, 1))
    x = randn((3, *shape[1:]), 1)
    batched = vmap(per_sample, in_dims=(None, 0))(params, x)
    for i in range(x.shape[0]):
        one = per_sample(params, x[i])
        torch.testing.assert_close({k: v[i] for k, v in batched[0].items()}, one[0])
        torch.testing.assert_close(batched[1][i], one[1])


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("name", ["LayerNorm", "GroupNorm", "BatchNorm1d"])
def test_jacrev_equals_the_twins(name, backward, training):
    ours, theirs, shape = twins(name, backward)
    ours.train(training), theirs.train(training)
    if name.startswith("Batch") and training:  # torch.func forbids in-place buffer updates: no running stats
        ours.track_running_stats = theirs.track_running_stats = False
        ours.running_mean = ours.running_var = theirs.running_mean = theirs.running_var = None
    x = randn(shape, 1)
    torch.testing.assert_close(jacrev(ours)(x), jacrev(theirs)(x))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("name", LAYERS)
def test_autocast_cpu_follows_torchs_dtype_rule(name, backward, dtype):
    """Normalisation is not lowered by autocast: the output has the input's dtype, float32 parameters included."""
    ours, theirs, shape = twins(name, backward)
    x = randn(shape, 1, dtype)
    with torch.autocast("cpu", torch.bfloat16):
        actual, expected = outputs_and_grads(ours, ours, x), outputs_and_grads(theirs, theirs, x)
    assert actual[0].dtype == expected[0].dtype == dtype
    torch.testing.assert_close(actual, expected, rtol=2e-2, atol=2e-2, check_dtype=False)
    torch.testing.assert_close(ours.state_dict(), theirs.state_dict(), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("name", SPATIAL)
def test_channels_last_input_gives_torchs_memory_format(name, backward):
    ours, theirs, shape = twins(name, backward)
    assert_channels_last_like_torch(ours, theirs, randn(shape, 1))


@pytest.mark.slow
@pytest.mark.parametrize("name", LAYERS)
def test_onnx_export_runs_in_onnxruntime(name):
    ours, theirs, shape = twins(name, "manual")
    x = randn(shape, 1)
    ours(x), theirs(x)  # move the running statistics away from 0 and 1
    out = onnxruntime_output(ours.eval(), x)
    torch.testing.assert_close(out, theirs.eval()(x).detach(), rtol=1e-5, atol=1e-5)
