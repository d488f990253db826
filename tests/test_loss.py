"""scratchnn.CrossEntropyLoss against torch.nn.CrossEntropyLoss over its whole option space, and its errors."""

import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import scratchnn
import scratchnn.functional as SF
from strategies import BACKWARDS, randn, seeds

SHAPES = [(5,), (4, 5), (2, 5, 3), (2, 5, 2, 3), (0, 5)]


@st.composite
def loss_cases(draw):
    """Constructor arguments, an input shape and the kind of target, every option combination possible."""
    probabilities = draw(st.booleans())
    kwargs = {
        "reduction": draw(st.sampled_from(["none", "sum", "mean"])),
        "label_smoothing": draw(st.sampled_from([0.0, 0.1, 0.5, 1.0])),
        "ignore_index": -100 if probabilities else draw(st.sampled_from([-100, 0, 2])),
    }
    return kwargs, draw(st.booleans()), draw(st.sampled_from(SHAPES)), probabilities


def make_target(shape, probabilities: bool, seed: int, classes: int = 5) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    if probabilities:
        return torch.rand(shape, generator=gen, dtype=torch.float64).softmax(1 if len(shape) > 1 else 0)
    return torch.randint(0, classes, (*shape[:1], *shape[2:]) if len(shape) > 1 else (), generator=gen)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("backward", BACKWARDS)
