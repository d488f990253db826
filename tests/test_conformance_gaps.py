"""Behaviours where torch.nn's own module tests once told our layers apart from torch's: each asserts torch's.

Memory formats, batched gradients, integer convolution, when and how errors are raised, empty channel dims, and
max-pool indices that backward keeps.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.autograd import gradcheck

import scratchnn
import scratchnn.functional as SF
from scratchnn.testing import check_layer
from scratchnn.testing.grid import GRID
from strategies import BACKWARDS, randn

CL = torch.channels_last


def _twins(name: str, *args, **kwargs):
    torch.manual_seed(0)
    ours = getattr(scratchnn, name)(*args, **kwargs)
    theirs = getattr(nn, name)(*args, **kwargs)
    theirs.load_state_dict(ours.state_dict())
    return ours, theirs


def _is_cl(t: torch.Tensor) -> bool:
    return t.is_contiguous(memory_format=CL) and not t.is_contiguous()


# ------------------------------------------------------------------------------------------- memory formats

LAYOUT_LAYERS = {
    "Conv2d": (("Conv2d", 3, 4, 3), {"padding": 1}),
    "Conv2d-strided": (("Conv2d", 3, 4, 3), {"stride": 2}),
    "MaxPool2d": (("MaxPool2d", 2), {}),
    "MaxPool2d-padded": (("MaxPool2d", 3, 2, 1), {}),
    "AvgPool2d": (("AvgPool2d", 3, 2, 1), {}),
}


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("name", LAYOUT_LAYERS)
def test_channels_last_input_keeps_channels_last_output_and_gradient(name, backward):
    (cls, *args), kwargs = LAYOUT_LAYERS[name]
    ours, theirs = _twins(cls, *args, **kwargs)
    ours.backward = backward
    results = []
    for layer in (ours, theirs):
        x = randn((2, 3, 7, 7), 0).contiguous(memory_format=CL).requires_grad_()
        out = layer(x)
        out.backward(torch.ones_like(out))
        results.append((out, x.grad))
    (out, grad), (expected_out, expected_grad) = results
    torch.testing.assert_close(out, expected_out)
    assert _is_cl(out) == _is_cl(expected_out) and _is_cl(grad) == _is_cl(expected_grad)
    assert _is_cl(expected_out)


@pytest.mark.parametrize("backward", BACKWARDS)
def test_channels_last_weight_gives_a_channels_last_conv_output(backward):
    ours, theirs = _twins("Conv2d", 3, 4, 3, padding=1)
    ours.backward = backward
    for layer in (ours, theirs):
        layer.to(memory_format=CL)
    x = randn((2, 3, 5, 5), 0)
    out, expected = ours(x), theirs(x)
    torch.testing.assert_close(out, expected)
    assert _is_cl(expected) and _is_cl(out)


@pytest.mark.parametrize("backward", BACKWARDS)
def test_max_pool_indices_of_a_channels_last_input_are_channels_last(backward):
    x = randn((2, 3, 6, 6), 0).contiguous(memory_format=CL)
    _, indices = SF.max_pool2d(x, 2, return_indices=True, backward=backward)
    _, expected = nn.functional.max_pool2d(x, 2, return_indices=True)
    assert torch.equal(indices, expected) and _is_cl(expected) and _is_cl(indices)


# --------------------------------------------------------------------------------------- batched gradients

BATCHED_GRAD = {
    "conv2d-plane": lambda x, w: SF.conv2d(x, w, padding=1),
    "conv2d-strided": lambda x, w: SF.conv2d(x, w, stride=2, padding=1, padding_mode="reflect"),
    "relu": lambda x, w: SF.relu(x),
    "max_pool2d": lambda x, w: SF.max_pool2d(x, 2),
    "max_pool2d-padded": lambda x, w: SF.max_pool2d(x, 3, 2, 1),
    "avg_pool2d": lambda x, w: SF.avg_pool2d(x, 3, 2, 1),
    "linear": lambda x, w: SF.linear(x.flatten(1), w.reshape(-1, x[0].numel())[:, : x[0].numel()]),
}


@pytest.mark.parametrize("name", BATCHED_GRAD)
def test_gradcheck_with_batched_gradients(name):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 2, 5, 5, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    if name == "linear":
        w = torch.randn(3, 50, generator=g, dtype=torch.float64, requires_grad=True)
    assert gradcheck(BATCHED_GRAD[name], (x, w), check_batched_grad=True)


# ------------------------------------------------------------------------------------------- integer inputs


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32])
@pytest.mark.parametrize("stride", [1, 2])
def test_integer_convolution_on_the_cpu_equals_torchs(dtype, stride):
    g = torch.Generator().manual_seed(0)
    x, w, b = (torch.randint(-5, 5, shape, generator=g, dtype=dtype) for shape in ((2, 2, 6, 6), (3, 2, 3, 3), (3,)))
    out = SF.conv2d(x, w, b, stride, 1)
    assert out.dtype == dtype
    assert torch.equal(out, nn.functional.conv2d(x, w, b, stride, 1))


# ------------------------------------------------------------------------------------------------- errors

DEFERRED = {  # accepted at construction, rejected at forward, as torch does
    "conv-stride-0": lambda nn: nn.Conv2d(2, 2, 3, stride=0),
    "conv-padding-negative": lambda nn: nn.Conv2d(2, 2, 3, padding=-1),
    "conv-dilation-0": lambda nn: nn.Conv2d(2, 2, 3, dilation=0),
    "conv-kernel-0": lambda nn: nn.Conv2d(2, 2, 0),
    "maxpool-stride-0": lambda nn: nn.MaxPool2d(2, stride=0),
    "maxpool-padding-above-half": lambda nn: nn.MaxPool2d(2, padding=2),
    "avgpool-kernel-0": lambda nn: nn.AvgPool2d(0),
    "avgpool-padding-negative": lambda nn: nn.AvgPool2d(2, padding=-1),
}


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
@pytest.mark.parametrize("name", DEFERRED)
def test_bad_arguments_fail_at_forward_with_torchs_type_and_words(name):
    ours, theirs = DEFERRED[name](scratchnn), DEFERRED[name](nn)
    x = randn((1, 2, 5, 5), 0)
    with pytest.raises(Exception) as expected:
        theirs(x)
    with pytest.raises(type(expected.value)) as raised:
        ours(x)
    words = str(expected.value).split(",")[0].split(" but got")[0]
    assert words in str(raised.value)


@pytest.mark.parametrize("name", ["Linear", "Conv2d", "MaxPool2d", "AvgPool2d", "ReLU", "Sigmoid", "SiLU"])
def test_none_input_is_a_type_error(name):
    args = {"Linear": (2, 3), "Conv2d": (2, 3, 3), "MaxPool2d": (2,), "AvgPool2d": (2,)}.get(name, ())
    ours, theirs = getattr(scratchnn, name)(*args), getattr(nn, name)(*args)
    with pytest.raises(TypeError):
        theirs(None)
    with pytest.raises(TypeError, match="must be Tensor, not NoneType"):
        ours(None)


# -------------------------------------------------------------------------------------- empty channel dims


@pytest.mark.parametrize("name", ["MaxPool2d", "AvgPool2d"])
@pytest.mark.parametrize("shape", [(2, 0, 4, 4), (0, 4, 4)])
def test_pooling_an_input_without_channels_raises_as_torch(name, shape):
    x = torch.randn(shape)
    with pytest.raises(RuntimeError, match="Expected 3D or 4D"):
        getattr(nn, name)(2)(x)
    with pytest.raises(RuntimeError, match="Expected 3D or 4D"):
        getattr(scratchnn, name)(2)(x)


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
@pytest.mark.parametrize("bias", [True, False])
def test_conv_with_no_input_channels_returns_what_torch_returns(bias):
    ours, theirs = _twins("Conv2d", 0, 3, 3, bias=bias)
    x = torch.randn(2, 0, 4, 4)
    out, expected = ours(x), theirs(x)
    assert out.shape == expected.shape and out.dtype == expected.dtype


# ----------------------------------------------------------------------------------------- max-pool indices


def test_modifying_returned_indices_in_place_before_backward_raises():
    for pool in (nn.functional.max_pool2d, SF.max_pool2d):
        x = randn((1, 2, 4, 4), 0).requires_grad_()
        out, indices = pool(x, 2, return_indices=True)
        indices.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            out.sum().backward()


def _layout(t: torch.Tensor) -> str:
    """The harness's name for a layout: what ``check_layer(..., stack=['channels_last'])`` compares."""
    if t.is_contiguous():
        return "contiguous"
    return "channels_last" if t.is_contiguous(memory_format=CL) else f"strides {t.stride()}"


