"""The errors of the data layer: one ``DataError`` family, one subclass per way a data file can be wrong.

Every message is a single line that names the file (or the argument) and says what was expected and what was
found, so the command line can print it as it is and exit with code 2.
"""

from __future__ import annotations


class DataError(ValueError):
    """Base class: something about a dataset, a data file or a data argument is wrong."""


class UnknownDatasetError(DataError):
    """The dataset name is not one the library knows."""


class MissingFileError(DataError):
    """A file the dataset needs is not in the data directory (and ``download`` was not asked for)."""


class DownloadError(DataError):
    """Every mirror failed to deliver a file (connection refused, timeout, HTTP error, ...)."""


class ChecksumError(DataError):
    """The SHA-256 of a file's decompressed bytes differs from the expected one."""


class CorruptFileError(DataError):
    """A file starts like gzip but is not a valid gzip stream."""


class IdxError(DataError):
    """Base class for malformed IDX files."""


class IdxMagicError(IdxError):
    """The first two bytes of an IDX file are not ``00 00``."""


class IdxTypeError(IdxError):
    """The IDX type code (third byte) is unknown, or not the one expected (``0x08``, uint8, for MNIST)."""


class IdxDimsError(IdxError):
    """The number of dimensions (fourth byte) or a dimension size is not the one expected."""


class IdxTruncatedError(IdxError):
    """The file ends before the header or the payload it announces."""


class IdxTrailingBytesError(IdxError):
    """The file holds bytes after the payload its header announces."""


class CountMismatchError(DataError):
    """An images file and its labels file hold different numbers of items."""


class LabelValueError(DataError):
    """A label lies outside the dataset's classes."""


class SplitSizeError(DataError):
    """Requested split sizes that the dataset cannot provide."""


__all__ = [
    "ChecksumError",
    "CorruptFileError",
    "CountMismatchError",
    "DataError",
    "DownloadError",
    "IdxDimsError",
    "IdxError",
    "IdxMagicError",
    "IdxTrailingBytesError",
    "IdxTruncatedError",
    "IdxTypeError",
    "LabelValueError",
    "MissingFileError",
    "SplitSizeError",
    "UnknownDatasetError",
]
