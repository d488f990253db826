"""scratchnn.MaxPool2d / AvgPool2d and their functional forms against torch.nn, over the whole option space."""

import math

import pytest
import torch
import torch.nn.functional as TF
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import scratchnn
import scratchnn.functional as SF
from scratchnn._dtypes import may_hold_nan
from scratchnn.functional._pool_geometry import PoolGeometry
from strategies import (
    BACKWARDS,
    LAYOUTS,
    assert_low_precision_forward,
    assert_matches_torch,
    avg_pool_cases,
    max_pool_cases,
    randn,
    relayout,
    seeds,
    twins,
)

POOLS = {"MaxPool2d": max_pool_cases, "AvgPool2d": avg_pool_cases}
FUNCTIONAL = {"MaxPool2d": SF.max_pool2d, "AvgPool2d": SF.avg_pool2d}
# float16/bfloat16: a maximum is exact; an average is summed in float32 and rounded once, as torch does
LOW_PRECISION = {
    "MaxPool2d": lambda dtype: {"atol": 0, "rtol": 0},
    "AvgPool2d": lambda dtype: {"atol": torch.finfo(dtype).eps, "rtol": torch.finfo(dtype).eps},
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("name", POOLS)
@settings(max_examples=40, deadline=None)
@given(data=st.data(), seed=seeds)
def test_outputs_and_gradients_match_torch(name, backward, dtype, data, seed):
    case = data.draw(POOLS[name]())
    ours, theirs = twins(name, case.kwargs, dtype, backward)
    assert_matches_torch(ours, theirs, randn(case.shape, seed, dtype))


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("name", POOLS)
@settings(max_examples=15, deadline=None)
@given(data=st.data(), seed=seeds)
def test_gradcheck_and_gradgradcheck(name, backward, data, seed):
    """Distinct pixels, at least 1/numel apart: a finite-difference step never changes a window's winner."""
    case = data.draw(POOLS[name](batch=st.integers(1, 2)))
    kwargs = {k: v for k, v in case.kwargs.items() if k != "return_indices"}
    numel = math.prod(case.shape)
    order = torch.randperm(numel, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    x = (order / numel - 0.5).reshape(case.shape).requires_grad_()

    def pool(x):
        return FUNCTIONAL[name](x, **kwargs, backward=backward)

    assert torch.autograd.gradcheck(pool, (x,))
    assert torch.autograd.gradgradcheck(pool, (x,))


# ---------------------------------------------------------------------------------------- hand computed


@pytest.mark.parametrize("backward", BACKWARDS)
def test_max_pool_hand_computed_example(backward):
    """2x2 windows, stride 2, on a 4x4 image: the maximum of each quarter and its flat position ``row*4+col``."""
    x = torch.tensor([[[[1.0, 5, 2, 0], [3, 4, 8, 1], [0, 2, 6, 7], [9, 1, 3, 3]]]], requires_grad=True)
    out, indices = SF.max_pool2d(x, 2, return_indices=True, backward=backward)
    assert out.tolist() == [[[[5.0, 8.0], [9.0, 7.0]]]]
    assert indices.tolist() == [[[[1, 6], [12, 11]]]]
    out.backward(torch.tensor([[[[10.0, 20], [30, 40]]]]))
    # each output's gradient lands on its window's winner, nothing elsewhere
    expected = [[0.0, 10, 0, 0], [0, 0, 20, 0], [0, 0, 0, 40], [30, 0, 0, 0]]
    assert x.grad.tolist() == [[expected]]


@pytest.mark.parametrize("backward", BACKWARDS)
def test_avg_pool_hand_computed_example(backward):
    """2x2 windows, stride 2, padding 1 on a 3x3 image: the windows hold 1, 2, 2 and 4 real pixels."""
    x = torch.tensor([[[[1.0, 2, 3], [4, 5, 6], [7, 8, 9]]]], requires_grad=True)
    real_only = SF.avg_pool2d(x, 2, padding=1, count_include_pad=False, backward=backward)
    # 1/1, (2+3)/2, (4+7)/2, (5+6+8+9)/4
    assert real_only.tolist() == [[[[1.0, 2.5], [5.5, 7.0]]]]
    with_pad = SF.avg_pool2d(x, 2, padding=1, backward=backward)
    # every window divides by 4: 1/4, 5/4, 11/4, 28/4
    assert with_pad.tolist() == [[[[0.25, 1.25], [2.75, 7.0]]]]
    real_only.sum().backward()
    # each pixel receives 1/divisor of the one window that holds it
    assert x.grad.tolist() == [[[[1.0, 0.5, 0.5], [0.5, 0.25, 0.25], [0.5, 0.25, 0.25]]]]


@pytest.mark.parametrize("backward", BACKWARDS)
def test_avg_pool_hand_computed_divisor_override(backward):
    x = torch.arange(1.0, 17).reshape(1, 1, 4, 4)
    # window sums 1+2+5+6 = 14, 22, 46, 54, each divided by 7
    out = SF.avg_pool2d(x, 2, divisor_override=7, backward=backward)
    torch.testing.assert_close(out, torch.tensor([[[[14.0, 22], [46, 54]]]]) / 7)


# ----------------------------------------------------------------------------------- shapes and layouts


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("name", POOLS)
@settings(max_examples=25, deadline=None)
@given(data=st.data(), seed=seeds)
def test_unbatched_input(name, backward, data, seed):
    case = data.draw(POOLS[name](batch=st.none()))
    ours, theirs = twins(name, case.kwargs, backward=backward)
    x = randn(case.shape, seed)
    out = ours(x)
    assert (out[0] if isinstance(out, tuple) else out).dim() == 3
    assert_matches_torch(ours, theirs, x)


@pytest.mark.parametrize("batch", [0, 1])
@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("name", POOLS)
@settings(max_examples=15, deadline=None)
@given(data=st.data(), seed=seeds)
def test_batch_of_zero_and_one(name, backward, batch, data, seed):
    case = data.draw(POOLS[name](batch=st.just(batch)))
    ours, theirs = twins(name, case.kwargs, backward=backward)
    assert_matches_torch(ours, theirs, randn(case.shape, seed))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", POOLS)
@settings(max_examples=25, deadline=None)
@given(data=st.data(), seed=seeds)
def test_low_precision_forward(name, dtype, data, seed):
    case = data.draw(POOLS[name]())
    ours, theirs = twins(name, case.kwargs)
    assert_low_precision_forward(ours, theirs, randn(case.shape, seed, dtype), **LOW_PRECISION[name](dtype))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("name", POOLS)
@settings(max_examples=15, deadline=None)
@given(data=st.data(), seed=seeds)
def test_non_contiguous_and_channels_last_input(name, backward, layout, data, seed):
    case = data.draw(POOLS[name]())
    x = relayout(randn(case.shape, seed), layout)
    assume(not x.is_contiguous())
    ours, theirs = twins(name, case.kwargs, backward=backward)
    assert_matches_torch(ours, theirs, x)


@pytest.mark.parametrize("layout", ["transposed", "sliced"])
@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("name", POOLS)
@settings(max_examples=15, deadline=None)
@given(data=st.data(), seed=seeds)
def test_non_contiguous_grad_output(name, backward, layout, data, seed):
    case = data.draw(POOLS[name]())
    ours, theirs = twins(name, case.kwargs, backward=backward)
    x = randn(case.shape, seed)
    with torch.no_grad():
        out = theirs(x)
    grad = relayout(randn((out[0] if isinstance(out, tuple) else out).shape, seed + 1), layout)
    assume(not grad.is_contiguous())
    assert_matches_torch(ours, theirs, x, grad=grad)


# ------------------------------------------------------------------------------ ceil_mode at the edges


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
def test_ceil_mode_window_wider_than_the_input_gives_torchs_output(op):
    x = torch.randn(1, 2, 2, 2, requires_grad=True)
    ours, theirs = getattr(SF, op)(x, 3, 2, ceil_mode=True), getattr(TF, op)(x, 3, 2, ceil_mode=True)
    torch.testing.assert_close(ours, theirs)
    g = torch.randn_like(theirs)
    torch.testing.assert_close(torch.autograd.grad(ours, x, g)[0], torch.autograd.grad(theirs, x, g)[0])


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
def test_ceil_mode_with_no_window_at_all_is_an_error_in_both(op):
    x = torch.randn(1, 2, 1, 1)
    with pytest.raises(RuntimeError, match="Output size is too small"):
        getattr(TF, op)(x, 3, 2, ceil_mode=True)
    with pytest.raises(RuntimeError, match=r"output size .* is too small"):
        getattr(SF, op)(x, 3, 2, ceil_mode=True)


# ----------------------------------------------------------------------------- max pooling: ties, indices


@pytest.mark.parametrize("backward", BACKWARDS)
@settings(max_examples=30, deadline=None)
@given(case=max_pool_cases(), value=st.sampled_from([0.0, -3.5, 7.0]))
def test_max_pool_constant_input_routes_like_torch(case, value, backward):
    """Every tap of every window ties: indices and gradients go where torch sends them."""
    ours, theirs = twins("MaxPool2d", {**case.kwargs, "return_indices": True}, backward=backward)
    assert_matches_torch(ours, theirs, torch.full(case.shape, value))


@pytest.mark.parametrize("backward", BACKWARDS)
@settings(max_examples=40, deadline=None)
@given(case=max_pool_cases(), seed=seeds)
def test_max_pool_equal_maxima_route_like_torch(case, seed, backward):
    """Pixels drawn from {0, 1, 2}: most windows hold several equal maxima."""
    x = torch.randint(0, 3, case.shape, generator=torch.Generator().manual_seed(seed)).float()
    ours, theirs = twins("MaxPool2d", {**case.kwargs, "return_indices": True}, backward=backward)
    assert_matches_torch(ours, theirs, x)


@pytest.mark.parametrize("backward", BACKWARDS)
def test_max_pool_tie_goes_to_the_first_pixel_in_row_major_order(backward):
    x = torch.tensor([[[[1.0, 3], [3, 3]]]], requires_grad=True)
    out, indices = SF.max_pool2d(x, 2, return_indices=True, backward=backward)
    out.sum().backward()
    assert indices.item() == 1
    assert x.grad.tolist() == [[[[0.0, 1.0], [0.0, 0.0]]]]


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("fill", [float("-inf"), torch.finfo(torch.float32).min], ids=["minus-inf", "float32-min"])
def test_max_pool_padding_never_wins_a_tie(fill, backward):
    """A window whose real pixels all equal the padding value still points at a real pixel, as torch's does,
    and the gradient reaches that pixel."""
    kwargs = {"kernel_size": 3, "stride": 1, "padding": 1, "ceil_mode": True, "return_indices": True}
    ours, theirs = twins("MaxPool2d", kwargs, backward=backward)
    assert_matches_torch(ours, theirs, torch.full((1, 2, 3, 4), fill))


@pytest.mark.parametrize("backward", BACKWARDS)
def test_max_pool_nan_propagates_like_torch(backward):
    """A NaN in a window makes its maximum NaN, and torch points the index at the window's last NaN."""
    x = torch.tensor([[[[float("nan"), 5.0, 1.0], [3.0, float("nan"), 2.0], [0.0, 1.0, 4.0]]]])
    ours, theirs = twins("MaxPool2d", {"kernel_size": 2, "stride": 1, "return_indices": True}, backward=backward)
    assert_matches_torch(ours, theirs, x, equal_nan=True)


@pytest.mark.parametrize("backward", BACKWARDS)
def test_max_pool_with_both_infinities_and_no_nan_matches_torch(backward):
    """The NaN check is one sum, which is NaN for inf + -inf too: an output holding both (a window of -inf only)
    takes the NaN repair, which must leave its winners as torch's."""
    inf = float("inf")
    x = torch.tensor([[[[inf, 5.0, -inf, -inf], [3.0, -inf, -inf, -inf]]]])
    ours, theirs = twins("MaxPool2d", {"kernel_size": 2, "stride": 2, "return_indices": True}, backward=backward)
    assert may_hold_nan(theirs(x)[0])  # the repair path runs
    assert_matches_torch(ours, theirs, x, equal_nan=True)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64])
