"""The seed project's two models, each buildable from scratchnn layers or from torch.nn layers.

Both take ``(N, 1, 28, 28)`` images and return ``(N, 10)`` logits. The layers are constructed in the same order
with the same shapes in both implementations, so under the same ``torch.manual_seed`` the scratch model and its
torch.nn twin start from identical weights, and their ``state_dict``s are interchangeable. The scratch layers apply
the activation themselves (their ``activation`` argument); the torch.nn models apply an activation module.

CNN (11,146 parameters)::

    (N, 1, 28, 28) -conv 3x3, pad 2-> (N, 8, 30, 30) -relu, maxpool 2-> (N, 8, 15, 15)
                   -conv 5x5, pad 2-> (N, 16, 15, 15) -relu, maxpool 2-> (N, 16, 7, 7) -flatten-> (N, 784)
                   -linear-> (N, 10)

MLP (12,730 parameters)::

    (N, 1, 28, 28) -flatten-> (N, 784) -linear, relu-> (N, 16) -linear-> (N, 10)
"""

from __future__ import annotations

from torch import Tensor, nn

from .. import layers
from ..reference import TORCH_ACTIVATIONS
from ._check import check_arguments


class CNN(nn.Module):
    """Two conv + max-pool stages and a linear classifier (the seed project's CNN).

    Args:
        impl (str): ``'scratch'`` (scratchnn layers; the convs apply the activation through their ``activation``
            argument, as the seed did) or ``'torch'`` (torch.nn layers and activation modules). Default: scratch.
        activation (str): ``'relu'``, ``'leaky_relu'``, ``'sigmoid'``, ``'tanh'``, ``'silu'`` or ``'square'``.
    """

    def __init__(self, impl: str = "scratch", activation: str = "relu") -> None:
        super().__init__()
        check_arguments(impl, activation)
        self.impl, self.activation = impl, activation
        if impl == "scratch":
            self.conv1 = layers.Conv2d(1, 8, 3, padding=2, activation=activation)
            self.conv2 = layers.Conv2d(8, 16, 5, padding=2, activation=activation)
            self.fc = layers.Linear(16 * 7 * 7, 10)
            self.pool, self.act = layers.MaxPool2d(2), nn.Identity()  # the convs apply the activation
        else:
            self.conv1 = nn.Conv2d(1, 8, 3, padding=2)
            self.conv2 = nn.Conv2d(8, 16, 5, padding=2)
            self.fc = nn.Linear(16 * 7 * 7, 10)
            self.pool, self.act = nn.MaxPool2d(2), TORCH_ACTIVATIONS[activation]()

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool(self.act(self.conv1(x)))  # (N, 8, 15, 15)
        x = self.pool(self.act(self.conv2(x)))  # (N, 16, 7, 7)
        return self.fc(x.flatten(1))  # (N, 10)

    def features(self, x: Tensor) -> list[Tensor]:
        """The activations after each conv: ``[(N, 8, 30, 30), (N, 16, 15, 15)]``, for plotting feature maps."""
        first = self.act(self.conv1(x))
        return [first, self.act(self.conv2(self.pool(first)))]


class MLP(nn.Module):
    """A 784-16-10 perceptron (the seed project's MLP). Args as :class:`CNN`."""

    def __init__(self, impl: str = "scratch", activation: str = "relu") -> None:
        super().__init__()
        check_arguments(impl, activation)
        self.impl, self.activation = impl, activation
        if impl == "scratch":
            self.fc1 = layers.Linear(28 * 28, 16, activation=activation)
            self.fc2 = layers.Linear(16, 10)
            self.act = nn.Identity()  # fc1 applies the activation
        else:
            self.fc1 = nn.Linear(28 * 28, 16)
            self.fc2 = nn.Linear(16, 10)
            self.act = TORCH_ACTIVATIONS[activation]()

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x.flatten(1))))  # (N, 784) -> (N, 16) -> (N, 10)
