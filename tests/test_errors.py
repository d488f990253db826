"""Every misuse raises the exception class torch raises for it, with a message naming the argument and value.

Each misuse is written once, against a namespace pair ``(nn, F)``, and run on ``(torch.nn, torch.nn.functional)``
to learn torch's exception class, then on ``(scratchnn, scratchnn.functional)``.
"""

import re

import pytest
import torch

import scratchnn
import scratchnn.functional

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # torch warns on zero-size kernels

X = torch.randn(2, 4, 6, 6)  # (N, C, H, W)
W = torch.randn(2, 4, 3, 3)  # (O, C, kH, kW)

# id: (the misuse, given (nn, F); a regex our message must match: the argument and the value received)
MISUSES = {
    # non-positive kernel, stride, dilation
    "conv-kernel-0": (lambda nn, F: nn.Conv2d(4, 2, 0)(X), r"kernel_size.*\(0, 0\)"),
    "conv-kernel-negative": (lambda nn, F: nn.Conv2d(4, 2, (3, -1))(X), r"kernel_size.*\(3, -1\)"),
    "maxpool-kernel-0": (lambda nn, F: nn.MaxPool2d(0)(X), r"kernel_size.*\(0, 0\)"),
    "avgpool-kernel-negative": (lambda nn, F: nn.AvgPool2d(-1)(X), r"kernel_size.*\(-1, -1\)"),
    "F.max_pool2d-kernel-0": (lambda nn, F: F.max_pool2d(X, (2, 0)), r"kernel_size.*\(2, 0\)"),
    "F.avg_pool2d-kernel-0": (lambda nn, F: F.avg_pool2d(X, 0), r"kernel_size.*\(0, 0\)"),
    "conv-stride-0": (lambda nn, F: nn.Conv2d(4, 2, 3, stride=0)(X), r"stride.*\(0, 0\)"),
    "F.conv2d-stride-negative": (lambda nn, F: F.conv2d(X, W, stride=(1, -1)), r"stride.*\(1, -1\)"),
    "maxpool-stride-0": (lambda nn, F: nn.MaxPool2d(2, stride=0)(X), r"stride.*\(0, 0\)"),
    "avgpool-stride-negative": (lambda nn, F: nn.AvgPool2d(2, stride=-2)(X), r"stride.*\(-2, -2\)"),
    "F.avg_pool2d-stride-0": (lambda nn, F: F.avg_pool2d(X, 2, stride=(1, 0)), r"stride.*\(1, 0\)"),
    "conv-dilation-0": (lambda nn, F: nn.Conv2d(4, 2, 3, dilation=0)(X), r"dilation.*\(0, 0\)"),
    "F.conv2d-dilation-negative": (lambda nn, F: F.conv2d(X, W, dilation=-1), r"dilation.*\(-1, -1\)"),
    "maxpool-dilation-0": (lambda nn, F: nn.MaxPool2d(2, dilation=0)(X), r"dilation.*\(0, 0\)"),
    "F.max_pool2d-dilation-negative": (lambda nn, F: F.max_pool2d(X, 2, dilation=-2), r"dilation.*\(-2, -2\)"),
    # negative padding; pooling padding above half the kernel
    "conv-padding-negative": (lambda nn, F: nn.Conv2d(4, 2, 3, padding=-1)(X), r"padding.*\(-1, -1\)"),
    "F.conv2d-padding-negative": (lambda nn, F: F.conv2d(X, W, padding=(0, -1)), r"padding.*\(0, -1\)"),
    "maxpool-padding-negative": (lambda nn, F: nn.MaxPool2d(2, padding=-1)(X), r"padding.*\(-1, -1\)"),
    "F.avg_pool2d-padding-negative": (lambda nn, F: F.avg_pool2d(X, 2, padding=-1), r"padding.*\(-1, -1\)"),
    "maxpool-padding-above-half": (lambda nn, F: nn.MaxPool2d(2, padding=2)(X), r"padding=\(2, 2\).*\(2, 2\)"),
    "avgpool-padding-above-half": (lambda nn, F: nn.AvgPool2d(3, padding=2)(X), r"padding=\(2, 2\).*\(3, 3\)"),
    "F.max_pool2d-padding-above-half": (
        lambda nn, F: F.max_pool2d(X, (3, 2), padding=(1, 2)),
        r"padding=\(1, 2\).*\(3, 2\)",
    ),
    # padding strings and modes
    "conv-same-strided": (lambda nn, F: nn.Conv2d(4, 2, 3, stride=2, padding="same"), r"'same'.*stride=\(2, 2\)"),
    "F.conv2d-same-strided": (lambda nn, F: F.conv2d(X, W, stride=(1, 2), padding="same"), r"'same'.*\(1, 2\)"),
    "conv-padding-string": (lambda nn, F: nn.Conv2d(4, 2, 3, padding="full"), r"padding.*'full'"),
    "F.conv2d-padding-string": (lambda nn, F: F.conv2d(X, W, padding="full"), r"padding.*'full'"),
    "conv-padding-mode": (lambda nn, F: nn.Conv2d(4, 2, 3, padding_mode="mirror"), r"padding_mode='mirror'"),
    # groups
    "conv-groups-in-channels": (lambda nn, F: nn.Conv2d(4, 6, 3, groups=3), r"in_channels=4.*groups=3"),
    "conv-groups-out-channels": (lambda nn, F: nn.Conv2d(4, 3, 3, groups=2), r"out_channels=3.*groups=2"),
    "F.conv2d-groups-out-channels": (
        lambda nn, F: F.conv2d(X, torch.randn(3, 2, 3, 3), groups=2),
        r"out_channels=3.*groups=2",
    ),
    "conv-groups-0": (lambda nn, F: nn.Conv2d(4, 2, 3, groups=0), r"groups=0"),
    "conv-groups-negative": (lambda nn, F: nn.Conv2d(4, 2, 3, groups=-1), r"groups=-1"),
    "F.conv2d-groups-0": (lambda nn, F: F.conv2d(X, W, groups=0), r"groups=0"),
    # input rank
    "conv-2d-input": (lambda nn, F: nn.Conv2d(4, 2, 3)(torch.randn(4, 6)), r"input.*\[4, 6\]"),
    "conv-5d-input": (lambda nn, F: nn.Conv2d(4, 2, 3)(X[None]), r"input.*\[1, 2, 4, 6, 6\]"),
    "F.conv2d-2d-input": (lambda nn, F: F.conv2d(torch.randn(6, 6), W), r"input.*\[6, 6\]"),
    "maxpool-2d-input": (lambda nn, F: nn.MaxPool2d(2)(torch.randn(6, 6)), r"input.*\[6, 6\]"),
    "maxpool-5d-input": (lambda nn, F: nn.MaxPool2d(2)(X[None]), r"input.*\[1, 2, 4, 6, 6\]"),
    "avgpool-2d-input": (lambda nn, F: nn.AvgPool2d(2)(torch.randn(6, 6)), r"input.*\[6, 6\]"),
    "avgpool-5d-input": (lambda nn, F: nn.AvgPool2d(2)(X[None]), r"input.*\[1, 2, 4, 6, 6\]"),
    # channels and sizes
    "conv-channels": (lambda nn, F: nn.Conv2d(3, 2, 3)(X), r"input\[2, 4, 6, 6\].*3 channels.*got 4"),
    "conv-grouped-channels": (
        lambda nn, F: nn.Conv2d(4, 4, 3, groups=2)(torch.randn(1, 6, 5, 5)),
        r"groups=2.*4 channels.*got 6",
    ),
    "conv-unbatched-channels": (lambda nn, F: nn.Conv2d(3, 2, 3)(X[0]), r"3 channels.*got 4"),
    "conv-kernel-above-input": (lambda nn, F: nn.Conv2d(4, 2, 7)(X), r"\(6 x 6\).*\(7 x 7\)"),
    "conv-dilated-kernel-above-input": (lambda nn, F: nn.Conv2d(4, 2, 3, dilation=3)(X), r"\(6 x 6\).*\(7 x 7\)"),
    "F.conv2d-kernel-above-padded-input": (
        lambda nn, F: F.conv2d(X, torch.randn(2, 4, 9, 3), padding=1),
        r"\(8 x 8\).*\(9 x 3\)",
    ),
    "maxpool-output-empty": (lambda nn, F: nn.MaxPool2d(7)(X), r"input size \(4x6x6\).*output size \(4x0x0\)"),
    "maxpool-dilated-output-empty": (
        lambda nn, F: nn.MaxPool2d(3, dilation=3)(X),
        r"input size \(4x6x6\).*output size \(4x0x0\)",
    ),
    "avgpool-output-empty": (lambda nn, F: nn.AvgPool2d((2, 7))(X), r"input size \(4x6x6\).*output size \(4x3x0\)"),
    "linear-in-features": (lambda nn, F: nn.Linear(3, 2)(torch.randn(4, 5)), r"5 features.*in_features=3"),
    "linear-unbatched-in-features": (lambda nn, F: nn.Linear(3, 2)(torch.randn(5)), r"5 features.*in_features=3"),
    # dtypes
    "conv-integer-input": (lambda nn, F: nn.Conv2d(4, 2, 3)(X.long()), r"input.*torch.int64"),
    "linear-integer-input": (lambda nn, F: nn.Linear(3, 2)(torch.ones(4, 3, dtype=torch.int32)), r"input.*int32"),
    "conv-dtype-mismatch": (lambda nn, F: nn.Conv2d(4, 2, 3)(X.double()), r"input.*float64.*weight.*float32"),
    "linear-dtype-mismatch": (
        lambda nn, F: nn.Linear(3, 2)(torch.ones(4, 3, dtype=torch.float64)),
        r"input.*float64.*weight.*float32",
    ),
    "F.conv2d-bias-dtype-mismatch": (
        lambda nn, F: F.conv2d(X, W, torch.zeros(2, dtype=torch.float64)),
        r"input.*float32.*bias.*float64",
    ),
    "F.linear-bias-dtype-mismatch": (
        lambda nn, F: F.linear(X, torch.randn(2, 6), torch.zeros(2, dtype=torch.float64)),
        r"input.*float32.*bias.*float64",
    ),
    # divisor_override
    "avgpool-divisor-0": (lambda nn, F: nn.AvgPool2d(2, divisor_override=0)(X), r"divisor_override=0"),
    "F.avg_pool2d-divisor-0": (lambda nn, F: F.avg_pool2d(X, 2, divisor_override=0), r"divisor_override=0"),
}


@pytest.mark.parametrize(("misuse", "names"), MISUSES.values(), ids=MISUSES.keys())
def test_raises_the_exception_torch_raises(misuse, names):
    with pytest.raises(Exception) as theirs:
        misuse(torch.nn, torch.nn.functional)
    with pytest.raises(Exception) as ours:
        misuse(scratchnn, scratchnn.functional)
    assert type(ours.value) is type(theirs.value), f"torch raises {theirs.value!r}, scratchnn {ours.value!r}"
    assert re.search(names, str(ours.value)), f"{str(ours.value)!r} does not match {names!r}"
