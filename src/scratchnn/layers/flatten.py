"""``Flatten``: the drop-in twin of ``torch.nn.Flatten``.

Flattening merges the dims ``start_dim..end_dim`` into one: ``(N, C, H, W) -> (N, C*H*W)`` with the defaults.
Element ``[n, c, h, w]`` moves to ``[n, (c*H + h)*W + w]``, the position it already has in memory when the input
is contiguous, so the result is a view (a copy only when the strides do not allow one, as ``Tensor.reshape``).

Backward. A reshape moves values without changing them, so the gradient is the output's gradient moved back:
``dL/dx = g.reshape(x.shape)``, ``(N, C*H*W) -> (N, C, H, W)``. The result is a view of the input, and autograd
records views as views (an in-place change to one is seen through the other), so the layer does not wrap the
reshape in a Function of its own: a Function's output would be a fresh tensor, not the view torch returns.
"""

from __future__ import annotations

from torch import Tensor, nn


class Flatten(nn.Module):
    r"""Flattens the dims ``start_dim`` to ``end_dim`` (inclusive) of the input into one.

    Args:
        start_dim (int): first dim to flatten. Default: 1.
        end_dim (int): last dim to flatten. Default: -1.

    Shape:
        - Input: ``(*, S_start, ..., S_end, *)``.
        - Output: ``(*, S_start * ... * S_end, *)``.

    Examples::

        >>> scratchnn.Flatten()(torch.randn(32, 1, 5, 5)).shape
        torch.Size([32, 25])
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: Tensor) -> Tensor:
        return input.flatten(self.start_dim, self.end_dim)  # (*, S_start*...*S_end, *)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
