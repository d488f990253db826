"""The type and dtype checks and the finite/NaN checks shared by the layer ops and the activations."""

from torch import Tensor


def check_float_input(input: Tensor, op: str) -> None:
    if not (input.is_floating_point() or input.is_complex()):
        raise RuntimeError(f"{op} expects a floating-point input, but got input of dtype {input.dtype}")


def surely_finite(t: Tensor) -> bool:
    """Whether every element of ``t`` is finite, from one sum (cheaper than ``isfinite(t).all()``):
    a NaN or an infinity makes the sum non-finite. ``False`` can be wrong (finite values whose sum overflows), so
    callers only use it to take an exact, slower path."""
    return bool(t.sum().isfinite())


def may_hold_nan(t: Tensor) -> bool:
    """Whether ``t`` may hold a NaN, from one sum: a NaN makes it NaN. ``True`` can be wrong (both ``inf`` and
    ``-inf`` present), so callers only use it to take an exact, slower path."""
    return bool(t.sum().isnan())


def check_tensor(input, op: str) -> None:
    """A non-tensor input is a TypeError, in torch's words."""
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
