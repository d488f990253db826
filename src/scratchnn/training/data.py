"""From a config's data flags to standardised training and test tensors."""

from __future__ import annotations

from ..data import load_dataset, load_splits, split_dataset, standardise, stratified_subset
from ..data.splits import Split


def prepare_data(
    dataset: str, data_dir: str | None, download: bool, train_size: int, test_size: int, seed: int = 0
) -> tuple[Split, str]:
    """A seeded, stratified split standardised with the training statistics, and where the data came from.

    The embedded MNIST subset (the default: ``'mnist'``, no ``data_dir``, no ``download``) has no official
    split, so ``train_size + test_size`` examples are drawn from it. Official files keep their split: the
    training examples are drawn from the official training set and the test examples from its test set.
    """
    if dataset == "mnist" and data_dir is None and not download:
        data = load_dataset("mnist")
        return split_dataset(data, train_size, test_size, seed=seed), data.source
    train, test = load_splits(dataset, data_dir, download)
    train_part = stratified_subset(train, min(train_size, len(train)), seed=seed)
    test_part = stratified_subset(test, min(test_size, len(test)), seed=seed)
    return standardise(train_part, test_part), train.source