def _layouts(module: nn.Module, x: torch.Tensor) -> dict[str, str]:
    """Layouts of the output and of the raw gradients (``autograd.grad``: no ``.grad`` layout contract)."""
    x = x.detach().clone().requires_grad_()
    out = module(x)
    out = out[0] if isinstance(out, tuple) else out
    params = dict(module.named_parameters())
    grads = torch.autograd.grad(out, [x, *params.values()], randn(out.shape, 1))
    seen = {"output": out, **dict(zip(["input", *params], grads, strict=True))}
    return {name: _layout(t) for name, t in seen.items() if t.dim() == 4}


FOUR_D_CASES = [c for c in GRID if len(c.input_shape) == 4]


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("case", FOUR_D_CASES, ids=lambda c: c.name)
@pytest.mark.parametrize(("x_cl", "w_cl"), [(True, True), (True, False), (False, True)])
def test_output_and_gradient_layouts_match_torch(case, backward, x_cl, w_cl):
    ours, theirs = case.build()
    ours.backward = backward
    if w_cl:
        ours, theirs = ours.to(memory_format=CL), theirs.to(memory_format=CL)
    x = randn(case.input_shape, 0)
    x = x.contiguous(memory_format=CL) if x_cl else x
    assert _layouts(ours, x) == _layouts(theirs, x)


@pytest.mark.slow
@pytest.mark.parametrize("backward", BACKWARDS)
def test_onnx_row_of_avg_pool_with_divisor_override_passes(backward):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    case = next(c for c in GRID if c.kwargs.get("divisor_override"))
    ours, theirs = case.build()
    report = check_layer(ours, theirs, case.input_shape, engines=[backward], stack=["ONNX + onnxruntime"])
    (row,) = [r for r in report.rows if r.check == "ONNX + onnxruntime"]
    # torch's exporter writes a plain AveragePool (dividing by the window's 6 taps), ours divides by 5
    assert row.passed and "differs from the module's own" in row.detail, row.detail
