"""Flatten, AdaptiveAvgPool2d, Dropout, ConvTranspose2d and CrossEntropyLoss wherever their torch.nn twins work:
compile(fullgraph), export, torch.func (vmap, jacrev), autocast and channels_last; and no torch kernel for the ops
they re-implement is ever reached, from Python or below it."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as TF
from torch import nn
from torch.func import functional_call, grad, jacrev, vmap

import scratchnn
from strategies import BACKWARDS, randn
from twin_checks import (
    AtenLog,
    assert_autocast_like_torch,
    assert_channels_last_like_torch,
    forbid,
    onnxruntime_output,
    outputs_and_grads,
)

# name: (build ours(backward), build torch's); the twins get the same weights. Dropout runs in training mode,
# both twins from the same seed (on the CPU they draw the same mask).
LAYERS = {
    "Flatten": (lambda b: scratchnn.Flatten(), nn.Flatten),
    "AdaptiveAvgPool2d": (
        lambda b: scratchnn.AdaptiveAvgPool2d((4, 3), backward=b),
        lambda: nn.AdaptiveAvgPool2d((4, 3)),
    ),
    "AdaptiveAvgPool2d-global": (lambda b: scratchnn.AdaptiveAvgPool2d(1, backward=b), lambda: nn.AdaptiveAvgPool2d(1)),
    "Dropout": (lambda b: scratchnn.Dropout(0.3, backward=b), lambda: nn.Dropout(0.3)),
    "ConvTranspose2d": (lambda b: scratchnn.ConvTranspose2d(2, 4, 3, backward=b), lambda: nn.ConvTranspose2d(2, 4, 3)),
    "ConvTranspose2d-strided": (
        lambda b: scratchnn.ConvTranspose2d(2, 4, 3, stride=2, padding=1, output_padding=1, groups=2, backward=b),
        lambda: nn.ConvTranspose2d(2, 4, 3, stride=2, padding=1, output_padding=1, groups=2),
    ),
}
IMAGE = (3, 2, 6, 5)
DETERMINISTIC = [name for name in LAYERS if name != "Dropout"]  # torch.func needs randomness='different' for it


def twins(name: str, backward: str) -> tuple[nn.Module, nn.Module, torch.Tensor]:
    ours, theirs = LAYERS[name]
    torch.manual_seed(0)
    ours = ours(backward)
    theirs = theirs()
    theirs.load_state_dict(ours.state_dict())
    return ours, theirs, randn(IMAGE, 1)


@pytest.mark.slow
@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("name", LAYERS)
def test_compile_fullgraph_forward_and_backward(name, backward):
    ours, theirs, x = twins(name, backward)
    torch._dynamo.reset()
    compiled = torch.compile(ours, fullgraph=True, backend="aot_eager")  # raises at the first graph break
    torch.testing.assert_close(outputs_and_grads(ours, compiled, x), outputs_and_grads(theirs, theirs, x))


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("name", LAYERS)
def test_export_runs_matches_and_backpropagates(name, backward):
    ours, theirs, x = twins(name, backward)
    exported = torch.export.export(ours, (x,)).module()
    torch.testing.assert_close(outputs_and_grads(exported, exported, x), outputs_and_grads(theirs, theirs, x))


@pytest.mark.slow
@pytest.mark.parametrize("name", LAYERS)
def test_onnx_export_runs_in_onnxruntime(name):
    """Both engines export the same composite forward (ONNX knows torch's ops, not ours): one run per layer."""
    ours, theirs, x = twins(name, "manual")
    out = onnxruntime_output(ours.eval(), x)
    torch.testing.assert_close(out, theirs.eval()(x).detach(), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_loss_onnx_export_runs_in_onnxruntime():
    ours, theirs, x, target = loss_twins("indices", "manual")
    torch.testing.assert_close(onnxruntime_output(ours.eval(), x, target), theirs(x, target), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("name", DETERMINISTIC)
def test_per_sample_gradients_equal_a_loop_over_samples(name, backward):
    ours, _, x = twins(name, backward)
    params = {k: v.detach() for k, v in ours.named_parameters()}

    def loss(params, sample):
        return (functional_call(ours, params, (sample.unsqueeze(0),)) ** 2).sum()

    batched = vmap(grad(loss, argnums=(0, 1)), in_dims=(None, 0))(params, x)
    for i in range(x.shape[0]):
        one = grad(loss, argnums=(0, 1))(params, x[i])
        torch.testing.assert_close(({k: v[i] for k, v in batched[0].items()}, batched[1][i]), one)


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("name", DETERMINISTIC)
def test_jacrev_equals_the_twins(name, backward):
    ours, theirs, x = twins(name, backward)
    torch.testing.assert_close(jacrev(ours)(x[:2]), jacrev(theirs)(x[:2]))


def test_dropout_under_vmap_needs_randomness_as_torchs():
    x = randn(IMAGE, 0)
    for layer in (scratchnn.Dropout(0.5), nn.Dropout(0.5)):
        with pytest.raises(RuntimeError, match="randomness"):
            vmap(layer)(x)
        out = vmap(layer, randomness="different")(x)
        assert set(out.flatten().tolist()) - {0.0} <= set((2 * x).flatten().tolist())


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("name", LAYERS)
def test_autocast_cpu_follows_torchs_dtype_rule(name, backward):
    assert_autocast_like_torch(*twins(name, backward))


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("name", LAYERS)
def test_channels_last_input_gives_torchs_memory_format(name, backward):
    assert_channels_last_like_torch(*twins(name, backward))


# ------------------------------------------------------------------------------------------ CrossEntropyLoss

TARGETS = {  # kind: (target for logits (4, 5), loss keyword arguments)
    "indices": (torch.tensor([0, 3, -100, 4]), {"label_smoothing": 0.1}),
    "weighted-none": (torch.tensor([0, 3, 1, 4]), {"weight": torch.rand(5), "reduction": "none"}),
    "probabilities": (randn((4, 5), 3).softmax(1), {"reduction": "sum"}),
}


def loss_twins(kind: str, backward: str):
    target, kwargs = TARGETS[kind]
    ours, theirs = scratchnn.CrossEntropyLoss(**kwargs, backward=backward), nn.CrossEntropyLoss(**kwargs)
    return ours, theirs, randn((4, 5), 1), target


def loss_and_grad(loss, x, target):
    x = x.detach().clone().requires_grad_()
    out = loss(x, target)
    out.sum().backward()
    return out.detach(), x.grad


@pytest.mark.slow
@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("kind", TARGETS)
def test_loss_compiles_fullgraph(kind, backward):
    ours, theirs, x, target = loss_twins(kind, backward)
    torch._dynamo.reset()
    compiled = torch.compile(ours, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(loss_and_grad(compiled, x, target), loss_and_grad(theirs, x, target))


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("kind", TARGETS)
def test_loss_exports_and_backpropagates(kind, backward):
    ours, theirs, x, target = loss_twins(kind, backward)
    exported = torch.export.export(ours, (x, target)).module()
    torch.testing.assert_close(loss_and_grad(exported, x, target), loss_and_grad(theirs, x, target))


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("kind", TARGETS)
def test_loss_per_sample_gradients_under_vmap_equal_torchs(kind, backward):
    ours, theirs, x, target = loss_twins(kind, backward)
    xs, targets = torch.stack([x, x.flip(0)]), torch.stack([target, target.flip(0)])  # (2, 4, 5), a batch of two

    def summed(loss):
        return lambda x, t: loss(x, t).sum()

    actual = vmap(grad(summed(ours)))(xs, targets)
    torch.testing.assert_close(actual, vmap(grad(summed(theirs)))(xs, targets))


@pytest.mark.parametrize("kind", TARGETS)
def test_loss_under_autocast_is_float32_as_torchs(kind):
    ours, theirs, x, target = loss_twins(kind, "manual")
    with torch.autocast("cpu", torch.bfloat16):
        actual, expected = ours(x.bfloat16(), target), theirs(x.bfloat16(), target)
    assert actual.dtype == expected.dtype == torch.float32
    torch.testing.assert_close(actual, expected)


# ------------------------------------------------------------------------------- torch's kernels stay unused

LIBRARY_OPS = {  # torch's own implementations of these ops, from Python; none may be called
    TF: ["dropout", "conv_transpose2d", "adaptive_avg_pool2d", "cross_entropy", "log_softmax", "softmax", "nll_loss"],
    torch: ["dropout", "conv_transpose2d", "adaptive_avg_pool2d", "log_softmax", "softmax", "nll_loss", "convolution"],
    torch._C._nn: ["adaptive_avg_pool2d", "cross_entropy_loss", "nll_loss", "nll_loss_nd", "nll_loss2d"],
    torch._VF: ["dropout", "dropout_"],
    torch.Tensor: ["log_softmax", "softmax"],
}
ATEN_OPS = ("_log_softmax", "log_softmax", "_softmax", "softmax", "nll_loss", "cross_entropy", "adaptive_avg_pool",
            "_adaptive_avg_pool", "native_dropout", "dropout", "convolution", "_convolution", "conv_transpose",
            "mkldnn_convolution")  # fmt: skip


def run_every_op(backward: str) -> None:
    for name in LAYERS:
        ours, _, x = twins(name, backward)
        ours(x.requires_grad_()).sum().backward()
    for kind in TARGETS:
        ours, _, x, target = loss_twins(kind, backward)
        ours(x.requires_grad_(), target).sum().backward()


@pytest.mark.parametrize("backward", BACKWARDS)
def test_torchs_implementations_are_never_called(monkeypatch, backward):
    forbid(monkeypatch, LIBRARY_OPS, "scratchnn called one of torch's implementations of an op it re-implements")
    run_every_op(backward)


@pytest.mark.parametrize("backward", BACKWARDS)
def test_no_aten_kernel_of_these_ops_runs(backward):
    with AtenLog() as log:
        run_every_op(backward)
    assert "bernoulli_" in log.ops  # the log sees the ops (here, dropout's mask)
    assert sorted(op for op in log.ops if op.startswith(ATEN_OPS)) == []
