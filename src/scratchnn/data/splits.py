"""Seeded, stratified train/test splits, and the float conversion and standardisation models train on.

Stratified means every class keeps its share. A split of ``S = train_size + test_size`` examples is drawn in
two stages, each a largest-remainder apportionment over the classes (each count is the exact share rounded
down or up, so within 1 of it):

1. the pool: ``S`` examples from the dataset, class ``c`` getting about ``S * n_c / N`` of them (all of them
   when the pool is the whole dataset);
2. the train part: ``train_size`` examples from the pool, class ``c`` getting about ``train_size * q_c / S`` of
   its ``q_c`` pool examples; the rest of the pool is the test part, hence within 1 of ``test_size * q_c / S``.

So train and test hold the classes in the pool's proportions to within 1 example per class, and when the pool
is the whole dataset, in the dataset's proportions to within 1.

Which examples of a class are taken is decided by a ``torch.Generator`` seeded with ``seed``, and each part is
shuffled, so the same seed gives the same split on every machine. Pixels become float32 in ``[0, 1]`` and are
standardised with the mean and standard deviation of the TRAINING pixels, applied unchanged to the test part.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from .dataset import Dataset
from .errors import DataError, SplitSizeError


@dataclass(frozen=True, eq=False)
class Split:
    """A train/test pair ready for a model: standardised float images and int64 labels.

    Args:
        x_train, x_test: float32 images, ``(x / 255 - mean) / std``.
        y_train, y_test: int64 labels.
        mean, std: the statistics of the training pixels in ``[0, 1]`` (population std).
        classes: the class names, index = label.
        train_indices, test_indices: positions in the source :class:`Dataset`, or ``None`` when the parts
            came whole (official splits).

    Shape:
        - x_train: ``(N_train, 1, 28, 28)``; y_train: ``(N_train,)``; likewise for the test part.
    """

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    mean: float
    std: float
    classes: tuple[str, ...]
    train_indices: Tensor | None = None
    test_indices: Tensor | None = None


def apportion(total: int, counts: Sequence[int]) -> list[int]:
    """Share ``total`` among classes in proportion to ``counts`` (largest-remainder method, exact integers).

    Each share is ``floor`` or ``ceil`` of ``total * count / sum(counts)``; ties go to the lower class index.

    Args:
        total: how many to share out, at most ``sum(counts)``.
        counts: the size of each class.
    """
    whole = sum(counts)
    shares = [total * c // whole for c in counts]
    remainders = [total * c % whole for c in counts]
    by_remainder = sorted(range(len(counts)), key=lambda i: -remainders[i])
    for i in by_remainder[: total - sum(shares)]:
        shares[i] += 1
    return shares


def _take(labels: Tensor, pool: Tensor, size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Split the positions ``pool`` into a stratified draw of ``size`` of them and the rest."""
    pool_labels = labels[pool]
    classes = torch.unique(pool_labels)  # sorted
    members = [pool[pool_labels == c] for c in classes]
    shares = apportion(size, [len(m) for m in members])
    taken, rest = [], []
    for m, share in zip(members, shares, strict=True):
        m = m[torch.randperm(len(m), generator=generator)]
        taken.append(m[:share])
        rest.append(m[share:])
    return torch.cat(taken), torch.cat(rest)


def _shuffle(indices: Tensor, generator: torch.Generator) -> Tensor:
    return indices[torch.randperm(len(indices), generator=generator)]


def stratified_indices(labels: Tensor, train_size: int, test_size: int, *, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Draw disjoint, stratified, shuffled train and test positions.

    Args:
        labels: ``(N,)`` int64 class labels.
        train_size: number of training examples, at least 1.
        test_size: number of test examples, at least 1; ``train_size + test_size <= N``.
        seed: seeds the draw and the shuffle. Default: 0.

    Returns:
        ``(train_indices, test_indices)``, int64 tensors of shapes ``(train_size,)`` and ``(test_size,)``.
    """
    _check_sizes(len(labels), train_size, test_size)
    generator = torch.Generator().manual_seed(seed)
    pool, _ = _take(labels, torch.arange(len(labels)), train_size + test_size, generator)
    train, test = _take(labels, pool, train_size, generator)
    return _shuffle(train, generator), _shuffle(test, generator)


def _check_sizes(available: int, train_size: int, test_size: int) -> None:
    if train_size < 1 or test_size < 1:
        raise SplitSizeError(f"train_size and test_size must be at least 1, got {train_size} and {test_size}")
    if train_size + test_size > available:
        raise SplitSizeError(
            f"train_size + test_size = {train_size} + {test_size} = {train_size + test_size} exceeds the "
            f"{available} examples available"
        )


def stratified_subset(dataset: Dataset, size: int, *, seed: int = 0) -> Dataset:
    """Draw a stratified, shuffled subset of ``size`` examples (each class within 1 of its share).

    Args:
        dataset: the source.
        size: how many examples, ``1 <= size <= len(dataset)``.
        seed: seeds the draw. Default: 0.
    """
    if not 1 <= size <= len(dataset):
        raise SplitSizeError(f"subset size must be between 1 and {len(dataset)}, got {size}")
    generator = torch.Generator().manual_seed(seed)
    taken, _ = _take(dataset.labels, torch.arange(len(dataset)), size, generator)
    return dataset.subset(_shuffle(taken, generator))


def to_float(images: Tensor) -> Tensor:
    """Turn uint8 images into float32 in ``[0, 1]`` with a channel dimension.

    Shape:
        - Input: ``(N, 28, 28)`` uint8. Output: ``(N, 1, 28, 28)`` float32.
    """
    return images.to(torch.float32).div(255.0).unsqueeze(1)  # (N, 1, 28, 28)


def standardise(train: Dataset, test: Dataset, *, train_indices=None, test_indices=None) -> Split:
    """Convert both parts to float and standardise them with the TRAINING part's pixel mean and std.

    Args:
        train: the training examples; their statistics are used for both parts.
        test: the test examples.
        train_indices, test_indices: recorded in the :class:`Split` (positions in a source dataset).
    """
    x_train, x_test = to_float(train.images), to_float(test.images)
    pixels = train.images.to(torch.float64) / 255.0  # (N, 28, 28), statistics in double precision
    mean, std = pixels.mean().item(), pixels.std(correction=0).item()
    if std == 0:
        raise DataError(
            f"the {len(train)} training images all have the same pixel value ({mean:g}): cannot standardise"
        )
    return Split(
        (x_train - mean) / std,
        train.labels,
        (x_test - mean) / std,
        test.labels,
        mean,
        std,
        train.classes,
        train_indices,
        test_indices,
    )


def split_dataset(dataset: Dataset, train_size: int, test_size: int, *, seed: int = 0) -> Split:
    """Stratified, seeded train/test split of ``dataset``, standardised with the training statistics.

    Args:
        dataset: e.g. the embedded MNIST subset.
        train_size: number of training examples.
        test_size: number of test examples; ``train_size + test_size <= len(dataset)``.
        seed: seeds the draw. Default: 0.

    Examples::

        >>> split = split_dataset(load_dataset("mnist"), 4000, 1000, seed=0)
        >>> split.x_train.shape, split.x_test.shape
        (torch.Size([4000, 1, 28, 28]), torch.Size([1000, 1, 28, 28]))
    """
    train, test = stratified_indices(dataset.labels, train_size, test_size, seed=seed)
    return standardise(dataset.subset(train), dataset.subset(test), train_indices=train, test_indices=test)


__all__ = [
    "Split",
    "apportion",
    "split_dataset",
    "standardise",
    "stratified_indices",
    "stratified_subset",
    "to_float",
]
