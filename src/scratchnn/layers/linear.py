"""``Linear``: the drop-in twin of ``torch.nn.Linear``. The math and its backward live in
:mod:`scratchnn.functional.linear`."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import init

from .. import functional as F
from ..functional._mode import resolve_backward
from ._activation_arg import callable_repr, resolve_activation


class Linear(nn.Module):
    r"""Applies ``y = x @ W^T + b``, then the optional activation.

    Args:
        in_features (int): size of each input sample.
        out_features (int): size of each output sample.
        bias (bool): learn an additive bias. Default: ``True``.
        activation: applied to the output; ``None``, a name such as ``'relu'``, a module instance or class, an
            autograd Function subclass or a callable. Default: ``None``. A module is registered as the child
            ``activation``: one with parameters (``nn.PReLU``) adds them to the ``state_dict``, which then no
            longer loads into ``torch.nn.Linear``.
        backward (str, optional): ``'manual'`` (hand-written) or ``'autograd'``; ``None`` follows
            :func:`scratchnn.get_backward`. Default: ``None``.

    Shape:
        - Input: ``(*, H_in)`` with ``H_in = in_features``; ``*`` is any number of dims, including none.
        - Output: ``(*, H_out)`` with ``H_out = out_features``.

    Attributes:
        weight: ``(out_features, in_features)``, initialised from ``U(-1/sqrt(in_features), 1/sqrt(in_features))``
            exactly as torch does (``kaiming_uniform_`` with ``a = sqrt(5)``), so the same seed draws the same values.
        bias: ``(out_features,)`` from the same distribution.

    Examples::

        >>> m = scratchnn.Linear(20, 30)
        >>> m(torch.randn(128, 20)).shape
        torch.Size([128, 30])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        activation=None,
        device=None,
        dtype=None,
        backward: str | None = None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty((out_features, in_features), **factory))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features, **factory))
        else:
            self.register_parameter("bias", None)
        self.activation = resolve_activation(activation)
        self.backward = backward if backward is None else resolve_backward(backward)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The one place of initialisation: the same random calls, in the same order, as ``torch.nn.Linear``."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1]
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        out = F.linear(input, self.weight, self.bias, backward=self.backward)
        return out if self.activation is None else self.activation(out)

    def extra_repr(self) -> str:
        s = f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
        return s + callable_repr(self.activation)
