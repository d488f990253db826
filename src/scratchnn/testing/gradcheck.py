"""The harness's gradcheck rows: ``torch.autograd.gradcheck`` / ``gradgradcheck`` of the candidate in float64."""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call

from .inputs import seeded
from .report import CheckRow, reason
from .runs import Plan, as_tuple

FAST_MODE_ABOVE = 2000  # elements in the input and parameters together; above it gradcheck runs in fast mode
# On CUDA, adjoints that add many gradients into one pixel (index_add and scatter_add: the backward of reflect,
# replicate and circular padding and of overlapping windows, in torch's kernels as in ours) use atomic adds, whose
# order varies from run to run: two identical backward passes then differ in the last bits of a float64.
CUDA_NONDETERMINISM = 1e-12


def gradcheck_row(candidate: nn.Module, input_shape: Sequence[int], plan: Plan, gradgradcheck: bool) -> CheckRow:
    """Gradcheck (or gradgradcheck) of the candidate on a float64 batch of two, in ``plan``'s mode.

    Every Jacobian entry is compared for small layers; a layer with more than ``FAST_MODE_ABOVE`` input and
    parameter elements (a whole model) is checked in gradcheck's fast mode, which compares random projections
    ``v^T J u`` instead, and the row says so. gradgradcheck always runs in fast mode. Each call of the layer
    runs from torch's generator seeded alike (a dropout mask stays fixed); a loss's target is held constant.
    """
    model = copy.deepcopy(candidate).to(torch.float64)
    named = [(n, p.detach().clone().requires_grad_()) for n, p in model.named_parameters()]
    g = torch.Generator().manual_seed(0)
    x = torch.randn((2, *input_shape[1:]), generator=g, dtype=torch.float64).to(plan.device).requires_grad_()
    extras = tuple(t.detach() for t in plan.extras(x))

    def fn(x: Tensor, *params: Tensor) -> tuple[Tensor, ...]:
        with seeded(plan.seed, plan.device):
            out = functional_call(model, {n: p for (n, _), p in zip(named, params, strict=True)}, (x.clone(), *extras))
        return tuple(o for o in as_tuple(out) if o.is_floating_point())

    inputs = (x, *(p for _, p in named))
    fast = gradgradcheck or sum(t.numel() for t in inputs) > FAST_MODE_ABOVE
    name = "gradgradcheck (float64)" if gradgradcheck else "gradcheck (float64" + (", fast mode)" if fast else ")")
    try:
        check = torch.autograd.gradgradcheck if gradgradcheck else torch.autograd.gradcheck
        nondet_tol = CUDA_NONDETERMINISM if x.is_cuda else 0.0
        ok, detail = check(fn, inputs, fast_mode=fast, nondet_tol=nondet_tol), ""
    except Exception as e:
        ok, detail = False, _name_inputs(reason(e), ["the input", *(f"parameter {n!r}" for n, _ in named)])
    return plan.row(plan.name(name), bool(ok), detail)


def _name_inputs(text: str, names: Sequence[str]) -> str:
    """``... with respect to input 1`` -> ``... with respect to input 1 (parameter 'weight')``."""

    def named(match: re.Match) -> str:
        i = int(match.group(1))
        return f"{match.group(0)} ({names[i]})" if i < len(names) else match.group(0)

    return re.sub(r"\binput (\d+)\b", named, text)
