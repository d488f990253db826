"""The study's models: the contract's architectures, identical twins under the same seed."""

import pytest
import torch

from scratchnn.models import CNN, MLP, ResNet, build_model


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


def _twins(seed: int = 0, **kwargs) -> tuple[ResNet, ResNet]:
    torch.manual_seed(seed)
    ours = ResNet("scratch", **kwargs)
    torch.manual_seed(seed)
    return ours, ResNet("torch", **kwargs)


def test_resnet_parameter_count_shape_and_buffers():
    for impl in ("scratch", "torch"):
        model = ResNet(impl)
        # stem 176, blocks 4,960 + 14,528 + 57,728 (each with a 1x1 shortcut), head 650
        assert sum(p.numel() for p in model.parameters()) == 78_042
        assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
        running = [name for name, _ in model.named_buffers() if name.endswith("running_mean")]
        assert len(running) == 10  # stem, 3 blocks x 2, 3 downsampling shortcuts
    cifar_layout = ResNet(widths=(8, 16, 32), blocks=3, strides=(1, 2, 2))  # ResNet-20, narrower
    assert sum(p.numel() for p in cifar_layout.parameters()) == 68_642
    assert cifar_layout(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_resnet_twins_start_identical_and_agree_in_train_and_eval_mode():
    ours, theirs = _twins(3)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for a, b in zip(ours.state_dict().values(), theirs.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    x = torch.randn(8, 1, 28, 28)
    torch.testing.assert_close(ours(x), theirs(x))  # train mode: batch statistics, running stats updated
    for a, b in zip(ours.buffers(), theirs.buffers(), strict=True):
        torch.testing.assert_close(a, b)
    ours.eval(), theirs.eval()
    torch.testing.assert_close(ours(x), theirs(x))  # eval mode: the running statistics


def test_resnet_one_training_step_matches_torch():
    ours, theirs = _twins(5, widths=(4, 8, 8))
    x, y = torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))
    for model in (ours, theirs):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    for (name, a), b in zip(ours.state_dict().items(), theirs.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=lambda m, name=name: f"{name}: {m}")
    assert ours.state_dict()["stem.1.num_batches_tracked"] == 1


def test_scratch_resnet_computes_only_with_scratchnn_layers():
    for module in ResNet("scratch").modules():
        kind = type(module)
        assert kind.__module__.startswith("scratchnn") or kind is torch.nn.Sequential, kind
    torch_layers = {type(m).__name__ for m in ResNet("torch").modules()}
    assert {"Conv2d", "BatchNorm2d", "ReLU", "Linear"} <= torch_layers


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"widths": (8, 16)}, "widths must be three positive integers"),
        ({"strides": (2, 0, 2)}, "strides must be three positive integers"),
        ({"blocks": 0}, "blocks must be a positive"),
    ],
)
def test_bad_resnet_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ResNet(**kwargs)
