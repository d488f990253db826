"""scratchnn.AdaptiveAvgPool2d and Flatten against torch.nn: outputs, gradients, derivatives, errors, repr."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import scratchnn
import scratchnn.functional as SF
from strategies import BACKWARDS, assert_matches_torch, randn, seeds


@st.composite
def adaptive_cases(draw):
    """An input shape (batched or not) and an output size: int, pair, ``None`` entries, larger than the input."""
    H, W = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    side = st.one_of(st.integers(1, 9), st.none())
    output_size = draw(st.one_of(st.integers(1, 9), st.tuples(side, side)))
    batch = draw(st.sampled_from([(), (1,), (2,)]))
    return (*batch, draw(st.integers(1, 3)), H, W), output_size


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("backward", BACKWARDS)
@settings(max_examples=25, deadline=None)
@given(case=adaptive_cases(), seed=seeds)
def test_outputs_and_gradients_match_torch(backward, dtype, case, seed):
    shape, output_size = case
    ours, theirs = scratchnn.AdaptiveAvgPool2d(output_size, backward=backward), nn.AdaptiveAvgPool2d(output_size)
    assert_matches_torch(ours, theirs, randn(shape, seed, dtype))


def test_hand_computed_non_divisible_windows():
    """H=5 to 3 rows: windows [0, 2), [1, 4), [3, 5) (floor(i*5/3) to ceil((i+1)*5/3)); one column."""
    x = torch.tensor([1.0, 2.0, 4.0, 8.0, 16.0]).reshape(1, 1, 5, 1)
    out = SF.adaptive_avg_pool2d(x, (3, 1))
    torch.testing.assert_close(out.flatten(), torch.tensor([1.5, 14 / 3, 12.0]))


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("output_size", [(3, 2), (4, 7), 1, (None, 2)])
def test_gradcheck_and_gradgradcheck(output_size, backward):
    x = randn((2, 2, 5, 4), 0, torch.float64).requires_grad_()

    def pool(x):
        return SF.adaptive_avg_pool2d(x, output_size, backward=backward)

    assert torch.autograd.gradcheck(pool, (x,))
    assert torch.autograd.gradgradcheck(pool, (x,))


def test_low_precision_keeps_the_dtype_and_rounds_once():
    x = randn((2, 3, 7, 5), 0, torch.bfloat16)
    out = SF.adaptive_avg_pool2d(x, (3, 2))
    assert out.dtype == torch.bfloat16
    eps = torch.finfo(torch.bfloat16).eps
    torch.testing.assert_close(out, F.adaptive_avg_pool2d(x, (3, 2)), atol=eps, rtol=eps)


BAD = [
    ((2, 3), 2, RuntimeError, r"Expected 3D or 4D tensor, but got \[2, 3\]"),
    ((2, 3, 0, 3), 2, RuntimeError, "non-zero size for non-batch dimensions"),
    ((2, 2, 3, 3), (2, -1), RuntimeError, "elements of output_size must be greater than or equal to 0"),
    ((2, 2, 3, 3), (2, 2, 2), RuntimeError, "output_size must be 2"),
    ((2, 2, 3, 3), (1.5, 2), TypeError, "must be tuple of ints"),
]


@pytest.mark.parametrize(("shape", "output_size", "error", "match"), BAD)
def test_bad_arguments_raise_torchs_error(shape, output_size, error, match):
    with pytest.raises(error, match=match):
        nn.AdaptiveAvgPool2d(output_size)(torch.randn(shape))
    with pytest.raises(error, match=match):
        scratchnn.AdaptiveAvgPool2d(output_size)(torch.randn(shape))


def test_integer_input_is_not_implemented_as_in_torch():
    with pytest.raises(NotImplementedError, match="adaptive_avg_pool2d"):
        scratchnn.AdaptiveAvgPool2d(2)(torch.ones(1, 1, 4, 4, dtype=torch.long))


def test_zero_channels_and_zero_output_sizes_give_torchs_shapes():
    for shape, size in [((2, 0, 3, 3), 2), ((1, 1, 5, 5), (2, 0))]:
        assert (
            SF.adaptive_avg_pool2d(torch.randn(shape), size).shape
            == F.adaptive_avg_pool2d(torch.randn(shape), size).shape
        )


# ------------------------------------------------------------------------------------------------ Flatten

FLATTENS = [(), (0,), (2,), (1, 2), (0, -1), (-3, -2)]


@pytest.mark.parametrize("args", FLATTENS)
def test_flatten_equals_torch_and_is_a_view(args):
    x = randn((2, 3, 4, 5), 0)
    out = scratchnn.Flatten(*args)(x)
    torch.testing.assert_close(out, nn.Flatten(*args)(x))
    assert out.data_ptr() == x.data_ptr()
    assert_matches_torch(scratchnn.Flatten(*args), nn.Flatten(*args), x)


def test_flatten_of_a_transposed_input_copies_as_torch():
    x = randn((2, 3, 4), 0).transpose(1, 2)
    torch.testing.assert_close(scratchnn.Flatten()(x), nn.Flatten()(x))


@pytest.mark.parametrize(("args", "error"), [((3,), IndexError), ((2, 1), RuntimeError)])
def test_flatten_bad_dims_raise_torchs_error(args, error):
    with pytest.raises(error) as theirs:
        nn.Flatten(*args)(torch.randn(2, 3, 4))
    with pytest.raises(error, match=str(theirs.value).split("(")[0]):
        scratchnn.Flatten(*args)(torch.randn(2, 3, 4))


@pytest.mark.parametrize(
    "pair", [(scratchnn.Flatten(), nn.Flatten()), (scratchnn.Flatten(0, 2), nn.Flatten(0, 2))], ids=str
)
def test_flatten_repr_equals_torch(pair):
    assert repr(pair[0]) == repr(pair[1])


@pytest.mark.parametrize("output_size", [3, (None, 3), (2, None), (5, 7)])
def test_adaptive_repr_equals_torch(output_size):
    assert repr(scratchnn.AdaptiveAvgPool2d(output_size)) == repr(nn.AdaptiveAvgPool2d(output_size))
