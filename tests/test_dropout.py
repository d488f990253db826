"""scratchnn.Dropout against torch.nn.Dropout: the same mask for the same seed, the backward's mask, train/eval."""

import pytest
import torch
from torch import nn

import scratchnn
import scratchnn.functional as SF
from strategies import BACKWARDS, randn

PROBABILITIES = [0.0, 0.1, 0.5, 0.9, 1.0]
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]


def seeded(module: nn.Module, x: torch.Tensor, seed: int = 0):
    """The module's output from ``seed``, and the next random number drawn after it (the generator's state)."""
    torch.manual_seed(seed)
    out = module(x)
    return out, torch.rand(1)


@pytest.mark.parametrize("shape", [(4, 7), (2, 3, 5, 5), (11,)])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", PROBABILITIES)
def test_same_seed_same_mask_and_same_generator_state_as_torch(p, dtype, shape):
    x = randn(shape, 1, dtype)
    ours, after_ours = seeded(scratchnn.Dropout(p), x)
    theirs, after_theirs = seeded(nn.Dropout(p), x)
    assert torch.equal(ours, theirs)  # bit for bit
    assert torch.equal(after_ours, after_theirs)  # the same number of draws


def test_channels_last_input_draws_torchs_mask_and_layout():
    x = randn((2, 3, 4, 5), 0).contiguous(memory_format=torch.channels_last)
    ours, _ = seeded(scratchnn.Dropout(0.3), x)
    theirs, _ = seeded(nn.Dropout(0.3), x)
    assert torch.equal(ours, theirs)
    assert ours.stride() == theirs.stride()


def test_survivors_are_scaled_and_the_drop_rate_is_p():
    x = torch.ones(100_000, dtype=torch.float64)
    out = scratchnn.Dropout(0.25)(x)
    assert set(out.unique().tolist()) == {0.0, 4 / 3}
    assert abs((out == 0).float().mean().item() - 0.25) < 0.01


@pytest.mark.parametrize("backward", BACKWARDS)
def test_eval_mode_is_the_identity_and_returns_the_input(backward):
    x = randn((3, 4), 0)
    layer = scratchnn.Dropout(0.5, backward=backward).eval()
    state = torch.get_rng_state()
    assert layer(x) is x
    assert torch.equal(torch.get_rng_state(), state)  # nothing drawn
    assert SF.dropout(x, 0.5, training=False) is x


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("p", [0.2, 0.7])
def test_backward_uses_the_forwards_mask_even_after_more_draws(p, backward):
    x_ours, x_theirs = (randn((6, 5), 2).requires_grad_() for _ in range(2))
    out_ours, _ = seeded(scratchnn.Dropout(p, backward=backward), x_ours)
    out_theirs, _ = seeded(nn.Dropout(p), x_theirs)
    torch.rand(100)  # the generator moves on before the backward runs
    grad = randn((6, 5), 3)
    out_ours.backward(grad)
    out_theirs.backward(grad)
    assert torch.equal(x_ours.grad, x_theirs.grad)
    torch.testing.assert_close(x_ours.grad, grad * (out_ours.detach() != 0) / (1 - p))


def test_default_path_is_the_hand_written_function():
    out = scratchnn.Dropout(0.5)(randn((3, 3), 0).requires_grad_())
    assert type(out.grad_fn).__name__ == "DropoutFunctionBackward"


@pytest.mark.parametrize("backward", BACKWARDS)
def test_inplace_writes_the_input_and_backpropagates_as_torch(backward):
    leaf_ours, leaf_theirs = (randn((4, 6), 4).requires_grad_() for _ in range(2))
    h_ours, h_theirs = leaf_ours * 2, leaf_theirs * 2
    out_ours, _ = seeded(scratchnn.Dropout(0.4, inplace=True, backward=backward), h_ours)
    out_theirs, _ = seeded(nn.Dropout(0.4, inplace=True), h_theirs)
    assert out_ours is h_ours and out_theirs is h_theirs
    assert torch.equal(out_ours, out_theirs)
    out_ours.sum().backward()
    out_theirs.sum().backward()
    assert torch.equal(leaf_ours.grad, leaf_theirs.grad)


def test_inplace_on_a_leaf_that_requires_grad_raises_as_torch():
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        nn.Dropout(0.5, inplace=True)(torch.ones(3, requires_grad=True))
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        scratchnn.Dropout(0.5, inplace=True)(torch.ones(3, requires_grad=True))


@pytest.mark.parametrize("backward", BACKWARDS)
def test_gradcheck_and_gradgradcheck_with_the_mask_fixed_by_the_seed(backward):
    x = randn((3, 4), 0, torch.float64).requires_grad_()

    def drop(x):
        torch.manual_seed(5)  # every evaluation draws the same mask
        return SF.dropout(x, 0.3, backward=backward)

    assert torch.autograd.gradcheck(drop, (x,))
    assert torch.autograd.gradgradcheck(drop, (x,))


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_probability_outside_0_1_is_torchs_value_error(p):
    message = f"dropout probability has to be between 0 and 1, but got {p}"
    for make in (nn.Dropout, scratchnn.Dropout):
        with pytest.raises(ValueError, match=message):
            make(p)
    with pytest.raises(ValueError, match=message):
        SF.dropout(torch.ones(2), p)


def test_non_tensor_input_is_a_type_error():
    with pytest.raises(TypeError, match="argument 'input'"):
        SF.dropout([1.0, 2.0])


@pytest.mark.parametrize("args", [(), (0.2,), (0.3, True)])
def test_repr_equals_torch(args):
    assert repr(scratchnn.Dropout(*args)) == repr(nn.Dropout(*args))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.cuda
def test_cuda_drop_rate_scale_and_backward_mask():
    x = torch.ones(200_000, device="cuda", requires_grad=True)
    out = scratchnn.Dropout(0.3)(x)
    assert abs((out == 0).float().mean().item() - 0.3) < 0.01
    out.backward(torch.ones_like(out))
    assert torch.equal(x.grad, out.detach())  # gradient of a kept element is 1/(1-p), like its output
