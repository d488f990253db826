"""A small residual network with batch norm (ResNet-8 style), buildable from scratchnn layers or from torch.nn.

The CIFAR ResNets of He et al. (2016) scaled to 28×28 grey images and to a CPU budget: a 3×3 stem at full
resolution, three stages of basic blocks at 14×14, 7×7 and 4×4 (each stage halves the size with a stride-2 first
convolution and, after the first, doubles the channels), global average pooling and a linear classifier. A basic
block computes ``act(bn2(conv2(act(bn1(conv1(x))))) + shortcut(x))``; the shortcut is the identity where shapes
agree, else a 1×1 convolution with the block's stride and a batch norm (option B of the paper). Convolutions before
a batch norm have no bias (the norm's shift replaces it). With the defaults (``widths=(16, 32, 64)``,
``blocks=1``, ``strides=(2, 2, 2)``) it has 8 weight layers on the main path (stem, 3 blocks of 2, the classifier)
and 78,042 parameters::

    (N, 1, 28, 28) -stem conv 3x3, bn, relu-> (N, 16, 28, 28) -block, stride 2-> (N, 16, 14, 14)
                   -block, stride 2-> (N, 32, 7, 7) -block, stride 2-> (N, 64, 4, 4)
                   -adaptive avg pool 1-> (N, 64, 1, 1) -flatten-> (N, 64) -linear-> (N, 10)

Downsampling in the first stage keeps a training step about four times cheaper than the CIFAR layout
(``strides=(1, 2, 2)``, stages at 28×28, 14×14, 7×7) at the same width.

``impl='scratch'`` builds it from :mod:`scratchnn.layers` only (``nn.Sequential`` and ``nn.Module`` are used as
containers, never for computation); ``impl='torch'`` from the torch.nn classes of the same names. Both construct
the same layers in the same order, so under the same ``torch.manual_seed`` they draw identical weights, and their
``state_dict``s (parameters and the batch norms' running statistics) have the same keys.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from .. import layers
from ..reference import TORCH_ACTIVATIONS
from ._check import check_arguments


@dataclass(frozen=True)
class _Kit:
    """The layer classes one implementation builds the network from."""

    conv: type[nn.Module]
    norm: type[nn.Module]
    act: type[nn.Module]
    pool: type[nn.Module]
    flatten: type[nn.Module]
    linear: type[nn.Module]


def _kit(impl: str, activation: str) -> _Kit:
    if impl == "scratch":
        act = layers.ACTIVATIONS[activation]
        return _Kit(layers.Conv2d, layers.BatchNorm2d, act, layers.AdaptiveAvgPool2d, layers.Flatten, layers.Linear)
    act = TORCH_ACTIVATIONS[activation]
    return _Kit(nn.Conv2d, nn.BatchNorm2d, act, nn.AdaptiveAvgPool2d, nn.Flatten, nn.Linear)


class BasicBlock(nn.Module):
    """Two 3×3 conv + batch norm layers and a shortcut: ``act(bn2(conv2(act(bn1(conv1(x))))) + shortcut(x))``.

    Shape: ``(N, in_channels, H, W)`` -> ``(N, out_channels, ceil(H / stride), ceil(W / stride))``.
    """

    def __init__(self, kit: _Kit, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = kit.conv(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = kit.norm(out_channels)
        self.act1 = kit.act()
        self.conv2 = kit.conv(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = kit.norm(out_channels)
        self.shortcut = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                kit.conv(in_channels, out_channels, 1, stride=stride, bias=False), kit.norm(out_channels)
            )
        self.act2 = kit.act()

    def forward(self, x: Tensor) -> Tensor:
        out = self.act1(self.bn1(self.conv1(x)))  # (N, out, H / stride, W / stride)
        out = self.bn2(self.conv2(out))
        return self.act2(out + (x if self.shortcut is None else self.shortcut(x)))


class ResNet(nn.Module):
    """A ResNet-8 style network for ``(N, 1, 28, 28)`` images: stem, three stages of basic blocks, linear head.

    Args:
        impl (str): ``'scratch'`` (scratchnn layers) or ``'torch'`` (torch.nn layers). Default: ``'scratch'``.
        activation (str): the activation after every batch norm and residual sum, one of the names of
            :data:`scratchnn.layers.ACTIVATIONS`. Default: ``'relu'``.
        widths (tuple of 3 ints): the channels of the three stages. Default: ``(16, 32, 64)``.
        blocks (int): basic blocks per stage (1: ResNet-8; 3: ResNet-20). Default: ``1``.
        strides (tuple of 3 ints): the stride of each stage's first block. Default: ``(2, 2, 2)``.

    Shape: ``(N, 1, 28, 28)`` -> ``(N, 10)`` logits.
    """

    def __init__(
        self,
        impl: str = "scratch",
        activation: str = "relu",
        *,
        widths: tuple[int, int, int] = (16, 32, 64),
        blocks: int = 1,
        strides: tuple[int, int, int] = (2, 2, 2),
    ) -> None:
        super().__init__()
        check_arguments(impl, activation)
        if len(widths) != 3 or any(not isinstance(w, int) or w < 1 for w in widths):
            raise ValueError(f"widths must be three positive integers, but got widths={widths!r}")
        if len(strides) != 3 or any(not isinstance(s, int) or s < 1 for s in strides):
            raise ValueError(f"strides must be three positive integers, but got strides={strides!r}")
        if not isinstance(blocks, int) or blocks < 1:
            raise ValueError(f"blocks must be a positive integer, but got blocks={blocks!r}")
        self.impl, self.activation = impl, activation
        kit = _kit(impl, activation)
        self.stem = nn.Sequential(kit.conv(1, widths[0], 3, padding=1, bias=False), kit.norm(widths[0]), kit.act())
        stages, channels = [], widths[0]
        for i, width in enumerate(widths):
            stride = strides[i]
            stages.append(
                nn.Sequential(
                    *(
                        BasicBlock(kit, channels if b == 0 else width, width, stride if b == 0 else 1)
                        for b in range(blocks)
                    )
                )
            )
            channels = width
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(kit.pool(1), kit.flatten(), kit.linear(widths[-1], 10))

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)  # (N, w0, 28, 28)
        x = self.stages(x)  # (N, w2, 4, 4)
        return self.head(x)  # (N, 10)
