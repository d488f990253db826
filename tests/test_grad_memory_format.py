"""On a channels_last input the input gradient comes back in torch.nn's memory format, under both backward engines:
the normalisation, transposed and adaptive layers (the convolutions and pools are covered by the stack matrix)."""

import pytest
import torch
from torch import nn

import scratchnn
from scratchnn.functional import BACKWARDS
from scratchnn.testing import check_layer

CL = torch.channels_last
LAYERS = {  # name: (ours(backward), torch's, input channels)
    "BatchNorm2d-train": (lambda b: scratchnn.BatchNorm2d(3, backward=b), lambda: nn.BatchNorm2d(3), 3),
    "BatchNorm2d-eval": (lambda b: scratchnn.BatchNorm2d(3, backward=b).eval(), lambda: nn.BatchNorm2d(3).eval(), 3),
    "GroupNorm": (lambda b: scratchnn.GroupNorm(3, 3, backward=b), lambda: nn.GroupNorm(3, 3), 3),
    "GroupNorm-one-group": (lambda b: scratchnn.GroupNorm(1, 3, backward=b), lambda: nn.GroupNorm(1, 3), 3),
    "LayerNorm": (lambda b: scratchnn.LayerNorm((5, 5), backward=b), lambda: nn.LayerNorm((5, 5)), 3),
    "ConvTranspose2d": (
        lambda b: scratchnn.ConvTranspose2d(3, 4, 3, backward=b),
        lambda: nn.ConvTranspose2d(3, 4, 3),
        3,
    ),
    "ConvTranspose2d-strided": (
        lambda b: scratchnn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, backward=b),
        lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1),
        3,
    ),
    "AdaptiveAvgPool2d": (
        lambda b: scratchnn.AdaptiveAvgPool2d((2, 3), backward=b),
        lambda: nn.AdaptiveAvgPool2d((2, 3)),
        3,
    ),
    "AdaptiveAvgPool2d-rows": (
        lambda b: scratchnn.AdaptiveAvgPool2d((None, 4), backward=b),
        lambda: nn.AdaptiveAvgPool2d((None, 4)),
        3,
    ),
    "AdaptiveAvgPool2d-global": (
        lambda b: scratchnn.AdaptiveAvgPool2d(1, backward=b),
        lambda: nn.AdaptiveAvgPool2d(1),
        3,
    ),
}


def layout(t: torch.Tensor) -> str:
    if t.is_contiguous():
        return "contiguous"
    return "channels_last" if t.is_contiguous(memory_format=CL) else f"strides {t.stride()}"


def output_and_grad_layouts(module: nn.Module, channels: int) -> tuple[str, str]:
    x = torch.randn(2, channels, 5, 5).contiguous(memory_format=CL).requires_grad_()
    out = module(x)
    (grad,) = torch.autograd.grad(out, x, torch.randn(out.shape))  # a contiguous output gradient
    return layout(out), layout(grad)


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("name", LAYERS)
def test_input_gradient_has_torchs_memory_format(name, backward):
    ours, theirs, channels = LAYERS[name]
    assert output_and_grad_layouts(ours(backward), channels) == output_and_grad_layouts(theirs(), channels)


@pytest.mark.parametrize("args", [(3, 4, 3), (2, 2, 3)], ids=["plain", "strided-dilated"])
def test_transposed_conv_channels_last_row_passes_weight_gradient_included(args):
    """The harness's channels_last row (a channels_last module and input): output, input and weight gradients in
    torch's layouts, under both engines."""
    kwargs = {} if args == (3, 4, 3) else {"stride": 2, "output_padding": 1, "dilation": 2}
    torch.manual_seed(0)
    ours = scratchnn.ConvTranspose2d(*args, **kwargs)
    torch.manual_seed(0)
    report = check_layer(
        ours, nn.ConvTranspose2d(*args, **kwargs), (2, args[0], 5, 5), stack=["channels_last"], gradcheck=False
    )
    rows = [r for r in report.rows if r.check == "channels_last"]
    assert len(rows) == 2 and all(r.passed for r in rows), [r.detail for r in rows]
