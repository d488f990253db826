"""On a CUDA device: every built-in layer's stack rows (compile, export, ONNX, torch.func, autocast in float16,
channels_last, pickle, meta device), and the normalisation, transposed, adaptive and loss layers against their
torch.nn twins — values, gradients, buffers, float16 autocast dtypes and an inductor-compiled step. Skipped where
there is no CUDA device (CI has none)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import scratchnn
from scratchnn.functional import BACKWARDS
from scratchnn.testing import check_layer
from scratchnn.testing.grid import GRID
from scratchnn.testing.stack import DDP_ROW, select

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

ROWS = [row for row in select(True) if row != DDP_ROW]  # DDP's rows need two GPUs for nccl


@pytest.fixture(autouse=True)
def full_float32(monkeypatch):
    """cuDNN and cuBLAS default to TF32; compare in true float32 as the CPU tests do."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)


@pytest.mark.parametrize("case", GRID, ids=lambda c: c.name)
def test_stack_rows_pass_on_cuda(case):
    candidate, reference = case.build()
    report = check_layer(candidate, reference, case.input_shape, device="cuda", gradcheck=False, stack=ROWS)
    failed = [f"{r.engine} {r.check}: {r.detail}" for r in report.rows if r.status == "FAIL"]
    assert not failed, failed


# name: (ours(backward), torch's, input shape); the twins share weights through the state dict
LAYERS = {
    "BatchNorm2d": (lambda b: scratchnn.BatchNorm2d(6, backward=b), lambda: nn.BatchNorm2d(6), (8, 6, 9, 9)),
    "BatchNorm1d": (lambda b: scratchnn.BatchNorm1d(6, backward=b), lambda: nn.BatchNorm1d(6), (8, 6)),
    "LayerNorm": (lambda b: scratchnn.LayerNorm((9, 9), backward=b), lambda: nn.LayerNorm((9, 9)), (8, 6, 9, 9)),
    "GroupNorm": (lambda b: scratchnn.GroupNorm(3, 6, backward=b), lambda: nn.GroupNorm(3, 6), (8, 6, 9, 9)),
    "ConvTranspose2d": (
        lambda b: scratchnn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1, groups=2, backward=b),
        lambda: nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1, groups=2),
        (8, 6, 9, 9),
    ),
    "AdaptiveAvgPool2d": (
        lambda b: scratchnn.AdaptiveAvgPool2d((4, 3), backward=b),
        lambda: nn.AdaptiveAvgPool2d((4, 3)),
        (8, 6, 9, 9),
    ),
}


def twins(name: str, backward: str):
    ours, theirs, shape = LAYERS[name]
    torch.manual_seed(0)
    ours = ours(backward).cuda()
    theirs = theirs().cuda()
    with torch.no_grad():
        for p in ours.parameters():
            p.uniform_(-2, 2)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1)).cuda()
    return ours, theirs, x


def run(model: nn.Module, x: torch.Tensor):
    """Output, input gradient and parameter gradients of a fixed weighted sum, then the buffers."""
    x = x.detach().clone().requires_grad_()
    out = model(x)
    (out.float() * torch.linspace(-1, 1, out.numel(), device=x.device).reshape(out.shape)).sum().backward()
    grads = [x.grad, *(p.grad for p in model.parameters())]
    model.zero_grad()
    return [out.detach(), *grads, *model.buffers()]


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("name", LAYERS)
def test_new_layers_match_torch_on_cuda_in_train_and_eval(name, backward):
    ours, theirs, x = twins(name, backward)
    for mode in ("train", "eval"):
        getattr(ours, mode)(), getattr(theirs, mode)()
        for a, b in zip(run(ours, x), run(theirs, x), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("name", LAYERS)
def test_new_layers_under_float16_autocast_follow_torchs_dtypes(name, backward):
    ours, theirs, x = twins(name, backward)
    with torch.autocast("cuda", torch.float16):
        mine, yours = run(ours, x), run(theirs, x)
    assert [t.dtype for t in mine] == [t.dtype for t in yours]
    for a, b in zip(mine, yours, strict=True):
        scale = max(1.0, b.abs().max().item())
        torch.testing.assert_close(a, b, rtol=1e-2, atol=1e-2 * scale)


GROUPED_TRANSPOSED_INDUCTOR = pytest.mark.xfail(
    reason="seen with torch 2.11 on an H200: the inductor-compiled input gradient of this grouped ConvTranspose2d "
    "under the manual engine differs from torch.nn's (cause not established; the CPU passes)",
    strict=False,
)


@pytest.mark.parametrize(
    ("name", "backward"),
    [
        ("BatchNorm2d", "manual"),
        ("BatchNorm2d", "autograd"),
        pytest.param("ConvTranspose2d", "manual", marks=GROUPED_TRANSPOSED_INDUCTOR),
        ("ConvTranspose2d", "autograd"),
    ],
)
def test_new_layers_compile_with_inductor_on_cuda(name, backward):
    ours, theirs, x = twins(name, backward)
    compiled = torch.compile(ours, fullgraph=True)
    for a, b in zip(run(compiled, x), run(theirs, x), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("backward", BACKWARDS)
@pytest.mark.parametrize("target", ["indices", "probabilities"])
def test_cross_entropy_matches_torch_on_cuda(target, backward):
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(16, 5, generator=g).cuda()
    if target == "indices":
        y = torch.randint(0, 5, (16,), generator=g).cuda()
    else:
        y = torch.randn(16, 5, generator=g).softmax(1).cuda()
    weight = torch.rand(5, generator=g).cuda()
    kwargs = {"weight": weight, "label_smoothing": 0.1}
    ours = scratchnn.CrossEntropyLoss(**kwargs, backward=backward)
    theirs = nn.CrossEntropyLoss(**kwargs)
    results = []
    for loss in (ours, theirs):
        z = logits.clone().requires_grad_()
        value = loss(z, y)
        value.backward()
        results.append((value.detach(), z.grad))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
