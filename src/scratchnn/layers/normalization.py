"""``BatchNorm1d``, ``BatchNorm2d``, ``LayerNorm`` and ``GroupNorm``: drop-in twins of their torch.nn namesakes.

Same arguments, parameters (``weight`` = gamma, ones; ``bias`` = beta, zeros) and buffers (``running_mean`` zeros,
``running_var`` ones, ``num_batches_tracked``) as torch.nn, so ``state_dict``s load both ways. What each layer
normalises over, and the backward, are explained in :mod:`scratchnn.functional.normalization`.
"""

from __future__ import annotations

import numbers

import torch
from torch import Tensor, nn
from torch.nn import init

from .. import functional as F
from ._layer import Layer


class _Normalization(Layer):
    """What the normalisation layers share: the optional affine ``weight`` (gamma, ones) and ``bias`` (beta, zeros),
    registered in torch's order, and their part of the ``repr``."""

    def _add_affine(self, enabled: bool, bias: bool, shape, device, dtype) -> None:
        factory = {"device": device, "dtype": dtype}
        self.register_parameter("weight", nn.Parameter(torch.empty(shape, **factory)) if enabled else None)
        self.register_parameter("bias", nn.Parameter(torch.empty(shape, **factory)) if enabled and bias else None)

    def reset_parameters(self) -> None:
        """The one place of initialisation: ``gamma = 1``, ``beta = 0``, as torch."""
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def _affine_repr(self, name: str, enabled: bool) -> str:
        return f"{name}={enabled}, bias={self.bias is not None}"


class _BatchNorm(_Normalization):
    r"""Normalise each channel over the batch (and space) in training; with running statistics in eval.

    ``y = (x - E[x]) / sqrt(Var[x] + eps) * gamma + beta`` per channel. In training ``E`` and ``Var`` (biased) are
    the batch's; ``running_mean``/``running_var`` follow them as ``running = (1 - momentum) * running + momentum *
    batch`` (the variance unbiased), or as their cumulative average when ``momentum=None``. In eval mode the running
    statistics normalise; without them (``track_running_stats=False``) the batch's are used in both modes.

    Args:
        num_features (int): ``C``, the number of channels.
        eps (float): added to the variance. Default: ``1e-5``.
        momentum (float or None): weight of the batch in the running statistics; ``None``: cumulative average.
            Default: ``0.1``.
        affine (bool): learn ``gamma`` (``weight``) and ``beta`` (``bias``). Default: ``True``.
        track_running_stats (bool): keep ``running_mean``, ``running_var`` and ``num_batches_tracked``.
            Default: ``True``.
        bias (bool, keyword-only): learn ``beta`` (when ``affine``). Default: ``True``.
        backward (str, optional): ``'manual'`` or ``'autograd'``; ``None`` follows the global default.
    """

    _version = 2

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device=None,
        dtype=None,
        *,
        bias: bool = True,  # scratchnn's own, as LayerNorm's: False keeps gamma without beta
        backward: str | None = None,
    ) -> None:
        super().__init__(backward=backward)
        factory = {"device": device, "dtype": dtype}
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self._add_affine(affine, bias, num_features, device, dtype)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, **factory))
            self.register_buffer("running_var", torch.ones(num_features, **factory))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """The one place of initialisation: running statistics reset, ``gamma = 1``, ``beta = 0``, as torch."""
        self.reset_running_stats()
        super().reset_parameters()

    def _check_input_dim(self, input: Tensor) -> None:
        raise NotImplementedError

    def _momentum(self) -> float | Tensor:
        """The batch's weight in the running statistics; counts the batch. For ``momentum=None`` a 0-dim tensor
        ``1 / num_batches_tracked`` (the cumulative average), never read into Python: compile and export keep it."""
        self.num_batches_tracked.add_(1)
        if self.momentum is None:
            return self.num_batches_tracked.to(self.running_mean.dtype).reciprocal()
        return self.momentum

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        tracking = self.training and self.track_running_stats
        momentum = self._momentum() if tracking else (0.0 if self.momentum is None else self.momentum)
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        stats = (self.running_mean, self.running_var) if not self.training or tracking else (None, None)
        return F.batch_norm(
            input, *stats, self.weight, self.bias, use_batch, momentum, self.eps, backward=self.backward
        )

    def extra_repr(self) -> str:
        affine, tracks = self._affine_repr("affine", self.affine), self.track_running_stats
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, {affine}, track_running_stats={tracks}"

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, *args) -> None:
        """A state_dict saved before ``num_batches_tracked`` existed (version < 2) loads with the count at 0."""
        key = prefix + "num_batches_tracked"
        version = local_metadata.get("version", None)
        if (version is None or version < 2) and self.track_running_stats and key not in state_dict:
            state_dict[key] = torch.tensor(0, dtype=torch.long)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, *args)


