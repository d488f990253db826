"""scratchnn.Linear and scratchnn.functional.linear against torch.nn.Linear."""

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import scratchnn.functional as SF
from strategies import (
    BACKWARDS,
    ONE_ROUNDING,
    assert_low_precision_forward,
    assert_matches_torch,
    linear_cases,
    randn,
    relayout,
    seeds,
    twins,
)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("backward", BACKWARDS)
@settings(max_examples=40, deadline=None)
@given(case=linear_cases(), seed=seeds)
def test_outputs_and_gradients_match_torch(case, seed, backward, dtype):
    ours, theirs = twins("Linear", case.kwargs, dtype, backward)
    assert_matches_torch(ours, theirs, randn(case.shape, seed, dtype))


@pytest.mark.parametrize("backward", BACKWARDS)
@settings(max_examples=15, deadline=None)
@given(case=linear_cases(), seed=seeds)
def test_gradcheck_and_gradgradcheck(case, seed, backward):
    kw = case.kwargs
    x = randn(case.shape, seed, torch.float64).requires_grad_()
    params = [randn((kw["out_features"], kw["in_features"]), seed + 1, torch.float64).requires_grad_()]
    if kw["bias"]:
        params.append(randn((kw["out_features"],), seed + 2, torch.float64).requires_grad_())

    def linear(x, weight, bias=None):
        return SF.linear(x, weight, bias, backward=backward)

    assert torch.autograd.gradcheck(linear, (x, *params))
    assert torch.autograd.gradgradcheck(linear, (x, *params))


@pytest.mark.parametrize("backward", BACKWARDS)
def test_hand_computed_example(backward):
    """Two inputs, three outputs; every number below is worked out by hand."""
    x = torch.tensor([[1.0, 2.0]], requires_grad=True)
    weight = torch.tensor([[1.0, 0.0], [2.0, -1.0], [0.0, 3.0]], requires_grad=True)
    bias = torch.tensor([0.5, 0.0, -1.0], requires_grad=True)
    out = SF.linear(x, weight, bias, backward=backward)
    # [1*1 + 2*0 + 0.5, 1*2 - 2*1 + 0, 0 + 2*3 - 1]
    assert out.tolist() == [[1.5, 0.0, 5.0]]
    out.backward(torch.tensor([[1.0, 10.0, 100.0]]))
    # dL/dx = g @ W = [1*1 + 10*2 + 0, 0 - 10 + 300]
    assert x.grad.tolist() == [[21.0, 290.0]]
    # dL/dW[o, i] = g[o] * x[i]
    assert weight.grad.tolist() == [[1.0, 2.0], [10.0, 20.0], [100.0, 200.0]]
    assert bias.grad.tolist() == [1.0, 10.0, 100.0]


@pytest.mark.parametrize("backward", BACKWARDS)
@settings(max_examples=20, deadline=None)
@given(case=linear_cases(leading=st.just([])), seed=seeds)
def test_unbatched_vector(case, seed, backward):
    ours, theirs = twins("Linear", case.kwargs, backward=backward)
    x = randn(case.shape, seed)
    assert ours(x).shape == (case.kwargs["out_features"],)
    assert_matches_torch(ours, theirs, x)


@pytest.mark.parametrize("leading", [[0], [1], [3, 0], [0, 2, 1]], ids=["batch-0", "batch-1", "inner-0", "outer-0"])
@pytest.mark.parametrize("backward", BACKWARDS)
@settings(max_examples=10, deadline=None)
@given(data=st.data(), seed=seeds)
def test_batch_of_zero_and_one(leading, backward, data, seed):
    case = data.draw(linear_cases(leading=st.just(leading)))
    ours, theirs = twins("Linear", case.kwargs, backward=backward)
    assert_matches_torch(ours, theirs, randn(case.shape, seed))


@pytest.mark.parametrize("dtype", list(ONE_ROUNDING))
@settings(max_examples=25, deadline=None)
@given(case=linear_cases(), seed=seeds)
def test_low_precision_forward(case, seed, dtype):
    ours, theirs = twins("Linear", case.kwargs, dtype)
    assert_low_precision_forward(ours, theirs, randn(case.shape, seed, dtype), **ONE_ROUNDING[dtype])


@pytest.mark.parametrize("layout", ["transposed", "sliced", "channels_last"])
@pytest.mark.parametrize("backward", BACKWARDS)
@settings(max_examples=20, deadline=None)
@given(case=linear_cases(leading=st.lists(st.integers(1, 3), min_size=3, max_size=3)), seed=seeds)
def test_non_contiguous_and_channels_last_input(case, seed, backward, layout):
    x = relayout(randn(case.shape, seed), layout)
    assume(not x.is_contiguous())
    ours, theirs = twins("Linear", case.kwargs, backward=backward)
    assert_matches_torch(ours, theirs, x)


@pytest.mark.parametrize("layout", ["transposed", "sliced"])
@pytest.mark.parametrize("backward", BACKWARDS)
@settings(max_examples=20, deadline=None)
@given(case=linear_cases(leading=st.lists(st.integers(1, 3), min_size=1, max_size=3)), seed=seeds)
def test_non_contiguous_grad_output(case, seed, backward, layout):
    ours, theirs = twins("Linear", case.kwargs, backward=backward)
    grad = relayout(randn((*case.shape[:-1], case.kwargs["out_features"]), seed + 1), layout)
    assume(not grad.is_contiguous())
    assert_matches_torch(ours, theirs, randn(case.shape, seed), grad=grad)


def test_functional_matches_torch_functional():
    x, weight, bias = randn((4, 3), 0), randn((2, 3), 1), randn((2,), 2)
    torch.testing.assert_close(SF.linear(x, weight, bias), torch.nn.functional.linear(x, weight, bias))
    torch.testing.assert_close(SF.linear(x, weight), torch.nn.functional.linear(x, weight))
