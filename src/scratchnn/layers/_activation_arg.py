"""The ``activation`` argument of Linear and Conv2d: one of several kinds, resolved once at construction."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from torch import Tensor, nn

from .activation import ACTIVATIONS

ACCEPTED_KINDS = (
    "None, a name (" + ", ".join(repr(n) for n in ACTIVATIONS) + "), a torch.nn.Module instance or class, "
    "a torch.autograd.Function subclass, or a callable such as torch.tanh"
)


def resolve_activation(activation) -> nn.Module | Callable[[Tensor], Tensor] | None:
    """Turn any accepted kind into ``None``, a module (registered as a child) or a plain callable.

    Raises:
        ValueError: an unknown name. TypeError: any other kind; the message lists the accepted kinds.
    """
    if activation is None or isinstance(activation, nn.Module):
        return activation
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation name {activation!r}; known names: {sorted(ACTIVATIONS)}")
        return ACTIVATIONS[activation]()
    if inspect.isclass(activation):
        if issubclass(activation, nn.Module):
            return activation()
        if issubclass(activation, torch.autograd.Function):
            return activation.apply
    elif callable(activation) and not isinstance(activation, torch.autograd.Function):  # an instance: pass the class
        return activation
    raise TypeError(f"activation must be {ACCEPTED_KINDS}; but got {activation!r} of type {type(activation).__name__}")


def callable_repr(activation) -> str:
    """An activation that is a module shows as a child; a plain callable is named in the repr."""
    if activation is None or isinstance(activation, nn.Module):
        return ""
    owner = getattr(activation, "__self__", None)  # Function.apply is bound to its Function class
    name = getattr(activation, "__name__", repr(activation))
    return f", activation={owner.__name__ + '.' if inspect.isclass(owner) else ''}{name}"
