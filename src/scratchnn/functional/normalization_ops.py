"""``batch_norm``, ``layer_norm`` and ``group_norm`` with the signatures of their ``torch.nn.functional`` namesakes.

Each one arranges its input so that one computation serves all three (the reduction axes and the derivation are in
:mod:`.normalization`): batch norm reduces over every dim but the channels, layer norm over the last
``len(normalized_shape)`` dims, group norm over the channels of a group and space after splitting ``C`` into
``(G, C/G)`` (a view: ``unflatten``, so a channels_last input stays channels_last). Inputs are checked first, with
torch's exception types and wording. float16 and bfloat16 inputs are normalised in float32 and the result is cast
back, as torch's kernels accumulate in float32; float32 parameters may go with them, as in torch.

Batch norm in training updates ``running_mean`` and ``running_var`` in place (under ``no_grad``, as torch does, so
``torch.compile`` and ``torch.export`` record the buffer mutation): ``running = (1 - momentum) * running + momentum
* batch``, with the *unbiased* batch variance (``var * M / (M - 1)``, ``M`` values per channel) while the
normalisation itself uses the biased one. ``momentum`` may be a 0-dim tensor (``BatchNorm``'s cumulative average
passes ``1 / num_batches_tracked`` so, without reading the count into Python).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .._dtypes import check_tensor
from .._library import grad_format, memory_format
from ._mode import composite
from .normalization import FrozenNormFunction, NormalizeFunction, frozen_norm_forward, normalize_forward

REDUCED = (torch.float16, torch.bfloat16)
_TYPE_NAMES = {torch.int64: "Long", torch.int32: "Int", torch.int16: "Short", torch.int8: "Char"}


def _check_dtypes(kernel: str, input: Tensor, *others: Tensor | None) -> torch.dtype:
    """torch's dtype rules; returns the dtype to compute in (float32 for float16/bfloat16 inputs)."""
    if not input.is_floating_point():
        name = _TYPE_NAMES.get(input.dtype, str(input.dtype).removeprefix("torch.").capitalize())
        raise NotImplementedError(f'"{kernel}" not implemented for {name!r}')
    compute = torch.float32 if input.dtype in REDUCED else input.dtype
    for t in others:
        if t is not None and t.dtype != input.dtype and not (input.dtype in REDUCED and t.dtype == torch.float32):
            raise RuntimeError(
                f"mixed dtype ({input.device.type.upper()}): all inputs must share same datatype, but got input of "
                f"dtype {input.dtype} and a parameter of dtype {t.dtype}"
            )
    return compute


def _cast(dtype: torch.dtype, *tensors: Tensor | None) -> tuple[Tensor | None, ...]:
    return tuple(None if t is None else t.to(dtype) for t in tensors)


def _verify_batch_size(size: list[int]) -> None:
    if math.prod(size[2:], start=size[0]) == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {size}")


# ------------------------------------------------------------------------------------------------ batch norm


def _check_batch_norm(input: Tensor, stats: dict, training: bool, eps: float) -> None:
    if training:
        _verify_batch_size(input.size())
    if training and eps <= 0.0:
        raise ValueError(f"batch_norm eps must be positive during training, but got {eps}")
    if eps < 0.0:
        raise ValueError(f"batch_norm eps must be non-negative, but got {eps}")
    if not training and (stats["running_mean"] is None or stats["running_var"] is None):
        raise RuntimeError("running_mean must be defined in evaluation mode (running_mean and running_var are None)")
    C = input.shape[1] if input.dim() > 1 else 0
    for name, t in stats.items():
        if t is not None and t.numel() != C:
            raise RuntimeError(f"{name} should contain {C} elements not {t.numel()}")


@torch.no_grad()
def _update_running_stats(running_mean, running_var, mean: Tensor, var: Tensor, count: int, momentum) -> None:
    """``running = (1 - momentum) * running + momentum * batch``; the variance unbiased (``count`` per channel).
    An empty batch (``count == 0``, a shape, not data) leaves them unchanged, as in torch."""
    if count == 0:
        return
    if running_mean is not None:
        running_mean.copy_(momentum * mean.reshape(-1) + (1 - momentum) * running_mean)
    if running_var is not None:
        unbiased = var.reshape(-1) * (count / max(count - 1, 1))  # (C,)
        running_var.copy_(momentum * unbiased + (1 - momentum) * running_var)


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float | Tensor = 0.1,
    eps: float = 1e-5,
    *,
    backward: str | None = None,
) -> Tensor:
    """Normalise each channel of ``(N, C, *)`` over ``N`` and ``*``: with the batch's statistics when
    ``training`` (updating the running ones if given), else with ``running_mean`` and ``running_var``."""
    check_tensor(input, "batch_norm")
    stats = {"running_mean": running_mean, "running_var": running_var, "weight": weight, "bias": bias}
    _check_batch_norm(input, stats, training, eps)
    dtype = _check_dtypes("batch_norm", input, *stats.values())
    x, w, b = _cast(dtype, grad_format(input, memory_format(input)), weight, bias)  # dL/dx laid out as torch's
    affine_shape = (input.shape[1],) + (1,) * (input.dim() - 2)  # (C, 1, ..)
    manual = not composite(backward)
    if not training:
        mean, var = _cast(dtype, running_mean.detach(), running_var.detach())
        frozen = FrozenNormFunction.apply if manual else frozen_norm_forward
        return frozen(x, mean, var, w, b, affine_shape, eps).to(input.dtype)
    dims = (0, *range(2, input.dim()))  # every dim but the channels
    out, mean, var = (NormalizeFunction.apply if manual else normalize_forward)(x, w, b, dims, affine_shape, eps)
    count = input.numel() // max(input.shape[1], 1)
    _update_running_stats(running_mean, running_var, mean, var, count, momentum)
    return out.to(input.dtype)


