"""Edge cases where scratchnn once parted from torch: each compared with torch directly."""

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as TF

import scratchnn.functional as F


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
def test_ceil_mode_window_wider_than_the_input_gives_torchs_output(op):
    x = torch.randn(1, 2, 2, 2, requires_grad=True)
    ours, theirs = getattr(F, op)(x, 3, 2, ceil_mode=True), getattr(TF, op)(x, 3, 2, ceil_mode=True)
    torch.testing.assert_close(ours, theirs)
    g = torch.randn_like(theirs)
    torch.testing.assert_close(torch.autograd.grad(ours, x, g)[0], torch.autograd.grad(theirs, x, g)[0])


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
def test_ceil_mode_with_no_window_at_all_is_an_error_in_both(op):
    x = torch.randn(1, 2, 1, 1)
    with pytest.raises(RuntimeError, match="Output size is too small"):
        getattr(TF, op)(x, 3, 2, ceil_mode=True)
    with pytest.raises(RuntimeError, match=r"output size .* is too small"):
        getattr(F, op)(x, 3, 2, ceil_mode=True)


def test_relu_passes_the_gradient_of_nan_like_torch():
    x = torch.tensor([float("nan"), 1.0, -1.0, 0.0], requires_grad=True)
    ours = torch.autograd.grad(F.relu(x).sum(), x)[0]
    assert torch.equal(ours, torch.autograd.grad(torch.relu(x).sum(), x)[0])


@pytest.mark.parametrize("op", ["relu", "sigmoid", "tanh"])
def test_integer_input_behaves_like_torch(op):
    x = torch.tensor([[-3, 0, 2]])
    ours, theirs = getattr(F, op)(x), getattr(torch, op)(x)
    assert ours.dtype == theirs.dtype
    torch.testing.assert_close(ours, theirs)


def test_resume_pointed_at_a_file_is_a_one_line_error(tmp_path):
    not_a_run = tmp_path / "file.txt"
    not_a_run.write_text("hello")
    result = subprocess.run(
        [sys.executable, "-m", "scratchnn", "train", "--resume", str(not_a_run)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "cannot resume" in result.stderr
    assert not_a_run.read_text() == "hello"
