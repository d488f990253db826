"""scratchnn.ConvTranspose2d against torch.nn.ConvTranspose2d, and its adjointness to scratchnn's Conv2d."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import scratchnn
import scratchnn.functional as SF
from strategies import BACKWARDS, assert_matches_torch, randn, seeds


@st.composite
def conv_transpose_cases(draw):
    """``nn.ConvTranspose2d`` arguments over the whole option space (``output_padding`` below the stride or the
    dilation) and an input shape, batched or not."""
    groups = draw(st.integers(1, 2))
    in_channels, out_channels = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel, stride, dilation = (tuple(draw(st.integers(1, 3)) for _ in range(2)) for _ in range(3))
    padding = tuple(draw(st.integers(0, 2)) for _ in range(2))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation, strict=True))
    H, W = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    out = [(n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n, s, p, d, k, op in
           zip((H, W), stride, padding, dilation, kernel, output_padding, strict=True)]  # fmt: skip
    if min(out) < 1:  # torch refuses an empty output
        padding = (0, 0)
    kwargs = {"stride": stride, "padding": padding, "output_padding": output_padding, "groups": groups,
              "bias": draw(st.booleans()), "dilation": dilation}  # fmt: skip
    batch = draw(st.sampled_from([(), (1,), (2,)]))
    return (in_channels, out_channels, kernel), kwargs, (*batch, in_channels, H, W)


def twins(args, kwargs, dtype=torch.float32, backward=None):
    torch.manual_seed(0)
    ours = scratchnn.ConvTranspose2d(*args, **kwargs, dtype=dtype, backward=backward)
    torch.manual_seed(0)
    return ours, nn.ConvTranspose2d(*args, **kwargs, dtype=dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("backward", BACKWARDS)
@settings(max_examples=20, deadline=None)
@given(case=conv_transpose_cases(), seed=seeds)
def test_same_initialisation_outputs_and_gradients_as_torch(backward, dtype, case, seed):
    args, kwargs, shape = case
    ours, theirs = twins(args, kwargs, dtype, backward)
    for name, param in theirs.named_parameters():
        assert torch.equal(dict(ours.named_parameters())[name], param), name
    assert_matches_torch(ours, theirs, randn(shape, seed, dtype))


def test_hand_computed_stamps():
    """One channel, kernel [[1, 2]], stride 2: each pixel stamps its value times the kernel, two columns apart."""
    x = torch.tensor([[[[1.0, 10.0]]]])  # (1, 1, 1, 2)
    weight = torch.tensor([[[[1.0, 2.0]]]])  # (C_in=1, C_out=1, 1, 2)
    out = SF.conv_transpose2d(x, weight, stride=2)
    torch.testing.assert_close(out, torch.tensor([[[[1.0, 2.0, 10.0, 20.0]]]]))


@pytest.mark.parametrize("stride", [1, 2])
def test_forward_is_the_adjoint_of_scratchnns_conv(stride):
    """<conv_transpose(x; W), y> = <x, conv(y; W)> for every x and y: the two are transposes of one matrix."""
    weight = randn((3, 2, 3, 3), 0, torch.float64)  # conv: 2 -> 3 channels; transposed: 3 -> 2
    y = randn((2, 2, 7, 7), 1, torch.float64)
    x = randn((2, 3, *SF.conv2d(y, weight, stride=stride, padding=1).shape[2:]), 2, torch.float64)
    output_padding = (7 + 2 - 3) % stride  # the transposed output has y's size
    lhs = (SF.conv_transpose2d(x, weight, stride=stride, padding=1, output_padding=output_padding) * y).sum()
    rhs = (x * SF.conv2d(y, weight, stride=stride, padding=1)).sum()
    torch.testing.assert_close(lhs, rhs)


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"stride": 2, "padding": 1, "output_padding": 1},
        {"groups": 2, "dilation": 2},
        {"dilation": 2, "output_padding": 1},
    ],
    ids=str,
)
def test_gradcheck_and_gradgradcheck(kwargs, backward):
    """The last case has ``stride <= output_padding < dilation``: output rows no input pixel reaches."""
    x = randn((1, 2, 2, 3), 0, torch.float64).requires_grad_()
    weight = randn((2, 3 - kwargs.get("groups", 1), 2, 2), 1, torch.float64).requires_grad_()
    bias = randn((weight.shape[1] * kwargs.get("groups", 1),), 2, torch.float64).requires_grad_()

    def conv_t(x, weight, bias):
        return SF.conv_transpose2d(x, weight, bias, **kwargs, backward=backward)

    assert torch.autograd.gradcheck(conv_t, (x, weight, bias))
    assert torch.autograd.gradgradcheck(conv_t, (x, weight, bias))


def test_default_path_is_the_hand_written_function():
    out = scratchnn.ConvTranspose2d(2, 3, 3)(randn((1, 2, 4, 4), 0).requires_grad_())
    assert type(out.grad_fn).__name__ == "ConvTranspose2dFunctionBackward"


@pytest.mark.parametrize("output_size", [[9, 10], [1, 3, 10, 9], (9, 9)])
def test_output_size_picks_torchs_output_padding(output_size):
    ours, theirs = twins((2, 3, 3), {"stride": 2})
    x = randn((1, 2, 4, 4), 0)
    torch.testing.assert_close(ours(x, output_size=output_size), theirs(x, output_size=output_size))


@pytest.mark.parametrize(("output_size", "match"), [([12, 12], "valid sizes range from"), ([10], "2 or 4 elements")])
def test_unreachable_output_size_is_torchs_value_error(output_size, match):
    for layer in twins((2, 3, 3), {"stride": 2}):
        with pytest.raises(ValueError, match=match):
            layer(torch.randn(1, 2, 4, 4), output_size=output_size)


BAD_FORWARD = [  # constructor arguments, input shape, torch's words
    ((1, 1, 3), {"stride": 2, "output_padding": 2}, (1, 1, 4, 4), "output padding must be smaller than either stride"),
    ((2, 3, 3), {}, (1, 4, 5, 5), r"Given transposed=1, weight of size \[2, 3, 3, 3\], expected input\[1, 4, 5, 5\]"),
    ((2, 3, 3), {}, (5, 5), "Expected 3D \\(unbatched\\) or 4D \\(batched\\) input to conv_transpose2d"),
    ((2, 3, 1), {"padding": 2}, (1, 2, 1, 1), r"Calculated output size per channel: \(-3 x -3\). Output size is too"),
    ((2, 3, 1), {"padding": -1}, (1, 2, 1, 1), "negative padding is not supported"),
    ((2, 3, 1), {"stride": 0}, (1, 2, 1, 1), "non-positive stride is not supported"),
    ((2, 3, 1), {"dilation": 0}, (1, 2, 1, 1), "dilation should be greater than zero"),
]


@pytest.mark.parametrize(("args", "kwargs", "shape", "match"), BAD_FORWARD, ids=[b[-1][:30] for b in BAD_FORWARD])
def test_bad_forward_raises_torchs_error(args, kwargs, shape, match):
    for layer in twins(args, kwargs):
        with pytest.raises(RuntimeError, match=match):
            layer(torch.randn(shape))


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((2, 3, 1), {"groups": 2}, "out_channels must be divisible by groups"),
        ((3, 4, 1), {"groups": 2}, "in_channels must be divisible by groups"),
        ((2, 3, 1), {"padding_mode": "reflect"}, 'Only "zeros" padding mode is supported for ConvTranspose2d'),
    ],
)
def test_bad_construction_raises_torchs_value_error(args, kwargs, match):
    for make in (nn.ConvTranspose2d, scratchnn.ConvTranspose2d):
        with pytest.raises(ValueError, match=match):
            make(*args, **kwargs)


REPRS = [
    ((2, 3, 3), {}),
    ((2, 4, (3, 2)), {"stride": 2, "padding": 1, "output_padding": 1, "groups": 2, "bias": False, "dilation": 2}),
]


@pytest.mark.parametrize(("args", "kwargs"), REPRS, ids=str)
def test_repr_and_state_dict_equal_torchs(args, kwargs):
    ours, theirs = twins(args, kwargs)
    assert repr(ours) == repr(theirs)
    theirs.load_state_dict(ours.state_dict())
    ours.load_state_dict(theirs.state_dict())