# ------------------------------------------------------------------------------------------------ layer norm


def _check_layer_norm(input: Tensor, shape: tuple[int, ...], weight: Tensor | None, bias: Tensor | None) -> None:
    if len(shape) == 0:
        raise RuntimeError(
            "Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one element, "
            f"but got normalized_shape = {list(shape)}"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise RuntimeError(
                f"Expected {name} to be of same shape as normalized_shape, but got {name} of shape "
                f"{list(t.shape)} and normalized_shape = {list(shape)}"
            )
    if tuple(input.shape[input.dim() - len(shape) :]) != shape or input.dim() < len(shape):
        dims = ", ".join(str(d) for d in shape)
        raise RuntimeError(
            f"Given normalized_shape={list(shape)}, expected input with shape [*, {dims}], but got input of size"
            f"{list(input.shape)}"
        )


def layer_norm(
    input: Tensor,
    normalized_shape,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
    *,
    backward: str | None = None,
) -> Tensor:
    """Normalise each sample over its last ``len(normalized_shape)`` dims, then scale and shift element-wise."""
    check_tensor(input, "layer_norm")
    if not isinstance(normalized_shape, (list, tuple, torch.Size)):
        raise TypeError(
            "layer_norm(): argument 'normalized_shape' (position 2) must be tuple of ints, not "
            f"{type(normalized_shape).__name__}"
        )
    shape = tuple(int(d) for d in normalized_shape)
    _check_layer_norm(input, shape, weight, bias)
    dtype = _check_dtypes("LayerNormKernelImpl", input, weight, bias)
    x, w, b = _cast(dtype, input.contiguous(), weight, bias)  # torch's result is contiguous, whatever the input
    dims = tuple(range(-len(shape), 0))  # the normalised dims
    normalize = NormalizeFunction.apply if not composite(backward) else normalize_forward
    return normalize(x, w, b, dims, shape, eps)[0].to(input.dtype)


# ------------------------------------------------------------------------------------------------ group norm


def _check_group_norm(input: Tensor, num_groups: int, weight: Tensor | None, bias: Tensor | None) -> None:
    if input.dim() < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input.dim()}")
    _verify_batch_size([input.size(0) * input.size(1) // num_groups, num_groups, *input.size()[2:]])
    if input.shape[1] % num_groups != 0:
        raise RuntimeError(
            "Expected number of channels in input to be divisible by num_groups, but got input of shape "
            f"{list(input.shape)} and num_groups={num_groups}"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and (t.dim() != 1 or t.numel() != input.shape[1]):
            raise RuntimeError(
                f"Expected {name} to be a vector of size equal to the number of channels in input, but got "
                f"{name} of shape {list(t.shape)} and input of shape {list(input.shape)}"
            )


def group_norm(
    input: Tensor,
    num_groups: int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
    *,
    backward: str | None = None,
) -> Tensor:
    """Split the ``C`` channels of ``(N, C, *)`` into ``num_groups`` groups and normalise each sample's group over
    its channels and ``*``, then scale and shift per channel."""
    check_tensor(input, "group_norm")
    _check_group_norm(input, num_groups, weight, bias)
    dtype = _check_dtypes("GroupNormKernelImpl", input, weight, bias)
    x, w, b = _cast(dtype, grad_format(input, memory_format(input)), weight, bias)  # dL/dx laid out as torch's
    C = input.shape[1]
    x = x.unflatten(1, (num_groups, C // num_groups))  # (N, G, C/G, *), a view
    dims = tuple(range(2, x.dim()))  # a group's channels and space
    affine_shape = (num_groups, C // num_groups) + (1,) * (input.dim() - 2)  # (G, C/G, 1, ..)
    normalize = NormalizeFunction.apply if not composite(backward) else normalize_forward
    out = normalize(x, w, b, dims, affine_shape, eps)[0]  # (N, G, C/G, *)
    return out.flatten(1, 2).to(input.dtype)  # (N, C, *)
