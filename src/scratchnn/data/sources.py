"""``load_dataset``: one call for every dataset the library knows, embedded or on disk, optionally downloaded.

Where the data comes from:

- ``'mnist'`` with no ``data_dir`` and no ``download``: the 10,000 digits embedded in the package (offline).
- ``'mnist'`` or ``'fashion-mnist'`` with a ``data_dir``: the four official IDX files in it, raw or ``.gz``.
- no ``data_dir`` otherwise: the first system directory holding all four files (Debian's
  ``/usr/share/datasets/fashion-mnist``), else the per-user cache ``~/.cache/scratchnn/<name>``, where
  ``download=True`` puts missing files.

Every file read is checked: IDX structure, 28x28 uint8 images, labels in range, equal counts, and (unless
``verify=False``) the SHA-256 of its decompressed bytes against the catalogue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path

import numpy as np
import torch

from .catalog import FILE_STEMS, SPLIT_FILES, DatasetSpec, cache_dir, get_spec
from .dataset import Dataset
from .download import DownloadOptions, download_file
from .embedded import load_embedded
from .errors import ChecksumError, DataError, MissingFileError
from .idx import read_images_and_labels

SPLITS = ("all", "train", "test")


def load_dataset(
    name: str,
    data_dir: str | PathLike | None = None,
    download: bool = False,
    *,
    split: str = "all",
    verify: bool = True,
    mirrors: Sequence[str] | None = None,
    checksums: Mapping[str, str | None] | None = None,
    options: DownloadOptions | None = None,
) -> Dataset:
    """Load a dataset by name.

    Args:
        name: ``'mnist'`` or ``'fashion-mnist'``.
        data_dir: directory holding the four official IDX files (raw or ``.gz``); ``None`` picks the
            embedded MNIST subset for ``'mnist'`` (unless ``download``), else a system or cache directory.
            Default: ``None``.
        download: fetch missing files from the mirrors into the data directory. Default: ``False``.
        split: ``'all'`` (official train followed by test), ``'train'`` or ``'test'``. The embedded subset has
            no official split: only ``'all'``. Default: ``'all'``.
        verify: check the SHA-256 of files already on disk against the catalogue (downloads are always
            checked). Default: ``True``.
        mirrors: base URLs to download from instead of the built-in ones. Default: ``None``.
        checksums: file stem -> SHA-256 of the decompressed bytes (or ``None``), replacing built-in entries.
        options: timeouts, retries and progress callback for downloads. Default: ``None`` (the defaults).

    Returns:
        A :class:`Dataset`: images ``(N, 28, 28)`` uint8, labels ``(N,)`` int64.

    Raises:
        DataError: one of its subclasses, e.g. UnknownDatasetError, MissingFileError, DownloadError,
            ChecksumError, IdxError.
    """
    spec = get_spec(name).with_overrides(mirrors, checksums)
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}, expected one of {', '.join(repr(s) for s in SPLITS)}")
    if spec.name == "mnist" and data_dir is None and not download:
        return _load_embedded(split)
    return _load_official(spec, resolve_data_dir(spec, data_dir), split, download, verify, options)


def _load_embedded(split: str) -> Dataset:
    """The MNIST subset shipped in the package, which has no official split: only ``'all'``."""
    if split != "all":
        raise DataError(
            f"the embedded MNIST subset has no official {split!r} split: use split='all' and "
            "scratchnn.data.split_dataset, or give a data_dir with the full MNIST files"
        )
    return load_embedded()


def _load_official(spec, directory: Path, split: str, download: bool, verify: bool, options) -> Dataset:
    """The official files' ``split``; ``'all'`` is the training set followed by the test set."""
    parts = [_load_split(spec, directory, s, download, verify, options) for s in _splits(split)]
    if len(parts) == 1:
        return parts[0]
    return Dataset(
        torch.cat([p.images for p in parts]),  # (N_train + N_test, 28, 28)
        torch.cat([p.labels for p in parts]),
        spec.name,
        f"{spec.name} official train ({len(parts[0])}) followed by test ({len(parts[1])}) from {directory} "
        f"({_checked(spec, verify)}); {spec.credit}",
        "all",
        spec.classes,
    )


