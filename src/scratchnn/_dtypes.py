"""The dtype check shared by the layer ops and the activations."""

from torch import Tensor


def check_float_input(input: Tensor, op: str) -> None:
    if not (input.is_floating_point() or input.is_complex()):
        raise RuntimeError(f"{op} expects a floating-point input, but got input of dtype {input.dtype}")
