"""Stratified, seeded splits keep every class's share, never overlap, and standardise with train statistics."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchnn.data import Dataset, SplitSizeError, load_embedded, split_dataset, stratified_subset, to_float
from scratchnn.data.splits import apportion, stratified_indices


@pytest.fixture(scope="module")
def mnist() -> Dataset:
    return load_embedded()


def test_apportion_hand_example():
    # exact shares 5 * (3, 3, 4) / 10 = (1.5, 1.5, 2): floors (1, 1, 2), the spare unit to the first tie
    assert apportion(5, [3, 3, 4]) == [2, 1, 2]
    assert apportion(10, [3, 3, 4]) == [3, 3, 4]


def _within_one(counts: torch.Tensor, total: int, shares: torch.Tensor) -> bool:
    exact = total * shares.double() / shares.sum()
    return bool(((counts.double() - exact).abs() < 1).all())


@st.composite
def problems(draw):
    counts = draw(st.lists(st.integers(1, 40), min_size=2, max_size=10))
    total = sum(counts)
    train = draw(st.integers(1, total - 1))
    test = draw(st.integers(1, total - train))
    labels = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    labels = labels[torch.randperm(total, generator=torch.Generator().manual_seed(draw(st.integers(0, 99))))]
    return labels, train, test, draw(st.integers(0, 2**31 - 1))


@settings(max_examples=150, deadline=None)
@given(problems())
def test_split_is_stratified_disjoint_and_exact(problem):
    labels, train_size, test_size, seed = problem
    train, test = stratified_indices(labels, train_size, test_size, seed=seed)
    assert (len(train), len(test)) == (train_size, test_size)
    assert len(set(train.tolist()) | set(test.tolist())) == train_size + test_size
    classes = int(labels.max()) + 1
    n = torch.bincount(labels, minlength=classes)
    train_counts = torch.bincount(labels[train], minlength=classes)
    test_counts = torch.bincount(labels[test], minlength=classes)
    pool = train_counts + test_counts
    assert _within_one(pool, train_size + test_size, n)
    assert _within_one(train_counts, train_size, pool)
    assert _within_one(test_counts, test_size, pool)


def test_whole_dataset_split_is_within_one_of_every_class_share(mnist):
    train, test = stratified_indices(mnist.labels, 8000, 2000, seed=3)
    n = mnist.class_counts()
    assert _within_one(mnist.labels[train].bincount(), 8000, n)
    assert _within_one(mnist.labels[test].bincount(), 2000, n)


def test_same_seed_same_split_other_seed_other_split(mnist):
    first = stratified_indices(mnist.labels, 4000, 1000, seed=7)
    again = stratified_indices(mnist.labels, 4000, 1000, seed=7)
    other = stratified_indices(mnist.labels, 4000, 1000, seed=8)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[0], other[0])


def test_parts_are_shuffled_not_grouped_by_class(mnist):
    train, _ = stratified_indices(mnist.labels, 4000, 1000, seed=0)
    assert len(set(mnist.labels[train[:100]].tolist())) == 10


def test_split_dataset_standardises_with_training_statistics(mnist):
    split = split_dataset(mnist, 4000, 1000, seed=0)
    assert split.x_train.shape == (4000, 1, 28, 28) and split.x_train.dtype == torch.float32
    assert split.x_test.shape == (1000, 1, 28, 28) and split.y_test.dtype == torch.int64
    assert not set(split.train_indices.tolist()) & set(split.test_indices.tolist())
    assert torch.equal(split.y_train, mnist.labels[split.train_indices])
    raw_train = mnist.images[split.train_indices].double() / 255
    assert split.mean == pytest.approx(raw_train.mean().item(), rel=1e-12)
    assert split.std == pytest.approx(raw_train.std(correction=0).item(), rel=1e-12)
    assert split.x_train.double().mean().item() == pytest.approx(0, abs=1e-5)
    assert split.x_train.double().std(correction=0).item() == pytest.approx(1, abs=1e-5)
    expected_test = (to_float(mnist.images[split.test_indices]) - split.mean) / split.std
    torch.testing.assert_close(split.x_test, expected_test, rtol=0, atol=0)
    assert split.x_test.double().mean().item() != pytest.approx(0, abs=1e-5)


def test_to_float_maps_uint8_to_unit_interval():
    images = torch.zeros(1, 28, 28, dtype=torch.uint8)
    images[0, 0, :3] = torch.tensor([0, 51, 255])
    x = to_float(images)
    assert x.shape == (1, 1, 28, 28) and x.dtype == torch.float32
    assert x[0, 0, 0, :3].tolist() == pytest.approx([0.0, 0.2, 1.0])


def test_stratified_subset_keeps_class_shares(mnist):
    subset = stratified_subset(mnist, 5000, seed=1)
    assert len(subset) == 5000 and subset.name == "mnist"
    assert _within_one(subset.class_counts(), 5000, mnist.class_counts())


@pytest.mark.parametrize(("train", "test"), [(9000, 1001), (0, 10), (10, 0)])
def test_impossible_sizes_are_rejected_with_the_values(mnist, train, test):
    with pytest.raises(SplitSizeError, match=f"{train}.*{test}"):
        stratified_indices(mnist.labels, train, test)