def load_splits(
    name: str, data_dir: str | PathLike | None = None, download: bool = False, **kwargs
) -> tuple[Dataset, Dataset]:
    """Load the official ``(train, test)`` pair of a dataset, as two :class:`Dataset` objects.

    Args:
        name, data_dir, download: as for :func:`load_dataset`.
        **kwargs: the keyword-only arguments of :func:`load_dataset` except ``split``.
    """
    train = load_dataset(name, data_dir, download, split="train", **kwargs)
    return train, load_dataset(name, data_dir, download, split="test", **kwargs)


def resolve_data_dir(spec: DatasetSpec, data_dir: str | PathLike | None) -> Path:
    """Where a dataset's files are looked for: ``data_dir`` if given, else the first system directory holding
    all four files, else the per-user cache directory.

    Args:
        spec: the dataset.
        data_dir: the directory the user gave, or ``None``.
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    for candidate in map(Path, spec.system_dirs):
        if all(_find(candidate, stem) for stem in FILE_STEMS):
            return candidate
    return cache_dir(spec.name)


def _checked(spec: DatasetSpec, verify: bool, split: str = "all") -> str:
    """How the files of ``split`` were checked, for the ``source`` string."""
    stems = [stem for s in _splits(split) for stem in SPLIT_FILES[s]]
    if verify and all(spec.checksums.get(stem) for stem in stems):
        return "SHA-256 of the decompressed files verified"
    return "IDX structure checked, SHA-256 not verified"


def _splits(split: str) -> tuple[str, ...]:
    return ("train", "test") if split == "all" else (split,)


def _find(directory: Path, stem: str) -> Path | None:
    """The file ``stem`` or ``stem.gz`` in ``directory``, raw first; ``None`` when neither exists."""
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _locate(spec: DatasetSpec, directory: Path, stem: str, download: bool, options: DownloadOptions | None) -> Path:
    """Find a file, downloading it when asked; otherwise say exactly what is missing and where it goes."""
    found = _find(directory, stem)
    if found is not None:
        return found
    if download:
        return download_file(f"{stem}.gz", directory, spec.mirrors, sha256=spec.checksums.get(stem), options=options)
    alternative = f", or {spec.install_hint}" if spec.install_hint else ""
    raise MissingFileError(
        f"{spec.name} file {stem}[.gz] is missing from {directory}: put the four official files there, "
        f"or pass --download (download=True) to fetch them{alternative}"
    )


def _load_split(
    spec: DatasetSpec,
    directory: Path,
    split: str,
    download: bool,
    verify: bool,
    options: DownloadOptions | None,
) -> Dataset:
    """Load one official split (its images file and labels file) after checking both."""
    stems = SPLIT_FILES[split]
    images_path, labels_path = (_locate(spec, directory, stem, download, options) for stem in stems)
    images_sha, labels_sha = (spec.checksums.get(stem) if verify else None for stem in stems)
    try:
        images, labels = read_images_and_labels(
            images_path,
            labels_path,
            images_sha256=images_sha,
            labels_sha256=labels_sha,
            num_classes=len(spec.classes),
        )
    except ChecksumError as e:
        raise ChecksumError(
            f"{e}: not the official {spec.name} file; delete it and pass --download to fetch it again"
        ) from None
    return Dataset(
        torch.from_numpy(images),  # (N, 28, 28) uint8
        torch.from_numpy(labels.astype(np.int64)),  # (N,)
        spec.name,
        f"{spec.name} {split} from {images_path} and {labels_path} ({_checked(spec, verify, split)}); " + spec.credit,
        split,
        spec.classes,
    )


__all__ = ["SPLITS", "load_dataset", "load_splits", "resolve_data_dir"]
