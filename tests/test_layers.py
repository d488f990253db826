"""The layers as drop-in twins of torch.nn: initialisation, state_dict, repr, the activation argument, the
from-scratch default path, per-sample independence and the backward switch."""

import pytest
import torch
import torch.nn.functional as TF
from torch import nn

import scratchnn
from hand_written import LAYERS, SWITCHED
from scratchnn import autograd as SA
from scratchnn import functional as SF
from strategies import BACKWARDS, randn
from twin_checks import AtenLog, forbid

# (class name, positional args, keyword args): the configurations of the parameterised layers
PARAMETERISED = [
    ("Conv2d", (1, 8, 3), {"padding": 2}),
    ("Conv2d", (8, 16, 5), {"padding": 2}),
    ("Conv2d", (4, 6, (3, 2)), {"groups": 2}),
    ("Conv2d", (4, 4, 3), {"groups": 4, "bias": False}),
    ("Conv2d", (3, 5, 1), {"bias": False, "padding_mode": "reflect"}),
    ("Conv2d", (2, 3, 2), {"dilation": 2, "padding": "same"}),
    ("Linear", (784, 10), {}),
    ("Linear", (16, 10), {"bias": False}),
    ("Linear", (1, 1), {}),
    ("Linear", (5, 3), {"dtype": torch.float64}),
]
PARAM_IDS = [f"{name}{args}{kwargs or ''}" for name, args, kwargs in PARAMETERISED]

# every layer and activation with the arguments its repr should show, torch's twin built from the same
REPRS = [
    *PARAMETERISED,
    ("Conv2d", (2, 4, 3), {"padding": "same", "padding_mode": "circular", "dilation": (1, 2)}),
    ("Conv2d", (2, 4, 3), {"padding": "valid"}),
    ("Conv2d", (2, 4, (1, 3)), {"stride": (2, 1), "padding": (0, 1)}),
    ("MaxPool2d", (2,), {}),
    ("MaxPool2d", ((3, 2),), {"stride": 1, "padding": 1, "dilation": 2, "ceil_mode": True}),
    ("MaxPool2d", (3, 2, 1), {"return_indices": True}),
    ("AvgPool2d", (2,), {}),
    ("AvgPool2d", (3, (2, 1), 1), {"ceil_mode": True, "count_include_pad": False, "divisor_override": 2}),
    ("ReLU", (), {}),
    ("ReLU", (True,), {}),
    ("LeakyReLU", (), {}),
    ("LeakyReLU", (0.2, True), {}),
    ("Sigmoid", (), {}),
    ("Tanh", (), {}),
    ("SiLU", (), {}),
    ("SiLU", (), {"inplace": True}),
]


def _input_for(layer: nn.Module, batch: int = 3) -> torch.Tensor:
    dtype = next(layer.parameters()).dtype
    if isinstance(layer, nn.Linear | scratchnn.Linear):
        return randn((batch, layer.in_features), 0, dtype)
    return randn((batch, layer.in_channels, 9, 8), 0, dtype)


# ------------------------------------------------------------------------------------ init and state_dict


@pytest.mark.parametrize(("name", "args", "kwargs"), PARAMETERISED, ids=PARAM_IDS)
def test_same_seed_draws_identical_parameters(name, args, kwargs):
    torch.manual_seed(1234)
    ours = getattr(scratchnn, name)(*args, **kwargs)
    after_ours = torch.rand(3)
    torch.manual_seed(1234)
    theirs = getattr(nn, name)(*args, **kwargs)
    after_theirs = torch.rand(3)
    ours_params, theirs_params = dict(ours.named_parameters()), dict(theirs.named_parameters())
    assert ours_params.keys() == theirs_params.keys()
    for key, param in theirs_params.items():
        assert ours_params[key].dtype == param.dtype
        assert torch.equal(ours_params[key], param), key
    assert torch.equal(after_ours, after_theirs), "construction consumed a different number of random draws"


