"""``Linear``: the drop-in twin of ``torch.nn.Linear``. The math and its backward live in
:mod:`scratchnn.functional.linear`."""

from __future__ import annotations

from torch import Tensor

from .. import functional as F
from ._activation_arg import callable_repr, resolve_activation
from ._layer import Layer, add_weight_and_bias, reset_weight_and_bias


class Linear(Layer):
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
        super().__init__(backward=backward)
        self.in_features, self.out_features = in_features, out_features
        factory = {"device": device, "dtype": dtype}
        add_weight_and_bias(self, (out_features, in_features), out_features if bias else None, factory)
        self.activation = resolve_activation(activation)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The one place of initialisation: the same random calls, in the same order, as ``torch.nn.Linear``."""
        reset_weight_and_bias(self.weight, self.bias)

    def forward(self, input: Tensor) -> Tensor:
        out = F.linear(input, self.weight, self.bias, backward=self.backward)
        return out if self.activation is None else self.activation(out)

    def extra_repr(self) -> str:
        s = f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
        return s + callable_repr(self.activation)
