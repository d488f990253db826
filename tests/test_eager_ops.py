"""The short way in plain eager mode (:class:`scratchnn._library.EagerOp` and :class:`scratchnn._library.Function`):
a custom op's kernel runs as a Python call, ``Function.apply`` skips the signature binding, and everything that
watches or transforms a call still sees the op."""

from __future__ import annotations

import inspect
import io

import pytest
import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils._python_dispatch import TorchDispatchMode

import scratchnn.functional as SF
from scratchnn.functional.linear import LinearFunction, linear_op


def _inputs(requires_grad: bool = True):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 5, generator=g)
    w = torch.randn(3, 5, generator=g, requires_grad=requires_grad)
    return x, w, torch.randn(3, generator=g)


def _op_calls(fn) -> int:
    """How many times ``scratchnn::linear`` went through the dispatcher while ``fn`` ran."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return sum(e.name == "scratchnn::linear" for e in prof.events())


class _Log(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


def test_a_plain_eager_call_runs_the_kernel_without_the_dispatcher_and_gives_torchs_result():
    x, w, b = _inputs()
    assert _op_calls(lambda: SF.linear(x, w, b)) == 0
    out = SF.linear(x, w, b)
    out.sum().backward()
    expected_w = w.detach().clone().requires_grad_()
    torch.nn.functional.linear(x, expected_w, b).sum().backward()
    torch.testing.assert_close(out, torch.nn.functional.linear(x, expected_w, b))
    torch.testing.assert_close(w.grad, expected_w.grad)


@pytest.mark.parametrize(
    "context",
    [
        pytest.param(lambda: torch.autocast("cpu", dtype=torch.bfloat16), id="autocast"),
        pytest.param(lambda: torch.enable_grad(), id="recording"),  # the op itself called with a grad-requiring input
    ],
)
def test_a_call_that_autocast_or_autograd_must_see_goes_through_the_op(context):
    x, w, b = _inputs()
    with context():
        assert _op_calls(lambda: linear_op(x, w, b)) >= 1  # under autocast twice: its kernel calls the op again


def test_a_dispatch_mode_sees_the_op():
    x, w, b = _inputs(requires_grad=False)
    with _Log() as log:
        SF.linear(x, w, b)
    assert "scratchnn.linear.default" in log.ops


def test_the_vmap_of_gradcheck_goes_through_the_ops_batching_rule():
    """gradcheck's batched gradients run the conv's backward ops under ``torch._vmap_internals``' vmap, which is
    not on torch.func's transform stack: only the op's batching rule handles its batched tensors."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 2, 5, 5, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w: SF.conv2d(x, w, padding=1), (x, w), check_batched_grad=True)


def test_function_apply_binds_no_signature_in_eager_mode_and_still_works_under_torch_func(monkeypatch):
    x, w, b = _inputs()
    calls = []
    real = inspect.signature
    monkeypatch.setattr(inspect, "signature", lambda *a, **k: calls.append(a) or real(*a, **k))
    LinearFunction.apply(x, w, b).sum().backward()
    assert calls == []
    grad = torch.func.grad(lambda w: LinearFunction.apply(x, w, b).sum())(w.detach())
    torch.testing.assert_close(grad, w.grad)
    assert calls  # torch.func transforms take torch.autograd.Function.apply, which binds the arguments


def test_a_training_step_on_the_meta_device_runs_the_fake_kernels():
    """Meta tensors hold no data: the ops' fake kernels give the shapes, as torch.nn's meta kernels do."""
    from scratchnn.models import CNN

    with torch.device("meta"):
        model, x, y = CNN("scratch"), torch.randn(4, 1, 28, 28), torch.randint(0, 10, (4,))
        out = model(x)
        SF.cross_entropy(out, y).backward()
    assert out.shape == (4, 10) and out.is_meta
    assert all(p.grad is not None and p.grad.is_meta and p.grad.shape == p.shape for p in model.parameters())


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo-exporter", "torchscript-exporter"])
def test_onnx_exporting_agrees_with_torch_inside_and_outside_an_export(dynamo):
    """Every layer call asks whether ONNX export is running (export takes the composite forward); the cached read of
    the exporters' flags must say what ``torch.onnx.is_in_onnx_export`` says, in both exporters and outside them."""
    from scratchnn._library import onnx_exporting

    seen = []

    class Probe(torch.nn.Module):
        def forward(self, x):
            seen.append((onnx_exporting(), torch.onnx.is_in_onnx_export()))
            return x * 2

    assert onnx_exporting() is False
    destination = None if dynamo else io.BytesIO()  # the TorchScript exporter writes the model out
    torch.onnx.export(Probe(), (torch.randn(2, 3),), destination, dynamo=dynamo, verbose=False)
    assert seen and any(theirs for _, theirs in seen)
    assert [ours for ours, _ in seen] == [theirs for _, theirs in seen]
    assert onnx_exporting() is False
