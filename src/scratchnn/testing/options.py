"""The options of :func:`~scratchnn.testing.check_layer`, as one frozen dataclass."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .inputs import Target, check_target

MODES = ("train", "eval")


@dataclass(frozen=True)
class CheckOptions:
    """How :func:`~scratchnn.testing.check_layer` compares two layers; every field has a default.

    Args:
        name: the layer's label in the report. Default: the candidate's class name.
        engines: backward engines to run (``'manual'``, ``'autograd'``). Default: both for scratchnn layers,
            none to choose (``'-'``) for other layers.
        dtype, device: where the comparison runs. Default: float32 on the CPU.
        seed: seeds the inputs, the output gradients, the target and torch's generator before each forward.
        target: the layer is a loss ``layer(input, target)``: ``'indices'`` (class indices along dim 1 of the
            input), ``'probabilities'`` (a softmax over dim 1), or a callable ``target(input) -> Tensor``.
            Default: None, a layer of one input. See :mod:`scratchnn.testing.inputs`.
        modes: ``['train']``, ``['eval']`` or both, in that order. Default: both when the reference's output or
            buffers differ between training and eval mode on a seeded batch, else the layers' own mode (the rows
            then name no mode). Both layers are left in their original modes.
        check_init: also require the parameters and buffers to be identical before copying (same-seed
            construction).
        unbatched: also run an input without the batch dim.
        gradcheck, gradgradcheck: run them in float64 on a small input.
        rtol, atol: tolerances for ``torch.testing.assert_close``; both or neither. Default: its defaults for
            the dtype, with ``atol`` scaled by the largest magnitude of the expected tensor (sums in a different
            order differ by about ``eps`` times their size).
        stack: also add one row per feature of the PyTorch stack (compile, export, ONNX, torch.func, autocast,
            channels_last, pickle, meta device, DDP), each run on both layers; ``True`` for all of them, or the
            names of some (``stack=["autocast", "channels_last"]``). See :mod:`scratchnn.testing.stack`.
        compile_backend: the ``torch.compile`` backend of the stack's compile row. Default: ``'aot_eager'``
            (dynamo and AOTAutograd trace forward and backward, no code generation); ``'inductor'`` also
            generates and runs the kernels, at several seconds per layer.
        builders: ``(make_candidate, make_reference)``, zero-argument callables; with them the meta-device row
            constructs each layer under ``torch.device('meta')``, without them it moves a copy there.
    """

    name: str | None = None
    engines: Sequence[str] | None = None
    dtype: torch.dtype = torch.float32
    device: torch.device | str | None = None
    seed: int = 0
    target: Target = None
    modes: Sequence[str] | None = None
    check_init: bool = False
    unbatched: bool = True
    gradcheck: bool = True
    gradgradcheck: bool = False
    rtol: float | None = None
    atol: float | None = None
    stack: bool | Sequence[str] = False
    compile_backend: str = "aot_eager"
    builders: tuple[Callable[[], nn.Module], Callable[[], nn.Module]] | None = None

    def __post_init__(self) -> None:
        if (self.rtol is None) != (self.atol is None):
            raise ValueError(f"give both rtol and atol or neither, but got rtol={self.rtol}, atol={self.atol}")
        check_target(self.target)
        modes = self.modes
        if modes is not None and (isinstance(modes, str) or not modes or any(m not in MODES for m in modes)):
            raise ValueError(f"modes must be a non-empty list of {list(MODES)}, but got {modes!r}")
