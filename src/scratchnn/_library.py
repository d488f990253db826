"""How scratchnn's ops join the PyTorch stack: custom ops with their fake, vmap and autocast rules.

Each op's eager kernel is a ``torch.library.custom_op`` named ``scratchnn::<op>``: opaque to ``torch.compile`` and
``torch.export`` (which call it rather than trace into it, so its data-dependent fast paths stay in eager Python),
described to them by a fake kernel that gives the output's shape, dtype and memory format. Around it, a
``torch.autograd.Function`` with ``setup_context`` holds the hand-written backward (the form ``torch.func``
transforms accept), and the same ``setup_context``/``backward`` pair is registered on the op itself
(``register_autograd``), so a graph that ``torch.export`` captured, with the op in it, backpropagates too.

This module holds the rules shared by every op:

- :func:`vmap_batch_first`: the vmap rule of an op whose first argument is a batch ``(N, ...)`` it treats sample
  by sample: the vmapped dim folds into ``N`` when only that argument is batched, else the op runs once per
  vmapped index (:func:`vmap_loop`).
- :func:`autocast_inputs` and :func:`register_autocast`: convolution and linear layers run in the autocast dtype
  (``torch.get_autocast_dtype``), as torch's own do; the other ops run in their input's dtype, as torch's do.
- :class:`Function` and :func:`custom_op`: the ``torch.autograd.Function`` base and the custom-op constructor every
  op uses. In plain eager mode both take the short way, which matters for small layers: an op's call through the
  dispatcher (with its aliasing check on the outputs) and ``Function.apply``'s binding of the arguments to
  ``forward``'s signature cost several times what a small layer computes (docs/performance.md). Under
  ``torch.compile``, ``torch.export``, ``torch.func`` transforms, tracing, dispatch or function modes, autocast,
  tensor subclasses, meta tensors and autograd recording, each takes torch's own way, so what those see is
  unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch._functorch.utils import unwrap_dead_wrappers
from torch._prims_common import are_strides_like_channels_last_or_false
from torch.nn import Parameter

NAMESPACE = "scratchnn"
AUTOCAST_KEYS = {"cpu": "AutocastCPU", "cuda": "AutocastCUDA"}  # device type: its autocast dispatch key


def _transformed() -> bool:
    """Whether a tracer or transform is watching: torch.compile or torch.export (both through dynamo), a torch.func
    transform, TorchScript tracing (the TorchScript ONNX exporter's too), or a dispatch or function mode
    (FakeTensor, non-strict export, op logs)."""
    return (
        torch.compiler.is_compiling()
        or torch._C._are_functorch_transforms_active()
        or torch._C._len_torch_dispatch_stack() > 0
        or torch._C._is_torch_function_mode_enabled()
        or torch._C._get_tracing_state() is not None
    )


class Function(torch.autograd.Function):
    """The base of scratchnn's autograd Functions. ``apply`` takes positional arguments only; in eager mode outside
    torch.func transforms it calls the C++ ``apply`` directly, skipping the Python one's binding of the arguments to
    ``forward``'s signature (an ``inspect.signature`` per call, for Functions with ``setup_context``), which has
    nothing to bind when every argument is positional. Elsewhere it is ``torch.autograd.Function.apply``."""

    @classmethod
    def apply(cls, *args: Any) -> Any:
        if torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active():
            return super().apply(*args)
        return super(torch.autograd.Function, cls).apply(*unwrap_dead_wrappers(args))  # the C++ _FunctionBase.apply


class EagerOp:
    """A ``torch.library`` custom op that, called in plain eager mode, runs its kernel as a Python call instead of
    through the dispatcher. Plain means: no tracer or transform (:func:`_transformed`), no autocast (the conv and
    linear ops have autocast kernels), only ``Tensor``/``Parameter`` tensors, none of them on the meta device (where
    the op runs its fake kernel) or batched by a vmap, and no autograd to record (an input that requires grad while
    grad mode is on: the op's registered backward must see the call). Everything else (``register_fake``,
    ``register_vmap``, ``register_autograd``, ...) is the op's own."""

    def __init__(self, op: torch._library.custom_ops.CustomOpDef, kernel: Callable) -> None:
        self.op, self.kernel = op, kernel

    def __call__(self, *args: Any) -> Any:
        return self.kernel(*args) if _plain_eager(args) else self.op(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.op, name)


def _plain_eager(args: tuple) -> bool:
    if _transformed() or torch._C._is_any_autocast_enabled():
        return False
    tensors = [a for a in args if isinstance(a, Tensor)]
    recording = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
    return not recording and all(type(t) in _PLAIN and not t.is_meta and not _batched(t) for t in tensors)


_PLAIN = (Tensor, Parameter)


def plain_eager(*tensors: Tensor) -> bool:
    """Whether a kernel working on ``tensors`` runs in plain eager mode (as :class:`EagerOp` takes it): then it may
    reuse its own temporary buffers in place (``out=``, in-place methods), which autograd recording, tracers and
    vmap's batched tensors do not all accept."""
    return _plain_eager(tensors)


def _batched(t: Tensor) -> bool:
    """A tensor of the vmap that ``gradcheck(check_batched_grad=True)`` runs (``torch._vmap_internals``), which
    is not on torch.func's transform stack, or any other functorch wrapper."""
    return torch._C._functorch.is_legacy_batchedtensor(t) or torch._C._functorch.is_functorch_wrapped_tensor(t)


def custom_op(name: str, kernel: Callable | None = None, *, schema: str | None = None) -> Any:
    """``torch.library.custom_op(f"scratchnn::{name}", kernel, mutates_args=(), schema=schema)`` as an
    :class:`EagerOp`; with no ``kernel``, a decorator."""
    if kernel is None:
        return lambda fn: custom_op(name, fn, schema=schema)
    op = torch.library.custom_op(f"{NAMESPACE}::{name}", kernel, mutates_args=(), schema=schema)
    return EagerOp(op, kernel)


def differentiable_backward() -> bool:
    """Whether a backward must be built from ops that autograd follows: it runs with autograd recording
    (``create_graph=True``, or inside ``torch.func.grad``, which always records) in eager mode. While compiling,
    AOT autograd traces every backward with recording on, but a compiled graph is never differentiated twice, so
    there the backward custom ops (the fast kernels) are used."""
    return torch.is_grad_enabled() and not torch.compiler.is_compiling()


def _lower(t: Tensor | None, dtype: torch.dtype, device_type: str) -> Tensor | None:
    eligible = t is not None and t.is_floating_point() and t.dtype != torch.float64 and t.device.type == device_type
    return t.to(dtype) if eligible else t


def autocast_inputs(*tensors: Tensor | None) -> tuple[Tensor | None, ...]:
    """Inside ``torch.autocast`` on the tensors' device: floating tensors (not float64) cast to the autocast dtype,
    torch's rule for ``conv2d`` and ``linear``. Elsewhere unchanged. Applied before the autograd Function, so the
    cast is part of the graph and the backward sees the tensors the forward computed with."""
    device_type = tensors[0].device.type
    if device_type not in AUTOCAST_KEYS or not torch.is_autocast_enabled(device_type):
        return tensors
    dtype = torch.get_autocast_dtype(device_type)
    return tuple(_lower(t, dtype, device_type) for t in tensors)


def register_autocast(name: str) -> None:
    """Autocast kernels for the custom op ``scratchnn::<name>`` called directly (as in an exported graph): cast as
    :func:`autocast_inputs`, then run without autocast."""
    op = getattr(getattr(torch.ops, NAMESPACE), name).default
    for device_type, dispatch_key in AUTOCAST_KEYS.items():

        def kernel(*args, device_type=device_type):
            dtype = torch.get_autocast_dtype(device_type)
            cast = [_lower(a, dtype, device_type) if isinstance(a, Tensor) else a for a in args]
            with torch.autocast(device_type, enabled=False):
                return op(*cast)

        torch.library.impl(f"{NAMESPACE}::{name}", dispatch_key)(kernel)


def _select(arg, dim, index: int):
    return arg.select(dim, index) if isinstance(dim, int) else arg  # (a list argument's dims are a list of None)


def vmap_loop(op: Callable, info, in_dims: tuple, *args):
    """Run ``op`` once per vmapped index and stack the results along dim 0."""
    results = [op(*(_select(a, d, i) for a, d in zip(args, in_dims, strict=True))) for i in range(info.batch_size)]
    if isinstance(results[0], tuple):
        return tuple(torch.stack(parts) for parts in zip(*results, strict=True)), (0,) * len(results[0])
    return torch.stack(results), 0


def vmap_batch_first(op: Callable, info, in_dims: tuple, *args, batch_args: int = 1):
    """The vmap rule of an op whose first ``batch_args`` arguments are batches ``(N, ...)`` it treats sample by
    sample: when no later argument is batched, the vmapped dim ``B`` folds into ``N`` (unbatched ones among the
    first are expanded), one call on ``(B*N, ...)``; otherwise one call per vmapped index."""
    if any(isinstance(d, int) for d in in_dims[batch_args:]):
        return vmap_loop(op, info, in_dims, *args)
    B = info.batch_size
    firsts = [
        t.movedim(d, 0) if d is not None else t.expand(B, *t.shape)  # (B, N, ...)
        for t, d in zip(args[:batch_args], in_dims[:batch_args], strict=True)
    ]
    out = op(*(t.flatten(0, 1) for t in firsts), *args[batch_args:])  # (B*N, ...)
    if isinstance(out, tuple):
        return tuple(o.unflatten(0, (B, -1)) for o in out), (0,) * len(out)  # (B, N, ...) each
    return out.unflatten(0, (B, -1)), 0  # (B, N, ...)


def memory_format(*tensors: Tensor) -> torch.memory_format:
    """torch's rule for a convolution's or pooling's output: channels_last when any of the 4-D ``tensors`` has
    channels_last strides (``Tensor.suggest_memory_format``, which reads the strides even of size-1 dims)."""
    if any(suggested_format(t) == torch.channels_last for t in tensors):
        return torch.channels_last
    return torch.contiguous_format


def suggested_format(t: Tensor) -> torch.memory_format:
    """``t.suggest_memory_format()`` for a 4-D tensor, else (and under vmap, which hides strides) the default."""
    if t.dim() != 4:
        return torch.contiguous_format
    try:  # suggest_memory_format's stride rule, without its layout read (dynamo bans .layout in a Function's backward)
        like_channels_last = are_strides_like_channels_last_or_false(t.shape, t.stride())
        return torch.channels_last if like_channels_last else torch.contiguous_format
    except RuntimeError:  # vmap cannot query layouts of batched tensors: the default layout, as torch.func gives
        return torch.contiguous_format


def conv_formats(x: Tensor, weight: Tensor, padding_mode: str) -> tuple[torch.memory_format, ...]:
    """torch's memory formats for a convolution's ``(output, grad input, grad weight)``.

    torch.nn pads first for non-zero modes: reflect/replicate padding keeps the input's format and its backward
    gives the input's; circular padding (concatenation) is contiguous either way. The convolution then takes
    channels_last when its (padded) input or its weight is so (the mkldnn/cudnn rule) for output, grad input and
    grad weight alike."""
    padded = torch.contiguous_format if padding_mode == "circular" else suggested_format(x)
    conv = memory_format(weight) if padded == torch.contiguous_format else torch.channels_last
    return conv, conv if padding_mode == "zeros" else padded, conv


class _GradFormat(Function):
    """The identity, whose backward lays the gradient out in a given memory format (values unchanged)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(t: Tensor, fmt: torch.memory_format) -> Tensor:
        return torch.ops.aten.alias(t)  # a view with t's very strides (view_as re-strides size-1 dims)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.fmt = inputs[1]

    @staticmethod
    def backward(ctx, grad: Tensor):
        """``dL/dt = g``, copied into ``fmt`` when laid out otherwise."""
        return grad.contiguous(memory_format=ctx.fmt), None


def grad_format(t: Tensor, fmt: torch.memory_format) -> Tensor:
    """``t`` itself, but its gradient comes back channels_last when ``fmt`` is (the ``'autograd'`` engine's ops
    would give it in their own layout); a no-op for the default format or a tensor that needs no gradient."""
    if fmt != torch.channels_last or not (t.requires_grad and torch.is_grad_enabled()) or _exporting():
        return t
    return _GradFormat.apply(t, fmt)


def _exporting() -> bool:
    return onnx_exporting()


_onnx_flags: tuple[Any, Any] | None = None  # the two exporters' flags, once looked up (None: not yet)


def onnx_exporting() -> bool:
    """``torch.onnx.is_in_onnx_export()``, which every layer call asks (ONNX export runs the composite forward).
    torch's function runs two ``from .. import`` statements per call, a few microseconds, more than the rest of a
    small layer's checks together; this reads the same two flags, looked up once. Under ``torch.compile`` it is
    torch's function, which dynamo folds into a constant."""
    global _onnx_flags
    if torch.compiler.is_compiling():
        return torch.onnx.is_in_onnx_export()
    if _onnx_flags is None:
        from torch.onnx._internal.exporter import _flags
        from torch.onnx._internal.torchscript_exporter._globals import GLOBALS

        _onnx_flags = (GLOBALS, _flags)
    torchscript, dynamo = _onnx_flags
    return torchscript.in_onnx_export or dynamo._is_onnx_exporting


def like(result: Tensor, template: Tensor, fmt: torch.memory_format = torch.preserve_format) -> Tensor:
    """``result`` laid out as ``torch.empty_like(template, memory_format=fmt)`` (what the fake kernels promise): a
    copy only when the strides differ."""
    strides = torch.empty_like(template, memory_format=fmt, device="meta").stride()  # no memory: only the strides
    return result if result.stride() == strides else torch.empty_like(template, memory_format=fmt).copy_(result)


def vmap_elementwise(op: Callable, info, in_dims: tuple, *tensors: Tensor):
    """An element-wise op: every tensor with its vmapped dim first, unbatched ones expanded to match."""
    B = info.batch_size
    moved = [t.movedim(d, 0) if d is not None else t.expand(B, *t.shape) for t, d in zip(tensors, in_dims, strict=True)]
    return op(*moved), 0
