"""The plane path (functional/_plane.py): exact against torch.nn at any block size and stride, and it never builds the
whole batch's k²-sized column matrix."""

import pytest
import torch
import torch.nn.functional as F

import scratchnn.functional as SF
from scratchnn._dtypes import surely_finite
from scratchnn.functional import _plane
from scratchnn.perf import cpu_peak_bytes

# (N, C, O, H, W, kernel, padding, dilation, groups, padding_mode, stride)
CASES = [
    (3, 4, 6, 7, 9, 3, 1, 1, 1, "zeros", 1),
    (2, 4, 6, 8, 5, (3, 2), (2, 0), (2, 1), 2, "zeros", 1),
    (2, 2, 4, 6, 6, 3, 2, 1, 2, "reflect", 1),
    (1, 3, 3, 5, 7, (2, 3), (1, 2), (1, 2), 3, "circular", 1),
    (2, 2, 2, 5, 5, 3, 1, 2, 1, "replicate", 1),
    (2, 2, 4, 4, 4, 3, 5, 1, 1, "zeros", 1),  # padding wider than the kernel
    (1, 2, 2, 1, 1, 1, 0, 1, 1, "zeros", 1),  # 1x1 kernel on a 1x1 image
    (2, 3, 16, 6, 7, 3, 1, 1, 1, "zeros", 1),  # 16 output channels: GEMM results transposed on the CPU
    (2, 4, 32, 5, 6, (2, 3), 1, (1, 2), 2, "reflect", 1),  # and 16 per group
    (3, 4, 6, 9, 9, 3, 1, 1, 1, "zeros", 2),  # a ResNet's downsampling conv; the padded size rounds up to phases
    (2, 4, 16, 10, 7, 3, 1, 1, 2, "zeros", (2, 3)),  # a stride as wide as the kernel
    (2, 2, 4, 11, 9, (3, 2), (1, 0), (3, 1), 1, "reflect", 2),  # dilation 3, stride 2: taps 0 and 2 share a phase
    (1, 3, 6, 8, 8, 4, 2, 1, 3, "circular", (3, 2)),
    (2, 4, 4, 6, 6, 2, 1, 1, 1, "replicate", 2),  # one tap per phase
    (2, 2, 3, 3, 3, 3, 0, 1, 1, "zeros", 2),  # one output pixel
]


