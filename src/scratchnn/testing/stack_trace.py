"""Stack features that trace the module into a graph: torch.compile, torch.export and ONNX export.

Each returns observations (see :mod:`.stack`): the outputs and, where the graph is differentiable, the gradients
with respect to the input and every parameter.
"""

from __future__ import annotations

import re

import torch
from torch import Tensor

from .report import reason, shorten
from .stack_core import Observations, Probe, Skip, forward_backward, outputs, quiet

GRAD_SEED = 1


def compiled(probe: Probe) -> Observations:
    """``torch.compile(module, fullgraph=True)`` forward and backward; on failure, the graph breaks and why."""
    torch._dynamo.reset()
    fn = torch.compile(probe.module, fullgraph=True, backend=probe.compile_backend)
    args, params = probe.args(probe.x), dict(probe.module.named_parameters())
    try:
        return forward_backward(fn, probe.x, params, GRAD_SEED, args, holder=probe.module)
    except Exception as e:
        breaks = graph_breaks(probe)
        if not breaks and isinstance(e, torch._dynamo.exc.Unsupported):  # under fullgraph, a break is this error
            breaks = f"graph break: {trace_reason(e).split(': ', 1)[-1]}"
        raise (GraphBreaks(breaks) if breaks else e) from None
    finally:
        torch._dynamo.reset()


class GraphBreaks(Exception):
    """``torch._dynamo.explain`` found graph breaks: their count and reasons, in one line."""


def graph_breaks(probe: Probe) -> str:
    """``'N graph break(s): reason (file:line); ...'``, or ``''`` when there are none."""
    torch._dynamo.reset()
    try:
        with quiet():
            explained = torch._dynamo.explain(probe.module)(probe.x.detach(), *probe.args(probe.x))
    except Exception:
        return ""
    reasons = []
    for r in explained.break_reasons:
        where = f" ({r.user_stack[-1].filename.rsplit('/', 1)[-1]}:{r.user_stack[-1].lineno})" if r.user_stack else ""
        reasons.append(r.reason.strip().splitlines()[0] + where)
    n = explained.graph_break_count
    return f"{n} graph break{'s' if n != 1 else ''}: {'; '.join(dict.fromkeys(reasons))}" if n else ""


def exported(probe: Probe) -> Observations:
    """``torch.export.export`` (training-mode IR), then the exported module's outputs, buffers and backward."""
    args = probe.args(probe.x)
    program = torch.export.export(probe.module, (probe.x.detach(), *args))
    module = program.module()
    return forward_backward(module, probe.x, dict(module.named_parameters()), GRAD_SEED, args, holder=module)


def onnx_exported(probe: Probe) -> Observations:
    """``torch.onnx.export(..., dynamo=True)``, then onnxruntime's outputs."""
    try:
        import onnx  # noqa: F401  (the exporter needs it)
        import onnxruntime
        import onnxscript  # noqa: F401
    except ImportError as e:
        raise Skip(f"needs onnx, onnxscript and onnxruntime ({e.name} is not installed)") from None
    inputs = (probe.x.detach(), *probe.args(probe.x))
    program = torch.onnx.export(probe.module, inputs, dynamo=True, verbose=False)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4  # fatal only: onnxruntime's own logger writes to the process's stderr
    model = program.model_proto.SerializeToString()
    session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    feeds = {i.name: t.cpu().numpy() for i, t in zip(session.get_inputs(), inputs, strict=False)}
    outs = [torch.from_numpy(g) for g in session.run(None, feeds)]
    with torch.no_grad():
        eager = outputs(probe.module(*inputs))
    for i, (o, e) in enumerate(zip(outs, eager, strict=False)):
        _check_exported(o, e.detach().cpu(), i)
    return {("output" if len(eager) == 1 else f"output {i}"): o for i, o in enumerate(outs[: len(eager)])}


def _check_exported(got: Tensor, eager: Tensor, i: int) -> None:
    """A side whose ONNX graph computes something else than the module itself does not support the export (torch's
    own exporter, for one, writes ``AvgPool2d(divisor_override=...)`` as a plain ``AveragePool``, which divides by
    the window's size): its outputs are no reference for the other side's."""
    try:
        torch.testing.assert_close(got, eager, rtol=1e-3, atol=1e-4, equal_nan=True, check_dtype=False)
    except AssertionError as e:
        raise ValueError(f"onnxruntime's output {i} differs from the module's own: {reason(e)}") from None


_FRAME = re.compile(r'File "([^"]+)", line (\d+), in \S+\n\s*(.+)')
_CAUSED_BY = re.compile(r"Caused by: .*?\(([^()]+?):(\d+) in \S+\)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def trace_reason(e: BaseException) -> str:
    """One line for a tracing error: its first line and where in the user's code it happened (and, for an
    error raised from another, such as the ONNX exporter's wrapping of torch.export's, the cause's too)."""
    if isinstance(e, GraphBreaks):
        return str(e)
    text = _ANSI.sub("", str(e)).strip()
    first = " ".join(next((line for line in text.splitlines() if line.strip()), "").split())
    if not first:
        return reason(e)
    if e.__cause__ is not None:
        return f"{type(e).__name__}: {first.split('. ')[0]} <- {trace_reason(e.__cause__)}"
    frames, caused = _FRAME.findall(text), _CAUSED_BY.findall(text)
    where = ""
    if frames:
        path, line, code = frames[-1]
        where = f" at {path.rsplit('/', 1)[-1]}:{line}: {code.strip()}"
    elif caused:
        path, line = caused[-1]
        where = f" at {path.rsplit('/', 1)[-1]}:{line}"
    return f"{type(e).__name__}: {shorten(first + where)}"
