"""scratchnn's custom ops pass ``torch.library.opcheck``: schema, fake kernel, autograd registration, AOT dispatch.

opcheck runs each op on real inputs and compares its fake kernel (shapes, dtypes, strides) with the real one, checks
that autograd is registered and that the op traces under ``torch.compile``'s AOT dispatcher, with static and
dynamic shapes. Inputs cover the eager kernels' branches (plane and columns, tap by tap and windows) and layouts.
"""

from __future__ import annotations

import pytest
import torch

import scratchnn  # noqa: F401  (registers the ops)
from strategies import randn

CL = torch.channels_last
CONV = ([1, 1], [1, 1, 1, 1], [1, 1], 1, "zeros")  # stride, padding (left, right, top, bottom), dilation, groups, mode
STRIDED = ([2, 2], [1, 1, 1, 1], [1, 1], 1, "reflect")


def _grad(t: torch.Tensor) -> torch.Tensor:
    return t.detach().requires_grad_()


def _cases():
    x, w, b = randn((2, 3, 6, 6), 0), randn((4, 3, 3, 3), 1), randn((4,), 2)
    g, g2 = randn((2, 4, 6, 6), 3), randn((2, 4, 3, 3), 4)
    ops = torch.ops.scratchnn
    return {
        "linear": (ops.linear.default, (_grad(randn((3, 5), 0)), _grad(randn((2, 5), 1)), _grad(randn((2,), 2)))),
        "linear-3d-no-bias": (ops.linear.default, (randn((2, 3, 5), 0), _grad(randn((2, 5), 1)), None)),
        "relu_backward": (ops.relu_backward.default, (randn((4, 5), 0), randn((4, 5), 1).clamp(min=0))),
        "conv2d-plane": (ops.conv2d.default, (_grad(x), _grad(w), _grad(b), *CONV)),
        "conv2d-columns": (ops.conv2d.default, (_grad(x), _grad(w), None, *STRIDED)),
        "conv2d-channels-last": (ops.conv2d.default, (x.contiguous(memory_format=CL), _grad(w), b, *CONV)),
        "conv2d_input_grad": (ops.conv2d_input_grad.default, (g, x, w, *CONV)),
        "conv2d_input_grad-columns": (ops.conv2d_input_grad.default, (g2, x, w, *STRIDED)),
        "conv2d_weight_grad": (ops.conv2d_weight_grad.default, (g, x.contiguous(memory_format=CL), w, *CONV)),
        "conv2d_weight_grad-columns": (ops.conv2d_weight_grad.default, (g2, x, w, *STRIDED)),
        "max_pool2d-taps": (ops.max_pool2d.default, (_grad(x), [2, 2], [2, 2], [0, 0], [1, 1], False)),
        "max_pool2d-windows": (ops.max_pool2d.default, (_grad(x), [3, 3], [2, 2], [1, 1], [1, 1], True)),
        "class_targets": (ops.class_targets.default, (torch.tensor([0, 4, -100, 2]), 5, -100)),
        "max_pool2d-channels-last": (
            ops.max_pool2d.default,
            (_grad(x.contiguous(memory_format=CL)), [2, 2], [1, 1], [0, 0], [1, 1], False),
        ),
    }


CASES = _cases()


@pytest.mark.parametrize("name", CASES)
def test_opcheck_passes(name):
    op, args = CASES[name]
    torch.library.opcheck(op, args)


def test_every_scratchnn_op_is_checked():
    registered = {name for name in dir(torch.ops.scratchnn) if not name.startswith("_")} - {"name"}
    checked = {name.split("-")[0] for name in CASES}
    assert registered <= checked, f"ops without an opcheck case: {sorted(registered - checked)}"


def test_ops_called_directly_follow_autocast():
    """An exported graph calls the ops themselves: they cast under autocast as torch's conv2d and linear do."""
    x, w = randn((2, 3, 6, 6), 0), randn((4, 3, 3, 3), 1)
    with torch.autocast("cpu", torch.bfloat16):
        conv = torch.ops.scratchnn.conv2d(x, w, None, *CONV)
        linear = torch.ops.scratchnn.linear(randn((3, 5), 0), randn((2, 5), 1), None)
        pooled, _ = torch.ops.scratchnn.max_pool2d(x, [2, 2], [2, 2], [0, 0], [1, 1], False)
    assert (conv.dtype, linear.dtype, pooled.dtype) == (torch.bfloat16, torch.bfloat16, torch.float32)