@pytest.mark.parametrize("backward", BACKWARDS)
@settings(max_examples=20, deadline=None)
@given(case=max_pool_cases(), seed=seeds)
def test_max_pool_integer_input(case, seed, backward, dtype):
    """torch max-pools integers too; the values include the dtype's extremes, so padding ties are exercised."""
    info = torch.iinfo(dtype)
    gen = torch.Generator().manual_seed(seed)
    pick = torch.randint(0, 4, case.shape, generator=gen)
    x = torch.tensor([info.min, info.min + 1, 0, info.max], dtype=dtype)[pick]
    ours, theirs = twins("MaxPool2d", {**case.kwargs, "return_indices": True}, backward=backward)
    assert_matches_torch(ours, theirs, x)


@pytest.mark.parametrize("backward", BACKWARDS)
@settings(max_examples=20, deadline=None)
@given(case=avg_pool_cases(), seed=seeds)
def test_avg_pool_int64_input(case, seed, backward):
    """torch average-pools int64 with truncating division; so do we."""
    x = torch.randint(-50, 50, case.shape, generator=torch.Generator().manual_seed(seed))
    ours, theirs = twins("AvgPool2d", case.kwargs, backward=backward)
    assert_matches_torch(ours, theirs, x)


@pytest.mark.parametrize("backward", BACKWARDS)
def test_return_indices_of_unbatched_input(backward):
    x = randn((3, 5, 6), 0)
    ours, theirs = twins("MaxPool2d", {"kernel_size": 2, "padding": 1, "return_indices": True}, backward=backward)
    out, indices = ours(x)
    assert indices.shape == out.shape == (3, 3, 4)
    torch.testing.assert_close((out, indices), theirs(x))


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize(
    ("kwargs", "tap_by_tap"),
    [
        ({"kernel_size": 17, "stride": 1}, True),  # 289 taps: more winners than one byte can name
        ({"kernel_size": 17, "stride": 3}, False),  # more taps than outputs: the copied windows
        ({"kernel_size": (3, 2), "stride": (1, 2), "dilation": (2, 1)}, True),  # overlapping, dilated windows
        ({"kernel_size": 2}, True),
    ],
    ids=["17x17", "17x17-stride-3", "dilated-overlapping", "2x2"],
)
def test_max_pool_without_padding_ties_and_nans(kwargs, tap_by_tap, backward):
    """Both forwards without padding: ties go to the first tap, NaN windows to their last NaN tap, and a window's
    winner may be any of hundreds of taps."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 3, (2, 3, 41, 40), generator=gen).double()  # many equal maxima
    x[0, 0, 4, 5] = x[1, 2, 10, 3] = x[1, 2, 11, 4] = float("nan")
    x[1, 1, 16, 16] = 10.0  # the last tap (the 289th) of the first 17x17 window, and others' taps
    kernel, stride, dilation = kwargs["kernel_size"], kwargs.get("stride"), kwargs.get("dilation", 1)
    geo = PoolGeometry("max_pool2d", x, kernel, stride, 0, dilation, False)
    assert geo.tap_by_tap == tap_by_tap
    ours, theirs = twins("MaxPool2d", {**kwargs, "return_indices": True}, torch.float64, backward)
    assert_matches_torch(ours, theirs, x, equal_nan=True)


@pytest.mark.parametrize("backward", BACKWARDS)
def test_max_pool_1x1_output_is_a_copy(backward):
    """A 1x1 window's maximum is the pixel itself, but the output must not share the input's memory (as torch)."""
    x = torch.arange(4.0).reshape(1, 1, 2, 2)
    out = scratchnn.MaxPool2d(1, backward=backward)(x)
    out.add_(10)
    assert x.flatten().tolist() == [0.0, 1.0, 2.0, 3.0]
