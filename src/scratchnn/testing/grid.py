"""The configurations ``scratchnn check`` runs: every built-in layer over its options, as data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .. import layers
from ..reference import TorchSquare
from .harness import check_layer
from .report import Report


@dataclass(frozen=True)
class Case:
    """One layer configuration: ``layers.<layer>(*args, **kwargs)`` against ``torch.nn.<layer>`` (same args);
    ``target`` names the kind of a loss's second input (see :mod:`.inputs`)."""

    layer: str
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    input_shape: tuple[int, ...] = (3, 3, 7, 7)
    target: str | None = None

    @property
    def name(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.layer}({', '.join(parts)})"

    def build(self, seed: int = 0) -> tuple[nn.Module, nn.Module]:
        """Candidate and reference, each constructed right after ``torch.manual_seed(seed)``."""
        torch.manual_seed(seed)
        candidate = self.make_candidate()
        torch.manual_seed(seed)
        return candidate, self.make_reference()

    def make_candidate(self) -> nn.Module:
        return getattr(layers, self.layer)(*self.args, **self.kwargs)

    def make_reference(self) -> nn.Module:
        return TorchSquare() if self.layer == "Square" else getattr(nn, self.layer)(*self.args, **self.kwargs)

    def check(self, **options) -> Report:
        """:func:`check_layer` on a freshly built pair, with this case's name, input shape and target."""
        candidate, reference = self.build()
        return check_layer(candidate, reference, self.input_shape, name=self.name, target=self.target, **options)


GRID: tuple[Case, ...] = (
    Case("Linear", (5, 7), input_shape=(4, 5)),
    Case("Linear", (5, 7), {"bias": False}, input_shape=(4, 5)),
    Case("Linear", (64, 10), input_shape=(3, 64)),
    Case("Conv2d", (3, 6, 3)),
    Case("Conv2d", (1, 8, 3), {"padding": 2}, input_shape=(4, 1, 8, 8)),
    Case(
        "Conv2d",
        (4, 6, (3, 5)),
        {"stride": (2, 1), "padding": (2, 1), "dilation": (1, 2), "groups": 2},
        input_shape=(3, 4, 7, 8),
    ),
    Case("Conv2d", (3, 4, 4), {"padding": "same", "padding_mode": "reflect"}),
    Case("Conv2d", (3, 4, 3), {"padding": 2, "padding_mode": "replicate", "bias": False}),
    Case("Conv2d", (3, 3, (2, 3)), {"padding": (1, 2), "padding_mode": "circular", "groups": 3}),
    Case("Conv2d", (3, 4, 3), {"padding": "valid", "stride": 3}),
    Case("MaxPool2d", (2,)),
    Case("MaxPool2d", (3, 2, 1), {"dilation": 2, "ceil_mode": True}),
    Case("MaxPool2d", ((3, 2), (2, 1), (1, 1)), {"return_indices": True}),
    Case("AvgPool2d", (2,)),
    Case("AvgPool2d", (3, 2, 1), {"ceil_mode": True, "count_include_pad": False}),
    Case("AvgPool2d", ((3, 2), (2, 1), (1, 1)), {"divisor_override": 5}),
    Case("ReLU"),
    Case("LeakyReLU", (0.2,)),
    Case("Sigmoid"),
    Case("Tanh"),
    Case("SiLU"),
    Case("Square"),
)
# The layers of a modern CNN: normalisation (buffers, train and eval), dropout (seeded masks), transposed and
# adaptive layers, and the loss (two inputs).
MODERN_GRID: tuple[Case, ...] = (
    Case("BatchNorm1d", (3,), input_shape=(4, 3)),
    Case("BatchNorm1d", (3,), {"eps": 1e-3, "momentum": 0.5}, input_shape=(4, 3, 5)),
    Case("BatchNorm1d", (3,), {"momentum": None, "affine": False}, input_shape=(4, 3, 5)),
    Case("BatchNorm2d", (3,)),
    Case("BatchNorm2d", (3,), {"momentum": None}),
    Case("BatchNorm2d", (3,), {"affine": False, "track_running_stats": False}),
    Case("LayerNorm", ((7, 7),)),
    Case("LayerNorm", (5,), {"elementwise_affine": False}, input_shape=(4, 5)),
    Case("LayerNorm", ((3, 4),), {"bias": False, "eps": 1e-3}, input_shape=(2, 5, 3, 4)),
    Case("GroupNorm", (3, 6), input_shape=(3, 6, 5, 5)),
    Case("GroupNorm", (1, 4), {"affine": False}, input_shape=(3, 4, 5)),
    Case("GroupNorm", (2, 4), {"eps": 1e-3}, input_shape=(3, 4)),
    Case("Dropout", (0.3,)),
    Case("Dropout", (0.5,), {"inplace": True}, input_shape=(4, 6)),
    Case("Dropout", (1.0,), input_shape=(4, 6)),
    Case("ConvTranspose2d", (3, 4, 3), input_shape=(2, 3, 5, 5)),
    Case(
        "ConvTranspose2d",
        (4, 6, (3, 2)),
        {"stride": (2, 1), "padding": (1, 0), "output_padding": (1, 0), "groups": 2, "bias": False},
        input_shape=(2, 4, 5, 4),
    ),
    Case("ConvTranspose2d", (2, 2, 3), {"stride": 2, "output_padding": 1, "dilation": 2}, input_shape=(2, 2, 4, 4)),
    Case("AdaptiveAvgPool2d", ((2, 3),), input_shape=(2, 3, 7, 5)),
    Case("AdaptiveAvgPool2d", (1,)),
    Case("AdaptiveAvgPool2d", ((None, 4),), input_shape=(2, 3, 5, 6)),
    Case("Flatten"),
    Case("Flatten", (0, 1), input_shape=(2, 3, 4)),
    Case("CrossEntropyLoss", input_shape=(4, 5), target="indices"),
    Case("CrossEntropyLoss", (), {"label_smoothing": 0.1, "reduction": "sum"}, input_shape=(4, 5, 3), target="indices"),
    Case(
        "CrossEntropyLoss",
        (),
        {"weight": torch.tensor([1.0, 2.0, 0.5, 1.5]), "ignore_index": 1, "reduction": "none"},
        input_shape=(3, 4, 2),
        target="indices",
    ),
    Case("CrossEntropyLoss", (), {"label_smoothing": 0.2}, input_shape=(4, 5), target="probabilities"),
    Case(
        "CrossEntropyLoss",
        (),
        {"weight": torch.tensor([0.5, 1.0, 2.0]), "reduction": "none"},
        input_shape=(3, 3, 2),
        target="probabilities",
    ),
)
BUILTIN: tuple[Case, ...] = GRID + MODERN_GRID


def check_builtin(
    cases: tuple[Case, ...] = BUILTIN, *, on_case: Callable[[int, Case], None] | None = None, **options
) -> Report:
    """Run :func:`check_layer` on every case: both backward engines, the identical-initialisation check of
    parameters and buffers, gradgradcheck, and each case's constructors as ``builders``. Default: every built-in
    layer, ``BUILTIN``.

    Args:
        on_case: called as ``on_case(i, case)`` before case ``i`` (0-based) starts, e.g. to show progress.
        **options: passed to :func:`check_layer` (``dtype``, ``device``, ``seed``, ``modes``, ``stack``,
            ``compile_backend``, ...).
    """
    report = Report()
    for i, case in enumerate(cases):
        if on_case is not None:
            on_case(i, case)
        builders = (case.make_candidate, case.make_reference)
        report.extend(case.check(check_init=True, gradgradcheck=True, builders=builders, **options))
    return report
