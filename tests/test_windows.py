"""The windowing primitive: ``unfold``/``fold`` written with strided views equal ATen's im2col/col2im."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchnn.functional._windows import fold, window_view
from scratchnn.functional.conv import ConvArgs, columns


@st.composite
def windows(draw):
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    size = tuple(d * (k - 1) + 1 + draw(st.integers(0, 6)) for k, d in zip(kernel, dilation, strict=True))
    return (draw(st.integers(0, 2)), draw(st.integers(1, 3)), size), kernel, dilation, stride


@settings(max_examples=60, deadline=None)
@given(windows(), st.integers(0, 2**31 - 1))
def test_conv_columns_and_fold_equal_aten(case, seed):
    (N, C, size), kernel, dilation, stride = case
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, C, *size, generator=g, dtype=torch.float64)
    expected = F.unfold(x, kernel, dilation=dilation, stride=stride)  # (N, C*kH*kW, L)
    ours = columns(x, torch.Size([1, C, *kernel]), ConvArgs(stride, (0, 0, 0, 0), dilation, 1, "zeros"))
    assert torch.equal(ours[0], expected.transpose(0, 1).reshape(C * kernel[0] * kernel[1], -1))
    torch.testing.assert_close(
        fold(expected, size, kernel, dilation, stride), F.fold(expected, size, kernel, dilation=dilation, stride=stride)
    )


def test_window_view_copies_nothing_and_takes_any_dtype():
    x = torch.arange(16).reshape(1, 1, 4, 4)
    win = window_view(x, (2, 2), (1, 1), (2, 2))  # (1, 1, 2, 2, 2, 2)
    assert win.data_ptr() == x.data_ptr()
    assert win[0, 0, 1, 0].tolist() == [[8, 9], [12, 13]]


@pytest.mark.parametrize("stride", [(1, 1), (2, 3)])
def test_fold_is_the_adjoint_of_unfold(stride):
    x = torch.randn(2, 3, 9, 8, dtype=torch.float64, requires_grad=True)
    win = window_view(x, (3, 2), (2, 1), stride)  # (N, C, oH, oW, kH, kW)
    cols = win.permute(0, 1, 4, 5, 2, 3).reshape(2, 3 * 3 * 2, -1)  # (N, C*kH*kW, L), as F.unfold
    g = torch.randn_like(cols)
    (grad,) = torch.autograd.grad(cols, x, g)
    torch.testing.assert_close(fold(g, (9, 8), (3, 2), (2, 1), stride), grad)