class BatchNorm1d(_BatchNorm):
    r"""Batch normalisation of ``(N, C)`` or ``(N, C, L)`` inputs; statistics per channel over ``N`` (and ``L``).

    Shape:
        - Input: ``(N, C)`` or ``(N, C, L)``. Output: the same.

    Examples::

        >>> scratchnn.BatchNorm1d(100)(torch.randn(20, 100)).shape
        torch.Size([20, 100])
    """

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() != 2 and input.dim() != 3:
            raise ValueError(f"expected 2D or 3D input (got {input.dim()}D input)")


class BatchNorm2d(_BatchNorm):
    r"""Batch normalisation of ``(N, C, H, W)`` inputs; statistics per channel over ``N``, ``H`` and ``W``.

    Shape:
        - Input: ``(N, C, H, W)``. Output: the same.

    Examples::

        >>> scratchnn.BatchNorm2d(16)(torch.randn(8, 16, 5, 5)).shape
        torch.Size([8, 16, 5, 5])
    """

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() != 4:
            raise ValueError(f"expected 4D input (got {input.dim()}D input)")


class LayerNorm(_Normalization):
    r"""Normalise each sample over its last ``len(normalized_shape)`` dims; the same in training and eval.

    Args:
        normalized_shape (int or tuple): the trailing dims ``(D1, .., Dk)`` to normalise over.
        eps (float): added to the variance. Default: ``1e-5``.
        elementwise_affine (bool): learn ``gamma`` and ``beta`` of shape ``normalized_shape``. Default: ``True``.
        bias (bool): learn ``beta`` (when ``elementwise_affine``). Default: ``True``.
        backward (str, optional, keyword-only): ``'manual'`` or ``'autograd'``; ``None``: the global default.

    Shape:
        - Input: ``(*, D1, .., Dk)``. Output: the same.

    Examples::

        >>> scratchnn.LayerNorm(10)(torch.randn(20, 5, 10)).shape
        torch.Size([20, 5, 10])
    """

    def __init__(
        self,
        normalized_shape,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device=None,
        dtype=None,
        *,
        backward: str | None = None,
    ) -> None:
        super().__init__(backward=backward)
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        self._add_affine(elementwise_affine, bias, self.normalized_shape, device, dtype)
        self.reset_parameters()

    def forward(self, input: Tensor) -> Tensor:
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps, backward=self.backward)

    def extra_repr(self) -> str:
        affine = self._affine_repr("elementwise_affine", self.elementwise_affine)
        return f"{self.normalized_shape}, eps={self.eps}, {affine}"


class GroupNorm(_Normalization):
    r"""Normalise each sample's group of ``num_channels / num_groups`` channels (and space); the same in training
    and eval.

    Args:
        num_groups (int): ``G``, the number of groups the channels are split into.
        num_channels (int): ``C``, divisible by ``G``.
        eps (float): added to the variance. Default: ``1e-5``.
        affine (bool): learn per-channel ``gamma`` and ``beta``. Default: ``True``.
        bias (bool, keyword-only): learn ``beta`` (when ``affine``). Default: ``True``.
        backward (str, optional, keyword-only): ``'manual'`` or ``'autograd'``; ``None``: the global default.

    Shape:
        - Input: ``(N, C, *)``. Output: the same.

    Examples::

        >>> scratchnn.GroupNorm(3, 6)(torch.randn(20, 6, 10, 10)).shape
        torch.Size([20, 6, 10, 10])
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        device=None,
        dtype=None,
        *,
        bias: bool = True,
        backward: str | None = None,
    ) -> None:
        if num_channels % num_groups != 0:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        super().__init__(backward=backward)
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        self._add_affine(affine, bias, num_channels, device, dtype)
        self.reset_parameters()

    def forward(self, input: Tensor) -> Tensor:
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps, backward=self.backward)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, {self._affine_repr('affine', self.affine)}"
