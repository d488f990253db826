"""Parallel shares (functional/_parallel.py): the plane path's loops split over single-threaded workers, with the
same results as one loop, the caller's thread settings left as they were, and no hang in a forked child."""

from __future__ import annotations

import multiprocessing
import threading

import pytest
import torch
import torch.nn.functional as F

import scratchnn.functional as SF
from scratchnn.functional import _parallel
from scratchnn.functional import _plane as plane
from scratchnn.perf import cpu_peak_bytes


@pytest.fixture
def two_threads():
    """Two intra-op threads in the calling thread (the machine's default on 2 cores), restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def conv_and_grads(x, weight, **kwargs):
    x, weight = x.clone().requires_grad_(), weight.clone().requires_grad_()
    out = SF.conv2d(x, weight, **kwargs, backward="manual")
    return (out, *torch.autograd.grad(out, (x, weight), torch.linspace(-1, 1, out.numel()).view(out.shape)))


@pytest.mark.parametrize(
    "kwargs", [{"padding": 2}, {"stride": 2, "padding": 1}, {"padding": 1, "groups": 2}], ids=["s1", "s2", "grouped"]
)
def test_shares_give_the_results_of_one_loop(kwargs, two_threads, monkeypatch):
    gen = torch.Generator().manual_seed(0)
    k = 3 if "stride" in kwargs else 5
    x = torch.randn(16, 8, 11, 11, dtype=torch.float64, generator=gen)
    weight = torch.randn(16, 8 // kwargs.get("groups", 1), k, k, dtype=torch.float64, generator=gen)
    shared = conv_and_grads(x, weight, **kwargs)
    monkeypatch.setattr(_parallel, "shares", lambda device: 1)
    single = conv_and_grads(x, weight, **kwargs)
    for a, b in zip(shared, single, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-13)


def test_workers_run_single_threaded_and_leave_the_callers_threads_alone(two_threads):
    x, weight = torch.randn(4, 8, 9, 9), torch.randn(8, 8, 3, 3)
    SF.conv2d(x, weight, padding=1, backward="manual")  # starts the workers
    seen = _parallel.run_shares(list(range(4)), lambda share: torch.__config__.parallel_info(), torch.device("cpu"))
    assert len(seen) == 2
    for info in seen:  # OpenMP's and MKL's counts, as each worker sees them
        assert "at::get_num_threads() : 1" in info and "omp_get_max_threads() : 1" in info
        assert "mkl_get_max_threads" not in info or "mkl_get_max_threads() : 1" in info
    info = torch.__config__.parallel_info()
    assert "omp_get_max_threads() : 2" in info and (
        "mkl_get_max_threads" not in info or "mkl_get_max_threads() : 2" in info
    )
    fresh = []  # a thread that has not used torch yet takes the process's default: still 2
    thread = threading.Thread(target=lambda: fresh.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    assert fresh == [2]


def test_one_thread_runs_the_loop_in_the_caller():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        names = _parallel.run_shares([1, 2, 3], lambda share: threading.current_thread().name, torch.device("cpu"))
    finally:
        torch.set_num_threads(before)
    assert names == [threading.current_thread().name]


def test_an_error_in_a_share_reaches_the_caller(two_threads):
    def work(share):
        if 3 in share:
            raise ValueError("share with 3")
        return share

    with pytest.raises(ValueError, match="share with 3"):
        _parallel.run_shares([1, 2, 3, 4], work, torch.device("cpu"))


def test_inference_mode_reaches_the_workers(two_threads):
    """Under inference_mode the kernel's buffers are inference tensors, which only inference mode may write to."""
    x, weight = torch.randn(4, 8, 9, 9), torch.randn(16, 8, 3, 3)
    with torch.inference_mode():
        out = SF.conv2d(x, weight, stride=2, padding=1, backward="manual")
    torch.testing.assert_close(out, F.conv2d(x, weight, stride=2, padding=1))


def _conv_in_child(queue) -> None:
    torch.set_num_threads(2)
    x, weight = torch.ones(2, 8, 6, 6), torch.ones(8, 8, 3, 3)
    queue.put(SF.conv2d(x, weight, padding=1, backward="manual").sum().item())


def test_a_forked_child_starts_its_own_workers(two_threads):
    SF.conv2d(torch.randn(2, 8, 6, 6), torch.randn(8, 8, 3, 3), padding=1, backward="manual")  # parent's workers
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_conv_in_child, args=(queue,))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0, "the child hung or failed"
    expected = F.conv2d(torch.ones(2, 8, 6, 6), torch.ones(8, 8, 3, 3), padding=1).sum().item()
    assert queue.get(timeout=5) == expected


