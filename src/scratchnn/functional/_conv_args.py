"""The arguments of a 2-D convolution: checked (here alone, for the layers and the functional ops alike), resolved
(:class:`ConvArgs`), checked against the input as torch checks them, and the output size they give.

torch checks a layer's arguments at construction with ValueErrors and the functional op's when it runs with
RuntimeErrors; the checks that both make take the exception class as ``error``."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from ._windows import PADDING_MODES, Pair, pair


class ConvArgs(NamedTuple):
    """Resolved conv arguments: padding is ``(left, right, top, bottom)`` as ``F.pad`` takes it."""

    stride: Pair
    padding: tuple[int, int, int, int]
    dilation: Pair
    groups: int
    padding_mode: str


def check_groups(groups, error: type[Exception] = RuntimeError) -> None:
    if not isinstance(groups, int) or groups <= 0:
        raise error(f"groups must be a positive integer, but got groups={groups!r}")


def check_channel_groups(in_channels: int, out_channels: int, groups) -> None:
    """A layer's channels must split evenly into its groups (torch's ValueErrors, at construction)."""
    check_groups(groups, ValueError)
    if in_channels % groups:
        raise ValueError(f"in_channels must be divisible by groups, but got in_channels={in_channels}, groups={groups}")
    if out_channels % groups:
        raise ValueError(
            f"out_channels must be divisible by groups, but got out_channels={out_channels}, groups={groups}"
        )


def check_padding_mode(padding_mode: str) -> str:
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {PADDING_MODES}, but got padding_mode={padding_mode!r}")
    return padding_mode


def check_padding_string(padding: str, stride: Pair, error: type[Exception] = RuntimeError) -> str:
    """``'valid'``, or ``'same'`` for a stride of 1."""
    if padding not in ("valid", "same"):
        raise error(f"Invalid padding string {padding!r}, should be one of ('valid', 'same')")
    if padding == "same" and stride != (1, 1):
        raise error(f"padding='same' is not supported for strided convolutions, but got stride={stride}")
    return padding


def padding_pair(padding) -> Pair:
    """An int or pair padding as ``(pH, pW)``, refused when negative."""
    pH, pW = pair(padding, "padding")
    if min(pH, pW) < 0:
        raise RuntimeError(f"negative padding is not supported, but got padding={(pH, pW)}")
    return pH, pW


def check_steps(stride, dilation, groups) -> tuple[Pair, Pair]:
    """The functional ops' checks of ``stride``, ``dilation`` and ``groups``; returns the first two as pairs."""
    stride, dilation = pair(stride, "stride"), pair(dilation, "dilation")
    if min(stride) <= 0:
        raise RuntimeError(f"non-positive stride is not supported, but got stride={stride}")
    if min(dilation) <= 0:
        raise RuntimeError(f"dilation should be greater than zero, but got dilation={dilation}")
    check_groups(groups)
    return stride, dilation


def conv_padding(
    padding: str | int | tuple[int, int], kernel_size: Pair, dilation: Pair, stride: Pair
) -> tuple[int, int, int, int]:
    """``padding`` (int, pair, 'valid' or 'same') as ``(left, right, top, bottom)``.

    'same' pads a total of ``d*(k-1)`` per dimension, ``total // 2`` before and the rest after, as torch does.
    """
    if isinstance(padding, str):
        if check_padding_string(padding, stride) == "valid":
            return (0, 0, 0, 0)
        (tH, tW) = (d * (k - 1) for d, k in zip(dilation, kernel_size, strict=True))
        return (tW // 2, tW - tW // 2, tH // 2, tH - tH // 2)
    pH, pW = padding_pair(padding)
    return (pW, pW, pH, pH)


def check_input(x: Tensor, weight: Tensor, bias: Tensor | None, a: ConvArgs) -> None:
    if x.dtype == torch.bool or not (x.is_floating_point() or x.is_complex() or x.device.type == "cpu"):
        # torch convolves integer tensors on the CPU only, and never booleans
        raise NotImplementedError(f"conv2d not implemented for dtype {x.dtype} on {x.device.type}")
    if weight.dim() != 4:
        raise RuntimeError(f"conv2d expects a 4D weight (O, C/groups, kH, kW), but got size {list(weight.shape)}")
    if x.dtype != weight.dtype:
        raise RuntimeError(f"conv2d: input dtype {x.dtype} does not match weight dtype {weight.dtype}")
    if bias is not None and bias.dtype != x.dtype:
        raise RuntimeError(f"conv2d: input dtype {x.dtype} does not match bias dtype {bias.dtype}")
    C = x.shape[1]
    if weight.shape[1] * a.groups != C:
        raise RuntimeError(
            f"Given groups={a.groups}, weight of size {list(weight.shape)}, expected input{list(x.shape)} to have "
            f"{weight.shape[1] * a.groups} channels, but got {C} channels instead"
        )
    if weight.shape[0] % a.groups:
        raise RuntimeError(f"conv2d: out_channels={weight.shape[0]} is not divisible by groups={a.groups}")
    left, right, top, bottom = a.padding
    Hp, Wp = x.shape[2] + top + bottom, x.shape[3] + left + right
    if min(weight.shape[2:]) <= 0:
        raise RuntimeError(f"kernel size should be greater than zero, but got kernel_size={tuple(weight.shape[2:])}")
    kH, kW = (d * (k - 1) + 1 for d, k in zip(a.dilation, weight.shape[2:], strict=True))
    if kH > Hp or kW > Wp:
        raise RuntimeError(
            f"conv2d: padded input size per channel ({Hp} x {Wp}) is smaller than the dilated kernel size "
            f"({kH} x {kW}); kernel size can't be greater than the padded input"
        )


def out_size(x: Tensor, weight_shape: torch.Size, a: ConvArgs) -> tuple[int, int]:
    """``(H_out, W_out) = floor((H + pad_top + pad_bottom - dH*(kH - 1) - 1) / sH) + 1``, and likewise W."""
    left, right, top, bottom = a.padding
    (H, W), (kH, kW), (dH, dW), (sH, sW) = x.shape[2:], weight_shape[2:], a.dilation, a.stride
    return (H + top + bottom - dH * (kH - 1) - 1) // sH + 1, (W + left + right - dW * (kW - 1) - 1) // sW + 1
