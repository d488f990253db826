"""scratchnn.Conv2d and scratchnn.functional.conv2d against torch.nn.Conv2d, over the whole option space."""

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import scratchnn
import scratchnn.functional as SF
from strategies import (
    BACKWARDS,
    LAYOUTS,
    ONE_ROUNDING,
    assert_low_precision_forward,
    assert_matches_torch,
    conv_cases,
    conv_functional_args,
    randn,
    relayout,
    seeds,
    twins,
)

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths:UserWarning")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("backward", BACKWARDS)
@settings(max_examples=40, deadline=None)
@given(case=conv_cases(), seed=seeds)
def test_outputs_and_gradients_match_torch(case, seed, backward, dtype):
    ours, theirs = twins("Conv2d", case.kwargs, dtype, backward)
    assert_matches_torch(ours, theirs, randn(case.shape, seed, dtype))


@pytest.mark.parametrize("backward", BACKWARDS)
@settings(max_examples=15, deadline=None)
@given(case=conv_cases(batch=st.integers(1, 2)), seed=seeds)
def test_gradcheck_and_gradgradcheck(case, seed, backward):
    kw = case.kwargs
    x = randn(case.shape, seed, torch.float64).requires_grad_()
    weight_shape = (kw["out_channels"], kw["in_channels"] // kw["groups"], *_pair(kw["kernel_size"]))
    params = [randn(weight_shape, seed + 1, torch.float64).requires_grad_()]
    if kw["bias"]:
        params.append(randn((kw["out_channels"],), seed + 2, torch.float64).requires_grad_())

    def conv(x, weight, bias=None):
        return SF.conv2d(
            x, weight, bias, **conv_functional_args(kw), padding_mode=kw["padding_mode"], backward=backward
        )

    assert torch.autograd.gradcheck(conv, (x, *params))
    assert torch.autograd.gradgradcheck(conv, (x, *params))


def _pair(value):
    return (value, value) if isinstance(value, int) else value


@pytest.mark.parametrize("backward", BACKWARDS)
def test_hand_computed_example(backward):
    """A 3x3 image, a 2x2 kernel, bias 1: every number below is worked out by hand."""
    x = torch.tensor([[[[1.0, 2, 3], [4, 5, 6], [7, 8, 9]]]], requires_grad=True)
    weight = torch.tensor([[[[1.0, 2], [3, 4]]]], requires_grad=True)
    bias = torch.tensor([1.0], requires_grad=True)
    out = SF.conv2d(x, weight, bias, backward=backward)
    # top-left: 1*1 + 2*2 + 4*3 + 5*4 + 1 = 38, and so on one pixel right / down
    assert out.tolist() == [[[[38.0, 48.0], [68.0, 78.0]]]]
    out.sum().backward()
    # each pixel collects the kernel taps that touch it: corners one tap, the centre all four (1+2+3+4)
    assert x.grad.tolist() == [[[[1.0, 3, 2], [4, 10, 6], [3, 7, 4]]]]
    # each tap sees the 2x2 block of the image at its offset: 1+2+4+5 = 12, ...
    assert weight.grad.tolist() == [[[[12.0, 16], [24, 28]]]]
    assert bias.grad.tolist() == [4.0]


@pytest.mark.parametrize("backward", BACKWARDS)
def test_hand_computed_reflect_padding(backward):
    """Reflect padding of [[1, 2], [3, 4]] by one pixel mirrors without repeating the edge."""
    x = torch.tensor([[[[1.0, 2], [3, 4]]]])
    weight = torch.ones(1, 1, 1, 1)
    out = SF.conv2d(x, weight, padding=1, padding_mode="reflect", backward=backward)
    assert out.tolist() == [[[[4.0, 3, 4, 3], [2, 1, 2, 1], [4, 3, 4, 3], [2, 1, 2, 1]]]]


@pytest.mark.parametrize("backward", BACKWARDS)
@settings(max_examples=25, deadline=None)
@given(case=conv_cases(batch=st.none()), seed=seeds)
def test_unbatched_input(case, seed, backward):
    ours, theirs = twins("Conv2d", case.kwargs, backward=backward)
    x = randn(case.shape, seed)
    assert ours(x).dim() == 3
    assert_matches_torch(ours, theirs, x)


@pytest.mark.parametrize("batch", [0, 1])
@pytest.mark.parametrize("backward", BACKWARDS)
@settings(max_examples=20, deadline=None)
@given(data=st.data(), seed=seeds)
def test_batch_of_zero_and_one(batch, backward, data, seed):
    case = data.draw(conv_cases(batch=st.just(batch)))
    ours, theirs = twins("Conv2d", case.kwargs, backward=backward)
    assert_matches_torch(ours, theirs, randn(case.shape, seed))


@pytest.mark.parametrize("dtype", list(ONE_ROUNDING))
@settings(max_examples=25, deadline=None)
@given(case=conv_cases(), seed=seeds)
def test_low_precision_forward(case, seed, dtype):
    ours, theirs = twins("Conv2d", case.kwargs, dtype)
    assert_low_precision_forward(ours, theirs, randn(case.shape, seed, dtype), **ONE_ROUNDING[dtype])


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("backward", BACKWARDS)
@settings(max_examples=20, deadline=None)
@given(case=conv_cases(), seed=seeds)
def test_non_contiguous_and_channels_last_input(case, seed, backward, layout):
    x = relayout(randn(case.shape, seed), layout)
    assume(not x.is_contiguous())
    ours, theirs = twins("Conv2d", case.kwargs, backward=backward)
    assert_matches_torch(ours, theirs, x)


@pytest.mark.parametrize("layout", ["transposed", "sliced"])
@pytest.mark.parametrize("backward", BACKWARDS)
@settings(max_examples=20, deadline=None)
@given(case=conv_cases(), seed=seeds)
def test_non_contiguous_grad_output(case, seed, backward, layout):
    ours, theirs = twins("Conv2d", case.kwargs, backward=backward)
    x = randn(case.shape, seed)
    with torch.no_grad():
        grad = relayout(randn(theirs(x).shape, seed + 1), layout)
    assume(not grad.is_contiguous())
    assert_matches_torch(ours, theirs, x, grad=grad)


@pytest.mark.parametrize("backward", BACKWARDS)
def test_channels_last_layer(backward):
    """A layer converted with ``.to(memory_format=channels_last)`` (weights too) still matches torch."""
    ours, theirs = twins(
        "Conv2d", {"in_channels": 4, "out_channels": 6, "kernel_size": 3, "groups": 2}, backward=backward
    )
    ours, theirs = (m.to(memory_format=torch.channels_last) for m in (ours, theirs))
    x = randn((2, 4, 7, 6), 0).contiguous(memory_format=torch.channels_last)
    assert_matches_torch(ours, theirs, x)


def test_functional_matches_torch_functional():
    """``scratchnn.functional.conv2d`` takes ``torch.nn.functional.conv2d``'s positional arguments."""
    x, weight, bias = randn((2, 4, 6, 5), 0), randn((6, 2, 3, 2), 1), randn((6,), 2)
    args = (bias, (2, 1), (1, 0), (1, 2), 2)
    torch.testing.assert_close(SF.conv2d(x, weight, *args), torch.nn.functional.conv2d(x, weight, *args))


def test_layer_output_shape_follows_the_formula():
    """The docstring's example: floor((50 + 2*4 - 3*(3 - 1) - 1) / 2 + 1) = 26 rows."""
    m = scratchnn.Conv2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2), dilation=(3, 1))
    assert m(torch.randn(2, 16, 50, 100)).shape == (2, 33, 26, 100)
