"""The study's models: the contract's architectures, identical twins under the same seed."""

import pytest
import torch

from scratchnn.models import CNN, MLP, build_model


@pytest.mark.parametrize(("cls", "params"), [(CNN, 11_146), (MLP, 12_730)])
@pytest.mark.parametrize("impl", ["scratch", "torch"])
def test_parameter_count_and_output_shape(cls, params, impl):
    model = cls(impl)
    assert sum(p.numel() for p in model.parameters()) == params
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)


@pytest.mark.parametrize("cls", [CNN, MLP])
@pytest.mark.parametrize("activation", ["relu", "tanh", "square"])
def test_same_seed_gives_identical_twins(cls, activation):
    torch.manual_seed(7)
    ours = cls("scratch", activation)
    torch.manual_seed(7)
    theirs = cls("torch", activation)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for a, b in zip(ours.state_dict().values(), theirs.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    x = torch.randn(5, 1, 28, 28)
    torch.testing.assert_close(ours(x), theirs(x))
    theirs.load_state_dict(ours.state_dict())


def test_scratch_cnn_uses_the_layers_activation_argument():
    model = CNN("scratch", "tanh")
    assert type(model.conv1.activation).__name__ == "Tanh"
    assert type(model.conv1.activation).__module__.startswith("scratchnn")
    assert type(CNN("scratch").conv1).__module__.startswith("scratchnn")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "rnn"}, "model must be one of"),
        ({"name": "cnn", "impl": "jax"}, "impl must be one of"),
        ({"name": "mlp", "activation": "gelu"}, "activation must be one of"),
    ],
)
def test_bad_model_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_model(**kwargs)