@pytest.mark.parametrize("shifted_min_channels", [1, 1 << 20])  # shifted products always, block columns always
@pytest.mark.parametrize("transposed_min_rows", [1, 16, 1 << 20])  # every GEMM result transposed, some, none
@pytest.mark.parametrize("block_bytes", [8, 1000, 1 << 21])  # a column or less per block, a few rows, one block
@pytest.mark.parametrize("case", CASES, ids=str)
def test_plane_conv_matches_torch_at_any_block_size(
    case, block_bytes, transposed_min_rows, shifted_min_channels, monkeypatch
):
    monkeypatch.setattr(_plane, "CPU_BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(_plane, "TRANSPOSED_MIN_ROWS", transposed_min_rows)
    monkeypatch.setattr(_plane, "SHIFTED_MIN_CHANNELS", shifted_min_channels)
    N, C, O, H, W, kernel, padding, dilation, groups, mode, stride = case
    gen = torch.Generator().manual_seed(0)
    kH, kW = (kernel, kernel) if isinstance(kernel, int) else kernel
    x = torch.randn(N, C, H, W, dtype=torch.float64, generator=gen, requires_grad=True)
    weight = torch.randn(O, C // groups, kH, kW, dtype=torch.float64, generator=gen, requires_grad=True)
    bias = torch.randn(O, dtype=torch.float64, generator=gen, requires_grad=True)
    ref_layer = torch.nn.Conv2d(C, O, kernel, stride, padding, dilation, groups, padding_mode=mode)
    ref_layer = ref_layer.double()
    with torch.no_grad():
        ref_layer.weight.copy_(weight)
        ref_layer.bias.copy_(bias)
    ref = ref_layer(x)
    ours = SF.conv2d(x, weight, bias, stride, padding, dilation, groups, padding_mode=mode, backward="manual")
    assert ours.grad_fn.name() == "Conv2dFunctionBackward"
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    g = torch.randn(ref.shape, dtype=torch.float64, generator=gen)
    expected = torch.autograd.grad(ref, (x, ref_layer.weight, ref_layer.bias), g)
    for got, want in zip(torch.autograd.grad(ours, (x, weight, bias), g), expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
        assert got.is_contiguous()


def test_gemm_results_are_transposed_on_the_cpu_from_16_rows():
    x = torch.empty(3)
    assert _plane.gemm_result(x, (2, 15, 40), 15).is_contiguous()
    transposed = _plane.gemm_result(x.double(), (2, 16, 40), 16)
    assert transposed.shape == (2, 16, 40) and transposed.dtype == torch.float64
    assert transposed.stride() == (640, 1, 16)


def test_conv_memory_stays_far_below_the_column_matrix():
    """The study's second conv at batch 256: its column matrix alone would be 46 MB, four times what torch.nn's
    forward and backward take together; ours stay under 2.5x torch's."""
    x = torch.randn(256, 8, 15, 15, requires_grad=True)
    weight = torch.randn(16, 8, 5, 5, requires_grad=True)

    def peak(conv):
        return cpu_peak_bytes(lambda _: conv(x, weight, padding=2).sum().backward())

    ours, theirs = peak(lambda *a, **k: SF.conv2d(*a, **k, backward="manual")), peak(F.conv2d)
    assert 4 * theirs < 8 * 25 * 256 * 15 * 15 * 4
    assert ours < 2.5 * theirs, (ours, theirs)


def test_cnn_training_step_peak_memory_is_within_the_target():
    """A CNN training step at batch 256 takes at most 1.1x the peak memory of torch.nn's (the worker threads'
    buffers included: see the next test)."""
    from scratchnn.perf.cases import CASES
    from scratchnn.perf.memory import peak_bytes
    from scratchnn.perf.tasks import build_tasks

    case = next(c for c in CASES if c.name == "step.cnn.b256")
    tasks = build_tasks(case, "step", torch.device("cpu"))
    cpu = torch.device("cpu")
    ours, theirs = peak_bytes(tasks["scratch-manual"], cpu), peak_bytes(tasks["torch"], cpu)
    assert ours <= 1.1 * theirs, (ours / 1e6, theirs / 1e6)


def test_strided_convs_read_every_phase_on_the_plane_without_whole_batch_columns(monkeypatch):
    """A 3x3 stride-2 conv (a ResNet's downsampling one) runs forward and backward on its four phase planes; the
    whole batch's columns are never built."""

    def forbidden(*args):
        raise AssertionError("the whole-batch columns were built")

    monkeypatch.setattr(SF.conv, "columns", forbidden)
    x = torch.randn(4, 8, 9, 9, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(16, 8, 3, 3, dtype=torch.float64, requires_grad=True)
    ours = SF.conv2d(x, weight, stride=2, padding=1, backward="manual")
    grads = torch.autograd.grad(ours.square().sum(), (x, weight))
    ref = F.conv2d(x, weight, stride=2, padding=1)
    torch.testing.assert_close(ours, ref)
    for got, want in zip(grads, torch.autograd.grad(ref.square().sum(), (x, weight)), strict=True):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize(
    ("kernel", "stride", "dilation"), [(1, 2, 1), ((3, 1), (1, 2), 1), (3, 2, 2)], ids=["1x1", "3x1", "dilated"]
)
def test_strides_that_leave_phases_unread_keep_the_reference_columns(kernel, stride, dilation, monkeypatch):
    """A stride larger than the kernel, or sharing a factor with the dilation, leaves phase planes no tap reads:
    those convolutions keep the whole-batch columns (a 1x1 stride-2 conv's are one strided copy of a quarter of
    the input)."""

    def on_plane(*args):
        raise AssertionError("the conv took the plane path")

    monkeypatch.setattr(SF.conv, "conv2d_plane", on_plane)
    x = torch.randn(2, 3, 9, 9, requires_grad=True)
    weight = torch.randn(4, 3, *((kernel, kernel) if isinstance(kernel, int) else kernel), requires_grad=True)
    ours = SF.conv2d(x, weight, stride=stride, dilation=dilation, backward="manual")
    torch.testing.assert_close(ours, F.conv2d(x, weight, stride=stride, dilation=dilation))


@pytest.mark.parametrize("where", ["input", "weight"])
@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_non_finite_values_spread_only_where_torch_spreads_them(where, value):
    """The discarded edge columns pair a zero gradient with real pixels and weights; an infinite one must not turn
    that zero into NaN in gradients that torch keeps finite."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 2, 5, 6, dtype=torch.float64, generator=gen)
    weight = torch.randn(3, 2, 2, 3, dtype=torch.float64, generator=gen)
    if where == "input":
        x[0, 1, 2, 5] = value  # the last column: read by the next row's edge columns in the plane
    else:
        weight[1, 0, 0, 2] = value
    grad = torch.randn(2, 3, 6, 6, dtype=torch.float64, generator=gen)
    results = []
    for conv in (F.conv2d, lambda *a, **k: SF.conv2d(*a, **k, backward="manual")):
        xs, ws = x.clone().requires_grad_(), weight.clone().requires_grad_()
        out = conv(xs, ws, padding=(1, 1))
        results.append((out, *torch.autograd.grad(out, (xs, ws), grad)))
    for ours, theirs in zip(results[1], results[0], strict=True):
        torch.testing.assert_close(ours, theirs, equal_nan=True)


def test_finite_values_whose_sum_overflows_take_the_exact_path(monkeypatch):
    """The backward checks for infinities by one sum; finite pixels whose sum overflows (3.5e41 here) fail that
    check and take the whole-batch columns, and still give torch's gradients."""
    on_plane = []
    monkeypatch.setattr(SF.conv, "conv2d_plane_backward", lambda *a: on_plane.append(a))
    x = torch.full((4, 3, 9, 9), 1e38).requires_grad_()
    weight = torch.full((2, 3, 3, 3), 1e-3, requires_grad=True)
    assert not surely_finite(x) and bool(torch.isfinite(x).all())
    grads = []
    for conv in (F.conv2d, lambda *a, **k: SF.conv2d(*a, **k, backward="manual")):
        out = conv(x, weight, padding=1)
        grads.append((out, *torch.autograd.grad(out, (x, weight), torch.ones_like(out))))
    assert not on_plane
    for ours, theirs in zip(grads[1], grads[0], strict=True):
        torch.testing.assert_close(ours, theirs, equal_nan=True)


@pytest.mark.parametrize("shifted_min_channels", [8, 1 << 20])  # shifted products, block columns
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_sums_are_kept_in_float32(dtype, shifted_min_channels, monkeypatch):
    """Many blocks and 25 shifted products per output: the output, dL/dx and dL/dW in float16 and bfloat16 stay as
    close to the float64 truth as torch.nn's (every sum is float32, rounded once; summed in the input's dtype,
    dL/dx and the output come out 2-4x further off)."""
    monkeypatch.setattr(_plane, "CPU_BLOCK_BYTES", 8 << 10)  # about a hundred blocks
    monkeypatch.setattr(_plane, "SHIFTED_MIN_CHANNELS", shifted_min_channels)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 8, 15, 15, dtype=torch.float64, generator=gen)
    weight = torch.randn(16, 8, 5, 5, dtype=torch.float64, generator=gen) / 10
    bias = torch.randn(16, dtype=torch.float64, generator=gen)
    grad = torch.randn(64, 16, 15, 15, dtype=torch.float64, generator=gen)

    def run(conv, dtype):
        xs, w = x.to(dtype).requires_grad_(), weight.to(dtype).requires_grad_()
        out = conv(xs, w, bias.to(dtype), padding=2)
        return [t.double() for t in (out, *torch.autograd.grad(out, (xs, w), grad.to(dtype)))]

    truth = run(F.conv2d, torch.float64)
    ours = run(lambda *a, **k: SF.conv2d(*a, **k, backward="manual"), dtype)
    theirs = run(F.conv2d, dtype)
    for name, t, o, r in zip(("output", "dL/dx", "dL/dW"), truth, ours, theirs, strict=True):
        error = lambda v, t=t: ((v - t).norm() / t.norm()).item()  # noqa: E731
        assert error(o) <= 1.5 * error(r) + 1e-3, (name, error(o), error(r))


@pytest.mark.parametrize("stride", [1, 2])  # the plane path and the whole-batch columns
def test_bias_alone_needs_no_convolution_backward(stride, monkeypatch):
    """A frozen input and weight: the bias's gradient is a sum of the output gradient, and nothing is laid out or
    multiplied for the others."""

    def forbidden(*args):
        raise AssertionError("the weight/input backward ran")

    for name in ("conv2d_plane_backward", "_grad_input"):
        monkeypatch.setattr(SF.conv, name, forbidden)
    x, weight = torch.randn(2, 3, 7, 7), torch.randn(4, 3, 3, 3)
    bias = torch.randn(4, requires_grad=True)
    out = SF.conv2d(x, weight, bias, stride=stride, padding=1, backward="manual")
    grad = torch.randn(out.shape)
    (got,) = torch.autograd.grad(out, bias, grad)
    torch.testing.assert_close(got, grad.sum((0, 2, 3)))
