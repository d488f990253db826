"""``Dataset``: images and labels held as tensors, with the name and the provenance of the data."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .errors import DataError

DIGITS: tuple[str, ...] = tuple(str(d) for d in range(10))
"""The class names of MNIST."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled set of 28x28 grayscale images, as loaded, before any normalisation.

    Args:
        images: uint8 pixels in ``0..255``.
        labels: int64 class indices in ``0 .. len(classes) - 1``.
        name: the dataset name, e.g. ``'mnist'``.
        source: where the data came from (files, package, digests) and its authors and licence.
        split: ``'train'``, ``'test'``, or ``'all'`` (official train then test, or a set with no split).
        classes: the class names, index = label. Default: ``'0'`` .. ``'9'``.

    Shape:
        - images: ``(N, 28, 28)``; labels: ``(N,)``.
    """

    images: Tensor
    labels: Tensor
    name: str
    source: str
    split: str = "all"
    classes: tuple[str, ...] = DIGITS

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 3 or self.images.shape[1:] != (28, 28):
            raise DataError(
                f"images must be a uint8 tensor of shape (N, 28, 28), got {self.images.dtype} "
                f"{tuple(self.images.shape)}"
            )
        if self.labels.dtype != torch.int64 or self.labels.shape != self.images.shape[:1]:
            raise DataError(
                f"labels must be an int64 tensor of shape ({len(self.images)},), got {self.labels.dtype} "
                f"{tuple(self.labels.shape)}"
            )

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> Tensor:
        """Return the number of examples of each class, as an int64 tensor of shape ``(len(classes),)``."""
        return torch.bincount(self.labels, minlength=len(self.classes))

    def subset(self, indices: Tensor) -> Dataset:
        """Return the examples at ``indices`` (in that order) as a new ``Dataset`` with the same metadata.

        Args:
            indices: int64 tensor of positions.
        """
        return Dataset(self.images[indices], self.labels[indices], self.name, self.source, self.split, self.classes)


__all__ = ["DIGITS", "Dataset"]
