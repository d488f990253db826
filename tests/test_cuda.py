"""The same layer checks on a CUDA device; skipped where there is none (CI has no GPU)."""

import pytest
import torch

from scratchnn.models import CNN
from scratchnn.testing import check_layer
from scratchnn.testing.grid import GRID

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


@pytest.fixture(autouse=True)
def full_float32(monkeypatch):
    """cuDNN convolutions default to TF32; compare against true float32 like the CPU tests do."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)


@pytest.mark.parametrize("case", GRID, ids=lambda c: c.name)
def test_layer_matches_torch_on_cuda(case):
    candidate, reference = case.build()
    report = check_layer(candidate, reference, case.input_shape, device="cuda", gradgradcheck=True)
    assert report.passed, report.format()


def test_cnn_twins_match_on_cuda():
    torch.manual_seed(0)
    ours = CNN("scratch").cuda()
    torch.manual_seed(0)
    theirs = CNN("torch").cuda()
    x = torch.randn(8, 1, 28, 28, device="cuda")
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-4, atol=1e-5)
