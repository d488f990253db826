"""Datasets for scratchnn: the embedded MNIST subset, the official IDX files, downloads and splits.

    >>> from scratchnn.data import load_dataset, split_dataset
    >>> data = load_dataset("mnist")                 # 10,000 embedded digits, offline
    >>> split = split_dataset(data, 4000, 1000, seed=0)

Modules: :mod:`.idx` (the IDX format), :mod:`.checksum` (digests of decompressed bytes), :mod:`.catalog`
(files, digests and mirrors of each dataset), :mod:`.download` (mirrors, retries, atomic verified writes),
:mod:`.embedded` (the shipped subset), :mod:`.sources` (``load_dataset``), :mod:`.splits` (stratified splits
and standardisation), :mod:`.prepare` (``prepare_data``: a run's data flags to standardised tensors),
:mod:`.errors` (``DataError`` and its subclasses).
"""

from . import errors
from .catalog import DATASETS, DatasetSpec, cache_dir, get_spec
from .dataset import Dataset
from .download import DownloadOptions, download_file
from .embedded import load_embedded
from .errors import (  # noqa: F401 (exported through errors.__all__, below)
    ChecksumError,
    CorruptFileError,
    CountMismatchError,
    DataError,
    DownloadError,
    IdxDimsError,
    IdxError,
    IdxMagicError,
    IdxTrailingBytesError,
    IdxTruncatedError,
    IdxTypeError,
    LabelValueError,
    MissingFileError,
    SplitSizeError,
    UnknownDatasetError,
)
from .idx import parse_idx, read_idx, read_images_and_labels
from .prepare import prepare_data
from .sources import load_dataset, load_splits, resolve_data_dir
from .splits import Split, split_dataset, standardise, stratified_indices, stratified_subset, to_float

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetSpec",
    "DownloadOptions",
    "Split",
    "cache_dir",
    "download_file",
    "get_spec",
    "load_dataset",
    "load_embedded",
    "load_splits",
    "parse_idx",
    "prepare_data",
    "read_idx",
    "read_images_and_labels",
    "resolve_data_dir",
    "split_dataset",
    "standardise",
    "stratified_indices",
    "stratified_subset",
    "to_float",
]
__all__ += errors.__all__