@settings(max_examples=40, deadline=None)
@given(case=loss_cases(), seed=seeds)
def test_losses_and_gradients_match_torch(backward, dtype, case, seed):
    kwargs, weighted, shape, probabilities = case
    weight = torch.rand(5, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(dtype) + 0.1
    weight = weight if weighted else None
    ours = scratchnn.CrossEntropyLoss(weight, **kwargs, backward=backward)
    theirs = nn.CrossEntropyLoss(weight, **kwargs)
    x = randn(shape, seed, dtype)
    target = make_target(shape, probabilities, seed + 1)
    target = target.to(dtype) if probabilities else target
    x_ours, x_theirs = (x.clone().requires_grad_() for _ in range(2))
    t_ours, t_theirs = (target.clone().requires_grad_(probabilities) for _ in range(2))
    out_ours, out_theirs = ours(x_ours, t_ours), theirs(x_theirs, t_theirs)
    torch.testing.assert_close(out_ours, out_theirs, equal_nan=True)  # NaN: an empty batch's or all-ignored mean
    grad = randn(out_theirs.shape, seed + 2, dtype)
    out_ours.backward(grad)
    out_theirs.backward(grad)
    torch.testing.assert_close(x_ours.grad, x_theirs.grad)
    if probabilities:
        torch.testing.assert_close(t_ours.grad, t_theirs.grad)


def test_hand_computed_example():
    """Logits (0, ln 3) against class 1: p = (1/4, 3/4), loss = -ln(3/4), dL/dz = p - onehot = (1/4, -1/4)."""
    z = torch.tensor([[0.0, torch.tensor(3.0).log().item()]], requires_grad=True)
    loss = SF.cross_entropy(z, torch.tensor([1]))
    torch.testing.assert_close(loss, -torch.tensor(0.75).log())
    loss.backward()
    torch.testing.assert_close(z.grad, torch.tensor([[0.25, -0.25]]))


def test_large_logits_do_not_overflow():
    z = torch.tensor([[1000.0, 0.0, -1000.0]], requires_grad=True)
    loss = SF.cross_entropy(z, torch.tensor([1]))
    torch.testing.assert_close(loss, torch.tensor(1000.0))
    loss.backward()
    assert torch.isfinite(z.grad).all()


def test_a_minus_infinity_logit_of_another_class_costs_nothing():
    z = torch.tensor([[0.0, float("-inf"), 0.0]], requires_grad=True)
    loss = SF.cross_entropy(z, torch.tensor([0]))
    torch.testing.assert_close(loss, nn.functional.cross_entropy(z, torch.tensor([0])))
    loss.backward()
    torch.testing.assert_close(z.grad, torch.tensor([[-0.5, 0.0, 0.5]]))


GRADCHECK_CASES = [  # (keyword arguments, probability targets); torch takes no ignore_index with probabilities
    ({}, False),
    ({}, True),
    ({"reduction": "sum", "label_smoothing": 0.2}, False),
    ({"reduction": "sum", "label_smoothing": 0.2}, True),
    ({"reduction": "none", "ignore_index": 1, "weight": "w"}, False),
    ({"reduction": "none", "weight": "w"}, True),
    ({"label_smoothing": 0.3, "ignore_index": 0, "weight": "w"}, False),
]


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize(("kwargs", "probabilities"), GRADCHECK_CASES, ids=str)
def test_gradcheck_and_gradgradcheck(kwargs, probabilities, backward):
    weight = torch.tensor([0.5, 1.0, 2.0, 1.5, 0.2], dtype=torch.float64)
    kwargs = {**kwargs, "weight": weight} if "weight" in kwargs else kwargs
    x = randn((3, 5, 2), 0, torch.float64).requires_grad_()
    target = make_target((3, 5, 2), probabilities, 1).requires_grad_(probabilities)

    def loss(x, target):
        return SF.cross_entropy(x, target, **kwargs, backward=backward)

    assert torch.autograd.gradcheck(loss, (x, target))
    assert torch.autograd.gradgradcheck(loss, (x, target))


def test_default_path_is_the_hand_written_function():
    out = scratchnn.CrossEntropyLoss()(randn((3, 4), 0).requires_grad_(), torch.tensor([0, 1, 3]))
    assert type(out.grad_fn).__name__ == "CrossEntropyFunctionBackward"


def test_weight_is_a_buffer_in_the_state_dict_as_in_torch():
    weight = torch.rand(4)
    ours, theirs = scratchnn.CrossEntropyLoss(weight), nn.CrossEntropyLoss(weight)
    assert ours.state_dict().keys() == theirs.state_dict().keys() == {"weight"}
    assert list(scratchnn.CrossEntropyLoss().state_dict()) == list(nn.CrossEntropyLoss().state_dict()) == []
    theirs.load_state_dict(ours.state_dict())


@pytest.mark.parametrize("legacy", [{"size_average": False}, {"reduce": False}, {"size_average": True}])
def test_deprecated_size_average_and_reduce_set_the_reduction_as_torch(legacy):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert scratchnn.CrossEntropyLoss(**legacy).reduction == nn.CrossEntropyLoss(**legacy).reduction


BAD = [  # input, target, kwargs, error, torch's words
    ((2, 3), [0, 5], {}, IndexError, "Target 5 is out of bounds."),
    ((2, 3), [0, -2], {"label_smoothing": 0.1}, IndexError, "Target -2 is out of bounds."),
    ((2, 3), [0, 1, 1], {}, ValueError, r"Expected input batch_size \(2\) to match target batch_size \(3\)."),
    ((2, 3), "float(2,4)", {}, RuntimeError, "0D or 1D target tensor expected, multi-target not supported"),
    ((2, 3, 4), "long(2,5)", {}, RuntimeError, r"Expected target size \[2, 4\], got \[2, 5\]"),
    ((2, 3), [0.0, 1.0], {}, RuntimeError, "expected target dtype to be Long or Byte, but got Float"),
    ((2, 3), "long(2,3)", {}, RuntimeError, "Expected floating point type for target with class probabilities"),
    ((2, 3), "float(2,3)", {"ignore_index": 1}, RuntimeError, "ignore_index is not supported for floating point"),
    ((2, 3), [0, 1], {"weight": torch.ones(4)}, RuntimeError, "weight tensor should be defined either for all 3"),
    ((2, 3), [0, 1], {"label_smoothing": 1.5}, RuntimeError, "label_smoothing must be between 0.0 and 1.0. Got: 1.5"),
    ((2, 3), [0, 1], {"reduction": "avg"}, ValueError, "avg is not a valid value for reduction"),
]


def _target(spec):
    if isinstance(spec, str):
        kind, shape = spec.split("(")
        shape = tuple(int(n) for n in shape.rstrip(")").split(","))
        return torch.zeros(shape, dtype=torch.long) if kind == "long" else torch.rand(shape)
    return torch.tensor(spec)


@pytest.mark.parametrize(("shape", "target", "kwargs", "error", "match"), BAD, ids=[b[-1][:30] for b in BAD])
def test_bad_inputs_raise_torchs_error(shape, target, kwargs, error, match):
    with pytest.raises(error, match=match):
        nn.CrossEntropyLoss(**kwargs)(torch.randn(shape), _target(target))
    with pytest.raises(error, match=match):
        scratchnn.CrossEntropyLoss(**kwargs)(torch.randn(shape), _target(target))


def test_integer_logits_are_not_implemented_as_in_torch():
    with pytest.raises(NotImplementedError, match="log_softmax"):
        scratchnn.CrossEntropyLoss()(torch.ones(2, 3, dtype=torch.long), torch.tensor([0, 1]))


def test_byte_targets_are_class_indices_as_in_torch():
    x, target = randn((2, 3), 0), torch.tensor([0, 2], dtype=torch.uint8)
    torch.testing.assert_close(SF.cross_entropy(x, target), nn.functional.cross_entropy(x, target))


@pytest.mark.parametrize("kwargs", [{}, {"reduction": "sum", "label_smoothing": 0.1}, {"ignore_index": 3}])
def test_repr_equals_torch(kwargs):
    assert repr(scratchnn.CrossEntropyLoss(**kwargs)) == repr(nn.CrossEntropyLoss(**kwargs))
