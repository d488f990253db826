"""Checks shared by the test files that hold scratchnn layers against their torch.nn twins."""

from __future__ import annotations

import torch
from torch import nn
from torch._library.custom_ops import OPDEFS
from torch.utils._python_dispatch import TorchDispatchMode


def outputs_and_grads(model: nn.Module, forward, x: torch.Tensor):
    """Output and gradients (input's, then every parameter's) of a weighted sum, drawn from seed 0."""
    x = x.detach().clone().requires_grad_()
    torch.manual_seed(0)
    out = forward(x)
    (out * torch.linspace(-1, 1, out.numel()).reshape(out.shape)).sum().backward()
    grads = [x.grad, *(p.grad for p in model.parameters())]
    model.zero_grad()
    return out.detach(), grads


def assert_autocast_like_torch(ours: nn.Module, theirs: nn.Module, x: torch.Tensor) -> None:
    """Under CPU bfloat16 autocast: the dtype torch.nn's layer gives, and its values to bfloat16 precision."""
    with torch.autocast("cpu", torch.bfloat16):
        torch.manual_seed(0)
        actual = ours(x)
        torch.manual_seed(0)
        expected = theirs(x)
    assert actual.dtype == expected.dtype
    torch.testing.assert_close(actual.float(), expected.float(), rtol=2e-2, atol=2e-2)


def assert_channels_last_like_torch(ours: nn.Module, theirs: nn.Module, x: torch.Tensor) -> None:
    """A channels_last input: the same output and gradients as torch.nn's, each in the memory format torch's has."""
    x = x.contiguous(memory_format=torch.channels_last)
    actual, expected = outputs_and_grads(ours, ours, x), outputs_and_grads(theirs, theirs, x)
    torch.testing.assert_close(actual, expected)
    for a, e in zip([actual[0], *actual[1]], [expected[0], *expected[1]], strict=True):
        assert a.is_contiguous(memory_format=torch.channels_last) == e.is_contiguous(memory_format=torch.channels_last)
        assert a.is_contiguous() == e.is_contiguous()


def forbid(monkeypatch, functions: dict, message: str) -> None:
    """Replace every ``module.name`` of ``functions`` (``{module: names}``) that exists by one that raises
    ``AssertionError(message)``."""

    def forbidden(*args, **kwargs):
        raise AssertionError(message)

    for module, names in functions.items():
        for name in names:
            if hasattr(module, name):
                monkeypatch.setattr(module, name, forbidden)


class AtenLog(TorchDispatchMode):
    """Records the name of every ATen op that runs, forward and backward, inside scratchnn's custom ops too."""

    def __init__(self):
        super().__init__()
        self.ops = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.namespace == "scratchnn":  # run our op's Python kernel with this log active, to see its ATen ops
            with self:
                return OPDEFS[func._schema.name]._init_fn(*args, **(kwargs or {}))
        self.ops.add(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


def onnxruntime_output(module: nn.Module, *inputs: torch.Tensor) -> torch.Tensor:
    """``module`` exported with ``torch.onnx.export(..., dynamo=True)`` and run by onnxruntime on ``inputs`` (the
    test skips where onnxruntime or onnxscript is missing)."""
    import pytest

    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    program = torch.onnx.export(module, inputs, dynamo=True, verbose=False)
    session = ort.InferenceSession(program.model_proto.SerializeToString())
    names = [i.name for i in session.get_inputs()]
    (out,) = session.run(None, dict(zip(names, (x.numpy() for x in inputs), strict=True)))
    return torch.from_numpy(out)
