"""The checks and layout of a cross-entropy's inputs: torch's rules and errors, and the class-index check op.

torch tells the two kinds of target apart by shape: a target of the input's own shape holds class probabilities,
any other holds class indices (of the input's shape without the class dim). Index targets are checked against
``[0, C)`` by :func:`class_targets`, a custom op because the check reads the data: its eager kernel raises
torch's ``IndexError``, and ``torch.compile``/``torch.export`` call it without tracing into it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._library import custom_op, onnx_exporting, vmap_elementwise

SCALAR_NAMES = {  # torch's names of dtypes in its error messages
    torch.float64: "Double",
    torch.float32: "Float",
    torch.float16: "Half",
    torch.bfloat16: "BFloat16",
    torch.int64: "Long",
    torch.int32: "Int",
    torch.int16: "Short",
    torch.int8: "Char",
    torch.uint8: "Byte",
    torch.bool: "Bool",
}


def scalar_name(dtype: torch.dtype) -> str:
    return SCALAR_NAMES.get(dtype, str(dtype))


@custom_op("class_targets")
def class_targets_op(target: Tensor, classes: int, ignore_index: int) -> tuple[Tensor, Tensor]:
    """Index targets ``t (M,)`` -> (``t`` with ignored rows set to class 0, the kept rows' mask ``k``); a kept
    target outside ``[0, classes)`` is torch's ``IndexError``."""
    keep = target != ignore_index  # (M,)
    bad = keep & ((target < 0) | (target >= classes))
    if bad.any():
        raise IndexError(f"Target {target[bad][0].item()} is out of bounds.")
    return torch.where(keep, target, 0), keep


@class_targets_op.register_fake
def _(target, classes, ignore_index):
    return torch.empty_like(target), torch.empty_like(target, dtype=torch.bool)


@class_targets_op.register_vmap
def _(info, in_dims, target, classes, ignore_index):
    out, _ = vmap_elementwise(lambda t: class_targets_op(t, classes, ignore_index), info, in_dims[:1], target)
    return out, (0, 0)


def class_targets(target: Tensor, classes: int, ignore_index: int) -> tuple[Tensor, Tensor]:
    """:func:`class_targets_op`; during ONNX export (which knows torch's ops, not ours) the same without the check."""
    if onnx_exporting():
        keep = target != ignore_index
        return torch.where(keep, target, 0), keep
    return class_targets_op(target, classes, ignore_index)


def _check_index_target(input: Tensor, target: Tensor) -> None:
    if input.dim() <= 2 and target.dim() > 1:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    batch = 1 if input.dim() == 1 else input.shape[0]
    if target.dim() > 0 and target.shape[0] != batch:
        raise ValueError(f"Expected input batch_size ({batch}) to match target batch_size ({target.shape[0]}).")
    expected = [*input.shape[:1], *input.shape[2:]]
    if input.dim() > 2 and list(target.shape) != expected:
        raise RuntimeError(f"Expected target size {expected}, got {list(target.shape)}")
    if target.dtype not in (torch.int64, torch.uint8):
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {scalar_name(target.dtype)}")


def _check_weight(weight: Tensor | None, input: Tensor, classes: int) -> None:
    if weight is None:
        return
    if weight.dim() != 1 or weight.numel() != classes:
        raise RuntimeError(
            f"weight tensor should be defined either for all {classes} classes or no classes but got weight tensor "
            f"of shape: {list(weight.shape)}"
        )
    if weight.dtype != input.dtype:
        raise RuntimeError(f"expected scalar type {scalar_name(input.dtype)} but found {scalar_name(weight.dtype)}")


def classes_last(input: Tensor, target: Tensor, weight: Tensor | None, ignore_index: int) -> tuple[Tensor, bool]:
    """Check the inputs as torch does; return the logits as rows ``z (M, C)`` and whether the target holds
    probabilities."""
    if not isinstance(target, Tensor):
        raise TypeError(f"cross_entropy(): argument 'target' (position 2) must be Tensor, not {type(target).__name__}")
    probabilities = input.shape == target.shape
    if probabilities and not target.is_floating_point():
        raise RuntimeError(
            f"Expected floating point type for target with class probabilities, got {scalar_name(target.dtype)}"
        )
    if input.dim() == 0:
        raise RuntimeError("cross_entropy: input must be at least 1-D (C,), but got a 0-D tensor")
    if probabilities and ignore_index >= 0:
        raise RuntimeError("ignore_index is not supported for floating point target")
    if not probabilities:
        _check_index_target(input, target)
    if not (input.is_floating_point() or input.is_complex()):
        raise NotImplementedError(
            f"\"log_softmax_lastdim_kernel_impl\" not implemented for '{scalar_name(input.dtype)}'"
        )
    classes = input.shape[0] if input.dim() == 1 else input.shape[1]
    _check_weight(weight, input, classes)
    return (input.movedim(1, -1) if input.dim() > 1 else input).reshape(-1, classes), probabilities  # (M, C)


def rows_shape(input: Tensor, target: Tensor, probabilities: bool) -> tuple[int, ...]:
    """The shape of ``reduction='none'``'s losses: the index target's, or the input's without the class dim."""
    if input.dim() == 1:
        return ()
    return (*input.shape[:1], *input.shape[2:]) if probabilities else tuple(target.shape)
