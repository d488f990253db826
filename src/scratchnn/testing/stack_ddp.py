"""The DDP stack row: DistributedDataParallel with 2 gloo ranks on 127.0.0.1 against one process, on the CPU.

One run per layer: two worker processes (:mod:`._ddp_worker`) load the pickled candidate and reference, wrap
each in ``DistributedDataParallel``, run forward and backward on their half of a seeded batch under every backward
engine asked for, and rank 0 saves the averaged parameter gradients. Each side's gradients must equal one
process's gradients of the mean of the two halves' losses; the row then compares the candidate's with the
reference's.
"""

from __future__ import annotations

import copy
import io
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from .inputs import seeded
from .report import reason
from .stack_core import Outcome, Probe, engine_context, outputs, seeded_like

WORLD_SIZE = 2
TIMEOUT_S = 240  # two fresh Python processes import torch and set up gloo: seconds on an idle machine


def ddp_outcomes(sides: dict[str, Probe], engines: Sequence[str], timeout: float = TIMEOUT_S) -> dict:
    """``{(side, engine): Outcome}`` from one 2-rank run; each side's observations are its DDP gradients."""
    probe = next(iter(sides.values()))
    x = _batch(probe.x.cpu())
    args = tuple(a.cpu() for a in probe.args(x))
    payload = {"x": x, "args": args, "engines": list(engines), "sides": {}}
    results: dict = {}
    modules = {}
    for side, p in sides.items():
        try:
            modules[side] = copy.deepcopy(p.module).cpu()  # gloo, on the CPU
            buffer = io.BytesIO()
            torch.save(modules[side], buffer)
            payload["sides"][side] = buffer.getvalue()
        except Exception as e:
            results.update({(side, engine): Outcome(error=e) for engine in engines})
    if not modules:
        return results
    with torch.no_grad():
        shard = outputs(copy.deepcopy(next(iter(modules.values())))(*_shard((x, *args), 0)))[0]
    payload["g"] = g = torch.stack([seeded_like([shard], 1 + r)[0] for r in range(WORLD_SIZE)])  # (ranks, ...)
    ran = _launch(payload, timeout)
    for side, module in modules.items():
        for engine in engines:
            results[(side, engine)] = _judge(ran, side, engine, module, (x, *args), g)
    return results


def _shard(inputs: Sequence[Tensor], rank: int) -> tuple[Tensor, ...]:
    """Rank ``rank``'s half of every input (its batch dim split in ``WORLD_SIZE``)."""
    return tuple(t.chunk(WORLD_SIZE)[rank] for t in inputs)


class RankError(Exception):
    """What a worker rank raised, as ``'Type: message'``."""


def ddp_reason(e: BaseException) -> str:
    return str(e) if isinstance(e, RankError) else reason(e)


def _batch(x: Tensor) -> Tensor:
    """A seeded batch of ``2 * N`` (each rank takes ``N``)."""
    gen = torch.Generator().manual_seed(3)
    return torch.randn((WORLD_SIZE * x.shape[0], *x.shape[1:]), generator=gen, dtype=torch.float64).to(x)


def _judge(ran, side: str, engine: str, module: nn.Module, inputs: Sequence[Tensor], g: Tensor) -> Outcome:
    got = ran.get((side, engine)) if isinstance(ran, dict) else None
    if isinstance(ran, Exception):
        return Outcome(error=ran)
    if isinstance(got, str):
        return Outcome(error=RankError(got))
    expected = _one_process(copy.deepcopy(module), inputs, g, engine)
    for name, want in expected.items():
        if name not in got or not torch.allclose(got[name], want, rtol=1e-5, atol=1e-6 * max(1.0, want.abs().max())):
            err = (got[name] - want).abs().max().item() if name in got else float("nan")
            return Outcome(error=AssertionError(f"DDP's {name} differs from one process's by {err:.2e}"))
    return Outcome(seen=got)


def _one_process(module: nn.Module, inputs: Sequence[Tensor], g: Tensor, engine: str) -> dict[str, Tensor]:
    """One process: the gradients of ``mean over ranks r of <module(half r), g[r]>``, which DDP's averaged
    gradients must equal (each half runs alone, so a layer with batch statistics sees what each rank sees)."""
    params = {n: p for n, p in module.named_parameters() if p.requires_grad}
    with engine_context(engine):
        losses = []
        for r in range(WORLD_SIZE):
            with seeded(r, torch.device("cpu")):  # as rank r seeds its generator: the same dropout masks
                losses.append((outputs(module(*_shard(inputs, r)))[0] * g[r]).sum())
        grads = torch.autograd.grad(sum(losses) / WORLD_SIZE, list(params.values()), allow_unused=True)
    return {f"grad {n}": gr.cpu() for n, gr in zip(params, grads, strict=True) if gr is not None}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(payload: dict, timeout: float):
    """Run the two ranks; their results, or the exception that stopped the run."""
    with tempfile.TemporaryDirectory(prefix="scratchnn-ddp-") as tmp:
        job, result = Path(tmp) / "job.pt", Path(tmp) / "result.pt"
        torch.save(payload, job)
        env = {
            **os.environ,
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(_free_port()),
            "WORLD_SIZE": str(WORLD_SIZE),
            "OMP_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        }
        cmd = [sys.executable, "-m", "scratchnn.testing._ddp_worker", str(job), str(result)]
        procs = [
            subprocess.Popen(cmd, env={**env, "RANK": str(r)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for r in range(WORLD_SIZE)
        ]
        try:
            errs = [p.communicate(timeout=timeout)[1] for p in procs]
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
                p.wait()
            return TimeoutError(f"the {WORLD_SIZE}-process DDP run did not finish in {timeout:.0f} s")
        if any(p.returncode for p in procs) or not result.exists():
            text = next((e.decode(errors="replace").strip() for e in errs if e.strip()), "no output")
            return RuntimeError(f"a DDP worker failed: {text.splitlines()[-1]}")
        return torch.load(result, weights_only=False)
