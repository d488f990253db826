"""``load_dataset`` on directories of official-name files: splits, checks, and the messages users see."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from fake_idx import SPLIT_SIZES, STEMS, sample, write_dataset

from scratchnn.data import (
    ChecksumError,
    DataError,
    MissingFileError,
    UnknownDatasetError,
    get_spec,
    load_dataset,
    load_splits,
    resolve_data_dir,
)

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture
def fake_dir(tmp_path) -> tuple[Path, dict[str, str]]:
    directory = tmp_path / "data"
    return directory, write_dataset(directory)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UnknownDatasetError, match="unknown dataset 'cifar', expected one of 'mnist', 'fashion-mnist'"):
        load_dataset("cifar")


def test_missing_file_says_which_where_and_how_to_fetch(tmp_path):
    with pytest.raises(MissingFileError) as caught:
        load_dataset("mnist", tmp_path)
    message = str(caught.value)
    assert f"train-images-idx3-ubyte[.gz] is missing from {tmp_path}" in message
    assert "--download" in message and "\n" not in message


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "raw"])
def test_all_is_official_train_then_test(tmp_path, gz):
    digests = write_dataset(tmp_path, gz=gz)
    data = load_dataset("mnist", tmp_path, checksums=digests)
    train_images, train_labels = sample(SPLIT_SIZES["train"], seed=0)
    test_images, _ = sample(SPLIT_SIZES["test"], seed=1)
    assert (len(data), data.split, data.name) == (20, "all", "mnist")
    assert data.images.dtype == torch.uint8 and data.labels.dtype == torch.int64
    np.testing.assert_array_equal(data.images[:12], train_images)
    np.testing.assert_array_equal(data.images[12:], test_images)
    np.testing.assert_array_equal(data.labels[:12], train_labels)
    assert "SHA-256 of the decompressed files verified" in data.source


def test_official_splits_are_kept_apart(fake_dir):
    directory, digests = fake_dir
    train, test = load_splits("fashion-mnist", directory, checksums=digests)
    assert (train.split, len(train), test.split, len(test)) == ("train", 12, "test", 8)
    assert train.classes == get_spec("fashion-mnist").classes


def test_files_that_are_not_the_official_ones_fail_verification(fake_dir):
    directory, _ = fake_dir
    with pytest.raises(ChecksumError) as caught:
        load_dataset("mnist", directory)
    message = str(caught.value)
    expected = get_spec("mnist").checksums[STEMS["train"][0]]
    assert f"expected {expected}" in message and "train-images-idx3-ubyte.gz" in message
    assert "--download" in message


def test_verify_false_checks_only_the_structure(fake_dir):
    directory, _ = fake_dir
    data = load_dataset("mnist", directory, verify=False)
    assert len(data) == 20 and "SHA-256 not verified" in data.source


def test_embedded_subset_has_no_official_split():
    with pytest.raises(DataError, match="no official 'train' split"):
        load_dataset("mnist", split="train")


def test_unknown_split_is_rejected(fake_dir):
    with pytest.raises(DataError, match="unknown split 'validation'"):
        load_dataset("mnist", fake_dir[0], split="validation")


def test_default_directory_prefers_a_complete_system_copy(fake_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    spec = dataclasses.replace(get_spec("fashion-mnist"), system_dirs=(str(fake_dir[0]), "/nonexistent"))
    assert resolve_data_dir(spec, None) == fake_dir[0]
    spec = dataclasses.replace(spec, system_dirs=("/nonexistent",))
    assert resolve_data_dir(spec, None) == tmp_path / "cache" / "scratchnn" / "fashion-mnist"
    assert resolve_data_dir(spec, "~/x") == Path.home() / "x"


@pytest.mark.skipif(
    not DEBIAN_FASHION.is_dir(), reason=f"{DEBIAN_FASHION} absent: apt-get install dataset-fashion-mnist"
)
def test_full_fashion_mnist_loads_and_verifies():
    data = load_dataset("fashion-mnist")
    assert data.images.shape == (70000, 28, 28) and data.labels.shape == (70000,)
    assert data.class_counts().tolist() == [7000] * 10
    assert str(DEBIAN_FASHION) in data.source and "SHA-256 of the decompressed files verified" in data.source
    assert data.labels[:60000].bincount().tolist() == [6000] * 10