def test_weight_gradients_repeat_bit_for_bit(two_threads):
    """Threads take blocks in whatever order they come free, but dL/dW sums fixed chunks in a fixed order: the same
    input gives the same bits every time, as torch's convolution does."""
    gen = torch.Generator().manual_seed(0)
    x, weight = torch.randn(64, 8, 15, 15, generator=gen), torch.randn(16, 8, 5, 5, generator=gen)
    first = conv_and_grads(x, weight, padding=2)
    for _ in range(5):
        for a, b in zip(conv_and_grads(x, weight, padding=2), first, strict=True):
            assert torch.equal(a, b)


def test_the_environment_can_keep_every_loop_in_the_caller(two_threads, monkeypatch):
    monkeypatch.setenv("SCRATCHNN_PARALLEL_SHARES", "0")
    names = _parallel.run_shares([1, 2, 3, 4], lambda share: threading.current_thread().name, torch.device("cpu"))
    assert names == [threading.current_thread().name]
    x, weight = torch.randn(4, 8, 9, 9, dtype=torch.float64), torch.randn(8, 8, 3, 3, dtype=torch.float64)
    torch.testing.assert_close(SF.conv2d(x, weight, padding=1, backward="manual"), F.conv2d(x, weight, padding=1))


def test_the_worker_threads_buffers_are_counted_where_the_profiler_sees_them(two_threads, monkeypatch):
    """The profiler records only the profiled thread's allocations and frees. Every thread's block buffer is
    allocated and freed in the calling thread, so two threads show the peak one does (the buffers share one
    budget), over two calls in a row (a free the profiler missed would pile up)."""
    monkeypatch.setattr(plane, "CPU_BLOCK_BYTES", 1 << 20)
    x, w, g = torch.randn(256, 8, 15, 15), torch.randn(16, 8, 5, 5), torch.randn(256, 16, 15, 15)  # shared loops

    def twice(_):
        for _ in range(2):
            plane.conv2d_plane_backward(g, x, w, (1, 1), (2, 2, 2, 2), "zeros", (1, 1), 1, (False, True))

    two = cpu_peak_bytes(twice)
    monkeypatch.setenv("SCRATCHNN_PARALLEL_SHARES", "0")
    one = cpu_peak_bytes(twice)
    assert abs(two - one) < 0.25 * (1 << 20), (two, one)


def test_max_pooling_split_over_the_batch_matches_torch(two_threads):
    """The tap-by-tap pooling runs in blocks of samples on the shares: values, indices (NaN windows included)
    and the gradient are torch's."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 8, 30, 30, generator=g)
    x[3, 2, 4, 5] = x[200, 7, 10, 11] = float("nan")
    assert len(_parallel.sample_blocks((256, 8, 15, 15), x.device)) > 2
    ours = SF.max_pool2d(x.requires_grad_(), 2, return_indices=True, backward="manual")
    theirs = F.max_pool2d(x, 2, return_indices=True)
    torch.testing.assert_close(ours[0], theirs[0], equal_nan=True, rtol=0, atol=0)
    assert torch.equal(ours[1], theirs[1])
    grad = torch.randn(ours[0].shape, generator=g)
    torch.testing.assert_close(*(torch.autograd.grad(out[0], x, grad)[0] for out in (ours, theirs)), rtol=0, atol=0)


def test_a_loop_too_small_to_share_runs_in_the_caller(two_threads, monkeypatch):
    """Below ``MIN_SHARE_COLUMNS`` output columns per thread a loop stays in the caller (handing small blocks to a
    thread costs more than it saves); the study's second conv at batch 256 is shared."""
    pools = []
    real = _parallel._pool
    monkeypatch.setattr(_parallel, "_pool", lambda workers: pools.append(workers) or real(workers))
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(8, 16, 7, 7, generator=g), torch.randn(16, 16, 3, 3, generator=g)
    out, grad_x, grad_w = conv_and_grads(x, w, padding=1)
    xt, wt = x.clone().requires_grad_(), w.clone().requires_grad_()
    expected = F.conv2d(xt, wt, padding=1)
    torch.testing.assert_close(out, expected)
    for got, want in zip(
        (grad_x, grad_w),
        torch.autograd.grad(expected, (xt, wt), torch.linspace(-1, 1, out.numel()).view(out.shape)),
        strict=True,
    ):
        torch.testing.assert_close(got, want)
    assert pools == []
    conv_and_grads(torch.randn(256, 8, 15, 15, generator=g), torch.randn(16, 8, 5, 5, generator=g), padding=2)
    assert pools
