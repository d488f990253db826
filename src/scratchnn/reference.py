"""torch.nn references for what torch.nn lacks, differentiated by autograd (used by the harness and models)."""

import torch
from torch import nn


class TorchSquare(nn.Module):
    """Reference for :class:`scratchnn.Square`: ``x * x`` with autograd's derivative."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return torch.square(input)


TORCH_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
    "square": TorchSquare,
}
