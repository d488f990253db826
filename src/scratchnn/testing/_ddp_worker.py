"""One rank of the harness's DDP row (see :mod:`.stack_ddp`): ``python -m scratchnn.testing._ddp_worker JOB OUT``.

Reads RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT from the environment; rank 0 saves
``{(side, engine): {"grad NAME": tensor} or "Type: error"}`` to OUT.
"""

from __future__ import annotations

import io
import os
import sys
import warnings

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


def _run_side(blob: bytes, inputs: tuple, g: torch.Tensor, engine: str, rank: int, world: int):
    from .stack_core import engine_context, outputs

    try:
        module = torch.load(io.BytesIO(blob), weights_only=False)
        with engine_context(engine):
            ddp = DistributedDataParallel(module)
            shard = [t.chunk(world)[rank] for t in inputs]  # (N, ...) each
            torch.manual_seed(rank)  # as the one-process run seeds each half
            (outputs(ddp(*shard))[0] * g[rank]).sum().backward()
        return {f"grad {n}": p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}
    except Exception as e:
        text = str(e).strip().splitlines()
        return f"{type(e).__name__}: {text[0] if text else ''}"


def main(job: str, out: str) -> None:
    warnings.simplefilter("ignore")
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        payload = torch.load(job, weights_only=False)
        results = {
            (side, engine): _run_side(blob, (payload["x"], *payload["args"]), payload["g"], engine, rank, world)
            for side, blob in payload["sides"].items()
            for engine in payload["engines"]
        }
        if rank == 0:
            torch.save(results, out)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:3])
