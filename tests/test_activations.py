"""The activations with hand-written backward against their torch namesakes."""

import math

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

import scratchnn
import scratchnn.functional as SF
from scratchnn.reference import TorchSquare
from strategies import LAYOUTS, assert_low_precision_forward, assert_matches_torch, randn, relayout, seeds, shapes

# id: (our module, torch's module); LeakyReLU with its default slope, a larger one and a negative one
ACTIVATIONS = {
    "ReLU": (scratchnn.ReLU, nn.ReLU),
    "LeakyReLU": (scratchnn.LeakyReLU, nn.LeakyReLU),
    "LeakyReLU-0.3": (lambda: scratchnn.LeakyReLU(0.3), lambda: nn.LeakyReLU(0.3)),
    "LeakyReLU-neg": (lambda: scratchnn.LeakyReLU(-0.5), lambda: nn.LeakyReLU(-0.5)),
    "Sigmoid": (scratchnn.Sigmoid, nn.Sigmoid),
    "Tanh": (scratchnn.Tanh, nn.Tanh),
    "SiLU": (scratchnn.SiLU, nn.SiLU),
    "Square": (scratchnn.Square, TorchSquare),
}
# id: (our functional call, torch's), both taking inplace=
INPLACE = {
    "relu": (SF.relu, torch.nn.functional.relu),
    "leaky_relu": (
        lambda x, inplace: SF.leaky_relu(x, 0.2, inplace),
        lambda x, inplace: torch.nn.functional.leaky_relu(x, 0.2, inplace),
    ),
    "silu": (SF.silu, torch.nn.functional.silu),
    "ReLU": (lambda x, inplace: scratchnn.ReLU(inplace)(x), lambda x, inplace: nn.ReLU(inplace)(x)),
    "LeakyReLU": (
        lambda x, inplace: scratchnn.LeakyReLU(0.1, inplace)(x),
        lambda x, inplace: nn.LeakyReLU(0.1, inplace)(x),
    ),
    "SiLU": (lambda x, inplace: scratchnn.SiLU(inplace)(x), lambda x, inplace: nn.SiLU(inplace)(x)),
}
LOW_PRECISION = {torch.float16: {"atol": 1e-3, "rtol": 1e-3}, torch.bfloat16: {"atol": 1e-2, "rtol": 1.6e-2}}
LN3 = math.log(3.0)  # sigmoid(ln 3) = 3/4 and tanh(ln 3) = 4/5 exactly
S2 = 1 / (1 + math.e**2)  # sigmoid(-2)


def _twins(name):
    ours, theirs = ACTIVATIONS[name]
    return ours(), theirs()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ACTIVATIONS)
@settings(max_examples=30, deadline=None)
@given(shape=shapes, seed=seeds)
def test_outputs_and_gradients_match_torch(name, dtype, shape, seed):
    assert_matches_torch(*_twins(name), 3 * randn(shape, seed, dtype))


@pytest.mark.parametrize("name", ACTIVATIONS)
@settings(max_examples=10, deadline=None)
@given(shape=shapes, seed=seeds)
def test_gradcheck_and_gradgradcheck(name, shape, seed):
    """Random float64 points, kept 1e-3 away from ReLU's kink (where finite differences straddle it)."""
    ours, _ = _twins(name)
    x = 3 * randn(shape, seed, torch.float64)
    x = torch.where(x < 0, x - 1e-3, x + 1e-3).requires_grad_()
    assert torch.autograd.gradcheck(ours, (x,))
    assert torch.autograd.gradgradcheck(ours, (x,))


# ---------------------------------------------------------------------------------------- hand computed

HAND = {
    # name: (f(x) at x = [-2, 0, ln 3], f'(x) there)
    "ReLU": ([0.0, 0.0, LN3], [0.0, 0.0, 1.0]),
    "LeakyReLU": ([-0.02, 0.0, LN3], [0.01, 0.01, 1.0]),
    "Sigmoid": ([S2, 0.5, 0.75], [S2 * (1 - S2), 0.25, 0.75 * 0.25]),
    "Tanh": ([math.tanh(-2.0), 0.0, 0.8], [1 - math.tanh(-2.0) ** 2, 1.0, 1 - 0.8**2]),
    # SiLU: x * s with slope s * (1 + x * (1 - s)), s = sigmoid(x)
    "SiLU": ([-2 * S2, 0.0, 0.75 * LN3], [S2 * (1 - 2 * (1 - S2)), 0.5, 0.75 * (1 + LN3 * 0.25)]),
    "Square": ([4.0, 0.0, LN3**2], [-4.0, 0.0, 2 * LN3]),
}