@pytest.mark.parametrize(("name", "args", "kwargs"), PARAMETERISED, ids=PARAM_IDS)
def test_state_dict_loads_both_ways(name, args, kwargs):
    ours, theirs = getattr(scratchnn, name)(*args, **kwargs), getattr(nn, name)(*args, **kwargs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = _input_for(theirs)
    ours.load_state_dict(theirs.state_dict())
    torch.testing.assert_close(ours(x), theirs(x))
    fresh_ours, fresh_theirs = getattr(scratchnn, name)(*args, **kwargs), getattr(nn, name)(*args, **kwargs)
    fresh_theirs.load_state_dict(fresh_ours.state_dict())
    torch.testing.assert_close(fresh_ours(x), fresh_theirs(x))


@pytest.mark.parametrize("name", ["MaxPool2d", "AvgPool2d", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "SiLU"])
def test_parameterless_layers_have_empty_state_dicts(name):
    args = (2,) if "Pool" in name else ()
    assert getattr(scratchnn, name)(*args).state_dict() == getattr(nn, name)(*args).state_dict() == {}


@pytest.mark.parametrize(("name", "args", "kwargs"), REPRS, ids=[f"{n}{a}{k or ''}" for n, a, k in REPRS])
def test_repr_equals_torch(name, args, kwargs):
    assert repr(getattr(scratchnn, name)(*args, **kwargs)) == repr(getattr(nn, name)(*args, **kwargs))


# ------------------------------------------------------------------------------- the activation argument


def _python_tanh(x):
    return torch.tanh(x)


# id: (the activation argument, what it must equal when applied to the plain layer's output)
ACTIVATION_KINDS = {
    "None": (None, lambda y: y),
    "name-relu": ("relu", torch.relu),
    "name-leaky_relu": ("leaky_relu", TF.leaky_relu),
    "name-sigmoid": ("sigmoid", torch.sigmoid),
    "name-tanh": ("tanh", torch.tanh),
    "name-silu": ("silu", TF.silu),
    "name-square": ("square", torch.square),
    "scratchnn-module-instance": (scratchnn.LeakyReLU(0.2), lambda y: TF.leaky_relu(y, 0.2)),
    "torch-module-instance": (nn.ELU(), TF.elu),
    "scratchnn-module-class": (scratchnn.SiLU, TF.silu),
    "torch-module-class": (nn.Softplus, TF.softplus),
    "function-subclass": (SA.SquareFunction, torch.square),
    "builtin-callable": (torch.tanh, torch.tanh),
    "python-function": (_python_tanh, torch.tanh),
}


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize(("activation", "reference"), ACTIVATION_KINDS.values(), ids=ACTIVATION_KINDS.keys())
@pytest.mark.parametrize("name", ["Linear", "Conv2d"])
def test_activation_equals_applying_it_after_the_layer(name, activation, reference, backward):
    args = (6, 4) if name == "Linear" else (3, 4, 3)
    torch.manual_seed(0)
    fused = getattr(scratchnn, name)(*args, activation=activation, backward=backward)
    torch.manual_seed(0)
    plain = getattr(nn, name)(*args)
    x = _input_for(plain)
    x_fused, x_plain = x.clone().requires_grad_(), x.clone().requires_grad_()
    out = fused(x_fused)
    expected = reference(plain(x_plain))
    torch.testing.assert_close(out, expected)
    grad = randn(out.shape, 1)
    out.backward(grad)
    expected.backward(grad)
    torch.testing.assert_close(x_fused.grad, x_plain.grad)
    torch.testing.assert_close(fused.weight.grad, plain.weight.grad)


@pytest.mark.filterwarnings("ignore:.*should not be instantiated:DeprecationWarning")
@pytest.mark.parametrize(
    "make_wrong",
    [lambda: 42, lambda: 0.5, lambda: [torch.relu], SA.SquareFunction, lambda: int],
    ids=["int", "float", "list", "function-instance", "non-module-class"],
)
@pytest.mark.parametrize("name", ["Linear", "Conv2d"])
def test_activation_of_a_wrong_kind_is_a_type_error_listing_the_kinds(name, make_wrong):
    """Checked at construction; a Function *instance* is callable, but only fails once the layer runs."""
    args = (6, 4) if name == "Linear" else (3, 4, 3)
    wrong = make_wrong()
    with pytest.raises(TypeError) as error:
        getattr(scratchnn, name)(*args, activation=wrong)
    message = str(error.value)
    for kind in ("None", "name", "'relu'", "Module", "Function", "callable", repr(wrong)):
        assert kind in message, f"{kind!r} missing from {message!r}"


@pytest.mark.parametrize("name", ["Linear", "Conv2d"])
def test_unknown_activation_name_is_a_value_error_naming_it(name):
    args = (6, 4) if name == "Linear" else (3, 4, 3)
    with pytest.raises(ValueError, match=r"'rleu'.*'relu'"):
        getattr(scratchnn, name)(*args, activation="rleu")


def test_module_activation_is_a_registered_child():
    layer = scratchnn.Linear(3, 2, activation="relu")
    assert isinstance(dict(layer.named_children())["activation"], scratchnn.ReLU)
    assert list(layer.state_dict()) == ["weight", "bias"]


# ------------------------------------------------------------------------------- the from-scratch path

LIBRARY_OPS = {  # torch's own implementations of the layers; scratchnn must reach none of them
    torch.nn.functional: ["conv2d", "max_pool2d", "max_pool2d_with_indices", "avg_pool2d", "linear"],
    torch: ["conv2d", "convolution", "max_pool2d", "max_pool2d_with_indices", "avg_pool2d"],
    torch._C._nn: ["linear", "avg_pool2d", "max_pool2d_with_indices", "mkldnn_linear"],
}
ATEN_LAYER_OPS = ("convolution", "_convolution", "mkldnn_convolution", "max_pool2d", "avg_pool2d", "linear")


def _made_by(out: torch.Tensor, function: type) -> bool:
    return type(out.grad_fn).__name__ == f"{function.__name__}Backward"


@pytest.mark.parametrize("name", LAYERS)
def test_default_path_is_the_hand_written_function(name):
    build, shape, function = LAYERS[name]
    out = build(None)(randn(shape, 0).requires_grad_())
    assert _made_by(out, function), type(out.grad_fn).__name__


@pytest.mark.parametrize("backward", BACKWARDS)
def test_torch_layer_implementations_are_never_called(monkeypatch, backward):
    forbid(monkeypatch, LIBRARY_OPS, "scratchnn called one of torch's layer implementations")
    for build, shape, _ in LAYERS.values():
        x = randn(shape, 0).requires_grad_()
        build(backward)(x).sum().backward()
        assert x.grad is not None


@pytest.mark.parametrize("backward", BACKWARDS)
def test_no_aten_convolution_pooling_or_linear_kernel_runs(backward):
    """Below Python as well: no ATen convolution, pooling or linear kernel runs, in forward or backward."""
    with AtenLog() as log:
        for build, shape, _ in LAYERS.values():
            build(backward)(randn(shape, 0).requires_grad_()).sum().backward()
    assert log.ops, "the dispatch log recorded nothing"
    used = sorted(op for op in log.ops if any(op.startswith(layer_op) for layer_op in ATEN_LAYER_OPS))
    assert used == []


# ----------------------------------------------------------------------------------- sample independence

# name: (build(backward), the shape of one sample)
INDEPENDENT = {
    "Conv2d": (lambda b: scratchnn.Conv2d(3, 4, 3, padding=1, backward=b), (3, 7, 6)),
    "Conv2d-grouped-circular": (
        lambda b: scratchnn.Conv2d(4, 6, (3, 2), (2, 1), 2, groups=2, padding_mode="circular", backward=b),
        (4, 7, 6),
    ),
    "Linear": (lambda b: scratchnn.Linear(5, 4, backward=b), (5,)),
    "MaxPool2d": (lambda b: scratchnn.MaxPool2d(3, 2, 1, backward=b), (2, 7, 6)),
    "AvgPool2d": (lambda b: scratchnn.AvgPool2d(2, 1, 1, count_include_pad=False, backward=b), (2, 7, 6)),
}


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("name", INDEPENDENT)
def test_each_sample_is_independent_of_its_batch(name, backward):
    """Sample i's output in a batch of 5 is its output alone, and its gradient reaches only sample i."""
    build, sample_shape = INDEPENDENT[name]
    layer = build(backward)
    x = randn((5, *sample_shape), 0).requires_grad_()
    out = layer(x)
    for i in range(5):
        torch.testing.assert_close(out[i], layer(x[i : i + 1])[0])
    grad = torch.zeros_like(out)
    grad[2] = randn(out.shape[1:], 1)
    out.backward(grad)
    assert x.grad[2].abs().sum() > 0
    assert torch.count_nonzero(x.grad[[0, 1, 3, 4]]) == 0


# ------------------------------------------------------------------------------------ the backward switch


@pytest.fixture
def restore_backward():
    before = scratchnn.get_backward()
    yield
    scratchnn.set_backward(before)


def test_default_backward_is_manual():
    assert scratchnn.get_backward() == "manual"


@pytest.mark.parametrize("name", SWITCHED)
def test_global_switch_and_per_layer_override(name, restore_backward):
    build, shape, function = LAYERS[name]
    x = randn(shape, 0).requires_grad_()
    scratchnn.set_backward("autograd")
    assert scratchnn.get_backward() == "autograd"
    assert not _made_by(build(None)(x), function)  # follows the global switch
    assert _made_by(build("manual")(x), function)  # its own setting wins
    scratchnn.set_backward("manual")
    assert _made_by(build(None)(x), function)
    assert not _made_by(build("autograd")(x), function)
    layer = build(None)
    with scratchnn.use_backward("autograd"):  # read when the layer runs, not when it was built
        assert not _made_by(layer(x), function)
    assert _made_by(layer(x), function)


def test_functional_backward_argument_overrides_the_global_switch():
    x, weight = randn((1, 2, 5, 5), 0).requires_grad_(), randn((3, 2, 3, 3), 1)
    with scratchnn.use_backward("autograd"):
        assert _made_by(SF.conv2d(x, weight, backward="manual"), SF.Conv2dFunction)
        assert not _made_by(SF.conv2d(x, weight), SF.Conv2dFunction)
    assert not _made_by(SF.conv2d(x, weight, backward="autograd"), SF.Conv2dFunction)


def test_use_backward_restores_the_previous_setting():
    with scratchnn.use_backward("autograd"):
        with scratchnn.use_backward("manual"):
            assert scratchnn.get_backward() == "manual"
        assert scratchnn.get_backward() == "autograd"
    assert scratchnn.get_backward() == "manual"
    with pytest.raises(KeyError), scratchnn.use_backward("autograd"):
        raise KeyError("an error inside the block")
    assert scratchnn.get_backward() == "manual"


@pytest.mark.parametrize(
    "switch",
    [
        scratchnn.set_backward,
        lambda mode: scratchnn.use_backward(mode).__enter__(),
        lambda mode: scratchnn.Linear(2, 2, backward=mode),
        lambda mode: scratchnn.Conv2d(2, 2, 1, backward=mode),
        lambda mode: scratchnn.MaxPool2d(2, backward=mode),
        lambda mode: scratchnn.AvgPool2d(2, backward=mode),
        lambda mode: SF.linear(torch.ones(2), torch.ones(1, 2), backward=mode),
    ],
    ids=["set_backward", "use_backward", "Linear", "Conv2d", "MaxPool2d", "AvgPool2d", "functional"],
)
def test_unknown_backward_is_a_value_error_naming_it(switch, restore_backward):
    with pytest.raises(ValueError, match=r"backward.*'cuda'"):
        switch("cuda")
