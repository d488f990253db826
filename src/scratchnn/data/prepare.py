"""``prepare_data``: from a run's data flags (dataset, directory, download, sizes, seed) to the standardised
training and test tensors a model trains on."""

from __future__ import annotations

from .sources import load_dataset, load_splits
from .splits import Split, split_dataset, standardise, stratified_subset


def prepare_data(
    dataset: str,
    data_dir: str | None,
    download: bool,
    train_size: int | None,
    test_size: int | None,
    seed: int = 0,
) -> tuple[Split, str]:
    """A seeded, stratified split standardised with the training statistics, and where the data came from.

    The embedded MNIST subset (the default: ``'mnist'``, no ``data_dir``, no ``download``) has no official
    split, so ``train_size + test_size`` examples are drawn from it; a size of ``None`` ("all") takes every
    example the other part leaves (not both). Official files keep their split: the training examples are drawn
    from the official training set and the test examples from its test set, ``None`` taking the whole set.
    """
    if dataset == "mnist" and data_dir is None and not download:
        data = load_dataset("mnist")
        train_size, test_size = _embedded_sizes(len(data), train_size, test_size)
        return split_dataset(data, train_size, test_size, seed=seed), data.source
    train, test = load_splits(dataset, data_dir, download)
    train_part = stratified_subset(train, min(train_size or len(train), len(train)), seed=seed)
    test_part = stratified_subset(test, min(test_size or len(test), len(test)), seed=seed)
    return standardise(train_part, test_part), train.source


def _embedded_sizes(available: int, train_size: int | None, test_size: int | None) -> tuple[int, int]:
    """Resolve ``all`` (``None``) against a dataset without an official split."""
    if train_size is None and test_size is None:
        raise ValueError(
            f"the embedded MNIST subset ({available:,} images) has no official split: give a number to "
            "--train-size or --test-size (only one of them may be 'all')"
        )
    if train_size is None:
        return available - test_size, test_size
    if test_size is None:
        return train_size, available - train_size
    return train_size, test_size


__all__ = ["prepare_data"]