@pytest.mark.parametrize("name", HAND)
def test_hand_computed_example(name):
    """Values and derivatives at -2, 0 and ln 3, where sigmoid is 3/4 and tanh 4/5."""
    values, slopes = HAND[name]
    x = torch.tensor([-2.0, 0.0, LN3], dtype=torch.float64, requires_grad=True)
    out = ACTIVATIONS[name][0]()(x)
    torch.testing.assert_close(out, torch.tensor(values, dtype=torch.float64))
    out.sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor(slopes, dtype=torch.float64))


@pytest.mark.parametrize("name", ["ReLU", "LeakyReLU", "LeakyReLU-0.3", "LeakyReLU-neg"])
def test_gradient_at_zero_equals_torch(name):
    """The kink: torch gives ReLU slope 0 and LeakyReLU the negative slope at exactly 0."""
    ours, theirs = _twins(name)
    x = torch.zeros(5)
    assert_matches_torch(ours, theirs, x)
    x_ours = x.clone().requires_grad_()
    ours(x_ours).sum().backward()
    expected = 0.0 if name == "ReLU" else theirs.negative_slope
    assert x_ours.grad.tolist() == [pytest.approx(expected)] * 5


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_non_finite_inputs_and_gradients_match_torch(name):
    """inf, -inf and NaN in the input and in the incoming gradient, every pair: torch's values, NaN for NaN. ReLU
    once gave NaN (0 * inf) where torch gives 0 for an infinite gradient at a negative input."""
    special = [-math.inf, -50.0, -1.0, -0.0, 0.0, 2.0, 50.0, math.inf, math.nan]
    x = torch.tensor(special).repeat_interleave(len(special))
    grad = torch.tensor(special).repeat(len(special))
    ours, theirs = _twins(name)
    results = []
    for module in (ours, theirs):
        leaf = x.clone().requires_grad_()
        out = module(leaf)
        out.backward(grad)
        results.append((out.detach(), leaf.grad))
    torch.testing.assert_close(results[0], results[1], equal_nan=True)


# ----------------------------------------------------------------------------------- shapes and layouts


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_empty_input(name):
    assert_matches_torch(*_twins(name), torch.zeros(0, 3))


@pytest.mark.parametrize("dtype", list(LOW_PRECISION))
@pytest.mark.parametrize("name", ACTIVATIONS)
@settings(max_examples=15, deadline=None)
@given(shape=shapes, seed=seeds)
def test_low_precision_forward(name, dtype, shape, seed):
    ours, theirs = _twins(name)
    assert_low_precision_forward(ours, theirs, 3 * randn(shape, seed, dtype), **LOW_PRECISION[dtype])


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", ACTIVATIONS)
@settings(max_examples=10, deadline=None)
@given(shape=st.tuples(*[st.integers(1, 4)] * 4), seed=seeds)
def test_non_contiguous_and_channels_last_input(name, layout, shape, seed):
    x = relayout(randn(shape, seed), layout)
    assume(not x.is_contiguous())
    assert_matches_torch(*_twins(name), x)


@pytest.mark.parametrize("name", ACTIVATIONS)
@settings(max_examples=10, deadline=None)
@given(shape=st.tuples(*[st.integers(1, 4)] * 3), seed=seeds)
def test_non_contiguous_grad_output(name, shape, seed):
    grad = relayout(randn(shape, seed + 1), "transposed")
    assume(not grad.is_contiguous())
    assert_matches_torch(*_twins(name), randn(shape, seed), grad=grad)


# ---------------------------------------------------------------------------------------------- in place


@pytest.mark.parametrize("name", INPLACE)
@settings(max_examples=15, deadline=None)
@given(shape=shapes, seed=seeds)
def test_inplace_matches_torch(name, shape, seed):
    """In place: the result is written into the input tensor, with torch's values and gradients."""
    results = []
    for fn in INPLACE[name]:
        x = (3 * randn(shape, seed)).requires_grad_()
        target = x.clone()  # a leaf cannot be modified in place
        out = fn(target, inplace=True)
        assert out.data_ptr() == target.data_ptr()
        torch.testing.assert_close(target, out)
        (out * randn(shape, seed + 1)).sum().backward()
        results.append((out.detach(), x.grad))
    torch.testing.assert_close(results[0], results[1])


@pytest.mark.parametrize("name", INPLACE)
def test_out_of_place_call_leaves_the_input_unchanged(name):
    """``inplace=False`` (the default) must not touch the input."""
    x = randn((4, 5), 0)
    before = x.clone()
    INPLACE[name][0](x, inplace=False)
    assert torch.equal(x, before)


@pytest.mark.parametrize("name", ["ReLU", "LeakyReLU", "SiLU"])
def test_inplace_repr_equals_torch(name):
    ours, theirs = (cls(inplace=True) for cls in (getattr(scratchnn, name), getattr(nn, name)))
    assert repr(ours) == repr(theirs)
