"""Stack features that run the module eagerly: torch.func, autocast, channels_last, pickle, the meta device.

Each returns observations (see :mod:`.stack`) that the row compares between the candidate and the reference.
"""

from __future__ import annotations

import copy
import io
import pickle

import torch
from torch.func import functional_call, grad, vmap

from .stack_core import Observations, Probe, forward_backward, outputs, seeded_like

GRAD_SEED = 1


def vmapped(probe: Probe) -> Observations:
    """``torch.func.vmap(module)`` over a stack of two batches ``(2, N, ...)``: one output per batch.

    Random operations draw differently per batch (``randomness='different'``), from the same generator state
    on both sides.
    """
    g = torch.Generator().manual_seed(2)
    xs = torch.randn((2, *probe.x.shape), generator=g, dtype=torch.float64).to(probe.x)
    args = [torch.stack(a) for a in zip(*(probe.args(x) for x in xs), strict=True)]  # (2, ...) each
    outs = outputs(vmap(probe.module, randomness="different")(xs, *args))
    return {f"output {i}" if len(outs) > 1 else "output": o.detach() for i, o in enumerate(outs)}


def per_sample_grads(probe: Probe) -> Observations:
    """Per-sample gradients (input and parameters) by ``vmap(grad(...))`` over ``functional_call``.

    The loss of sample ``i`` is ``<module(x[i:i+1], *args[i:i+1]), g>`` for a seeded ``g`` shaped like the output
    of one sample; the reference side's gradients are those of torch.nn, which equal a loop over the samples.
    """
    module, x = probe.module, probe.x.detach()
    args = probe.args(x)
    params = {n: p.detach() for n, p in module.named_parameters()}
    with torch.no_grad():
        one = outputs(module(x[:1], *(a[:1] for a in args)))[0]  # (1, ...), or () for a reduced loss
    g = seeded_like([one], GRAD_SEED)[0]

    def loss(params, xi, *ai):
        yi = outputs(functional_call(module, params, (xi.unsqueeze(0), *(a.unsqueeze(0) for a in ai))))[0]
        return (yi * g).sum()

    per_sample = vmap(grad(loss, argnums=(0, 1)), in_dims=(None, 0, *(0 for _ in args)), randomness="different")
    grads_params, grads_x = per_sample(params, x, *args)
    return {"per-sample grad input": grads_x, **{f"per-sample grad {n}": t for n, t in grads_params.items()}}


def autocast_dtype(device_type: str) -> torch.dtype:
    """The low-precision dtype the autocast row runs in: float16 on CUDA, bfloat16 elsewhere."""
    return torch.float16 if device_type == "cuda" else torch.bfloat16


def autocast(probe: Probe) -> Observations:
    """Forward and backward under ``torch.autocast`` (bfloat16 on the CPU, float16 on CUDA): dtypes and values."""
    device_type = probe.device.type
    module, args = probe.module, probe.args(probe.x)
    with torch.autocast(device_type, dtype=autocast_dtype(device_type)):
        seen = forward_backward(module, probe.x, dict(module.named_parameters()), GRAD_SEED, args, holder=module)
    dtypes = {f"{name} dtype": str(t.dtype) for name, t in seen.items() if isinstance(t, torch.Tensor)}
    return {**dtypes, **seen}


def channels_last(probe: Probe) -> Observations:
    """A channels_last module on a channels_last input: the output's and input gradient's memory format."""
    if probe.x.dim() != 4:
        raise ValueError(f"channels_last needs a 4-D input, but the input has {probe.x.dim()} dims")
    module = copy.deepcopy(probe.module).to(memory_format=torch.channels_last)
    x = probe.x.contiguous(memory_format=torch.channels_last)
    seen = forward_backward(module, x, dict(module.named_parameters()), GRAD_SEED, probe.args(x), holder=module)
    formats = {f"{name} memory format": _format(t) for name, t in seen.items() if t.dim() == 4}
    return {**formats, **seen}


def _format(t: torch.Tensor) -> str:
    if t.is_contiguous():
        return "contiguous"
    return "channels_last" if t.is_contiguous(memory_format=torch.channels_last) else f"strides {t.stride()}"


def pickled(probe: Probe) -> Observations:
    """Outputs of the module after ``pickle``, ``torch.save``/``torch.load`` and ``copy.deepcopy`` round trips."""
    buffer = io.BytesIO()
    torch.save(probe.module, buffer)
    buffer.seek(0)
    copies = {
        "pickle": pickle.loads(pickle.dumps(probe.module)),
        "torch.save": torch.load(buffer, weights_only=False),
        "deepcopy": copy.deepcopy(probe.module),
    }
    inputs = (probe.x.detach(), *probe.args(probe.x))
    with torch.no_grad():
        return {f"{how} output {i}": o for how, m in copies.items() for i, o in enumerate(outputs(m(*inputs)))}


def meta_device(probe: Probe) -> Observations:
    """Construct on the meta device (or move a copy there), ``to_empty``, load the state, run.

    With a builder (``check_layer(builders=...)``, the command line, the built-in grid) the module is
    constructed under ``torch.device('meta')`` and must not allocate real memory; without one, a deep copy of
    the instance is moved to the meta device.
    """
    if probe.build is not None:
        with torch.device("meta"):
            module = probe.build()
        real = [n for n, t in (*module.named_parameters(), *module.named_buffers()) if not t.is_meta]
        if real:
            raise RuntimeError(f"construction under torch.device('meta') allocated real tensors: {real}")
    else:
        module = copy.deepcopy(probe.module).to("meta")
    module.to_empty(device=probe.device)
    module.load_state_dict(probe.module.state_dict())
    module.train(probe.module.training)
    with torch.no_grad():
        return {f"output {i}": o for i, o in enumerate(outputs(module(probe.x.detach(), *probe.args(probe.x))))}
