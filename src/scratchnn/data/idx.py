"""Reader for IDX, the file format of MNIST and Fashion-MNIST, raw or gzip-compressed.

An IDX file is a header, then a C-order array::

    bytes 0-1   00 00                  magic
    byte  2     type code              0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
                                       0x0E float64
    byte  3     D, number of dims      3 for images (N, H, W), 1 for labels (N,)
    4*D bytes   the D sizes            big-endian uint32 each
    payload     prod(sizes) items      big-endian, last index fastest

The reader checks every field and that the payload is exactly as long as the header says (no truncation, no
trailing bytes); each fault raises its own :class:`~scratchnn.data.errors.IdxError` subclass. Whether a file
is gzip-compressed is decided by its first two bytes (``1f 8b``), never by its name.
"""

from __future__ import annotations

import gzip
import math
import zlib
from os import PathLike
from pathlib import Path

import numpy as np

from .checksum import verify_sha256
from .errors import (
    CorruptFileError,
    CountMismatchError,
    IdxDimsError,
    IdxMagicError,
    IdxTrailingBytesError,
    IdxTruncatedError,
    IdxTypeError,
    LabelValueError,
)

GZIP_MAGIC = b"\x1f\x8b"
IDX_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
UINT8 = 0x08


def read_bytes(path: str | PathLike) -> bytes:
    """Return a file's bytes, decompressed when they start with the gzip magic ``1f 8b``.

    Args:
        path: the file.

    Raises:
        CorruptFileError: the file starts like gzip but does not decompress.
    """
    return decompress(Path(path).read_bytes(), str(path))


def decompress(raw: bytes, source: str) -> bytes:
    """Return ``raw`` decompressed when it starts with the gzip magic ``1f 8b``, else unchanged.

    Args:
        raw: the bytes of a file.
        source: how to name the file in the error message.

    Raises:
        CorruptFileError: the bytes start like gzip but do not decompress.
    """
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise CorruptFileError(
            f"{source}: starts with the gzip magic bytes 1f 8b but does not decompress ({e})"
        ) from None


def parse_idx(
    data: bytes,
    source: str,
    *,
    type_code: int | None = None,
    ndim: int | None = None,
    item_shape: tuple[int, ...] | None = None,
) -> np.ndarray:
    """Decode the bytes of an IDX file into a native-endian numpy array (a copy, writable).

    Args:
        data: the decompressed bytes of the file.
        source: how to name the file in error messages, usually its path.
        type_code: the type code the file must have, e.g. ``0x08``; ``None`` accepts any valid one.
        ndim: the number of dimensions the file must have; ``None`` accepts any (at least 1).
        item_shape: the sizes every dimension after the first must have, e.g. ``(28, 28)``.

    Raises:
        IdxMagicError, IdxTypeError, IdxDimsError, IdxTruncatedError, IdxTrailingBytesError.
    """
    dtype, dims = _parse_header(data, source, type_code, ndim)
    if item_shape is not None and dims[1:] != tuple(item_shape):
        raise IdxDimsError(f"{source}: IDX item shape is {_shape(dims[1:])}, expected {_shape(item_shape)}")
    offset = 4 + 4 * len(dims)
    expected = math.prod(dims) * dtype.itemsize
    found = len(data) - offset
    if found < expected:
        raise IdxTruncatedError(
            f"{source}: truncated IDX payload: the header announces {_shape(dims)} items of {dtype.itemsize} "
            f"byte(s) = {expected} bytes after the {offset}-byte header, found {found}"
        )
    if found > expected:
        raise IdxTrailingBytesError(
            f"{source}: {found - expected} trailing bytes after the IDX payload: expected "
            f"{offset + expected} bytes in all, found {len(data)}"
        )
    array = np.frombuffer(data, dtype=dtype, count=math.prod(dims), offset=offset).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=True)


def _parse_header(
    data: bytes, source: str, type_code: int | None, ndim: int | None
) -> tuple[np.dtype, tuple[int, ...]]:
    """Check the magic number and dimension sizes; return the item dtype and the dims."""
    if len(data) < 4:
        raise IdxTruncatedError(f"{source}: truncated IDX header: expected at least 4 bytes, found {len(data)}")
    if data[:2] != b"\x00\x00":
        raise IdxMagicError(
            f"{source}: not an IDX file: expected the magic number to start with 00 00, found {data[:2].hex(' ')}"
        )
    code, n = data[2], data[3]
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02x}" for c in IDX_TYPES)
        raise IdxTypeError(f"{source}: unknown IDX type code 0x{code:02x}, expected one of {known}")
    if type_code is not None and code != type_code:
        raise IdxTypeError(
            f"{source}: IDX type code is 0x{code:02x} ({IDX_TYPES[code].name}), "
            f"expected 0x{type_code:02x} ({IDX_TYPES[type_code].name})"
        )
    if n == 0 or (ndim is not None and n != ndim):
        raise IdxDimsError(f"{source}: IDX file has {n} dimension(s), expected {ndim or 'at least 1'}")
    if len(data) < 4 + 4 * n:
        raise IdxTruncatedError(
            f"{source}: truncated IDX header: {n} dimension(s) need {4 + 4 * n} bytes, found {len(data)}"
        )
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=n, offset=4))
    return IDX_TYPES[code], dims


def _shape(dims: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in dims)


def read_idx(path: str | PathLike, *, sha256: str | None = None, **expect) -> np.ndarray:
    """Read an IDX file, raw or gzip-compressed, checking its digest first when one is given.

    Args:
        path: the file.
        sha256: expected SHA-256 of the decompressed bytes; ``None`` skips the check. Default: ``None``.
        **expect: ``type_code``, ``ndim``, ``item_shape``, as for :func:`parse_idx`.

    Raises:
        ChecksumError: the digest differs. CorruptFileError, IdxError: the file is not valid IDX.
    """
    data = read_bytes(path)
    verify_sha256(data, sha256, str(path))
    return parse_idx(data, str(path), **expect)


def check_pair(
    images: np.ndarray, labels: np.ndarray, images_source: str, labels_source: str, num_classes: int = 10
) -> None:
    """Check that an images array and a labels array belong together.

    Args:
        images: ``(N, H, W)`` array.
        labels: ``(N,)`` array.
        images_source, labels_source: names of the two files for the error messages.
        num_classes: labels must lie in ``0 .. num_classes - 1``. Default: 10.

    Raises:
        CountMismatchError: different numbers of items. LabelValueError: a label out of range.
    """
    if len(images) != len(labels):
        raise CountMismatchError(
            f"{images_source} holds {len(images)} images but {labels_source} holds {len(labels)} labels, "
            "expected equal counts"
        )
    bad = np.flatnonzero(labels >= num_classes)
    if bad.size:
        raise LabelValueError(
            f"{labels_source}: label {labels[bad[0]]} at index {bad[0]} is outside 0..{num_classes - 1}"
        )


def read_images_and_labels(
    images_path: str | PathLike,
    labels_path: str | PathLike,
    *,
    images_sha256: str | None = None,
    labels_sha256: str | None = None,
    num_classes: int = 10,
) -> tuple[np.ndarray, np.ndarray]:
    """Read an MNIST-style pair: uint8 images ``(N, 28, 28)`` and uint8 labels ``(N,)``.

    Args:
        images_path: an ``idx3-ubyte`` file, raw or gzip.
        labels_path: the matching ``idx1-ubyte`` file, raw or gzip.
        images_sha256, labels_sha256: expected SHA-256 of each file's decompressed bytes, or ``None``.
        num_classes: labels must lie in ``0 .. num_classes - 1``. Default: 10.

    Shape:
        - images: ``(N, 28, 28)`` uint8; labels: ``(N,)`` uint8.
    """
    images = read_idx(images_path, sha256=images_sha256, type_code=UINT8, ndim=3, item_shape=(28, 28))
    labels = read_idx(labels_path, sha256=labels_sha256, type_code=UINT8, ndim=1)
    check_pair(images, labels, str(images_path), str(labels_path), num_classes)
    return images, labels


__all__ = ["check_pair", "decompress", "parse_idx", "read_bytes", "read_idx", "read_images_and_labels"]
