"""The IDX reader accepts well-formed files, raw or gzip, and rejects each malformed one with its own error."""

from __future__ import annotations

import gzip
import hashlib

import numpy as np
import pytest
from fake_idx import idx_bytes, sample, write

from scratchnn.data import idx
from scratchnn.data.errors import (
    ChecksumError,
    CorruptFileError,
    CountMismatchError,
    DataError,
    IdxDimsError,
    IdxMagicError,
    IdxTrailingBytesError,
    IdxTruncatedError,
    IdxTypeError,
    LabelValueError,
)

IMAGES, LABELS = sample(5, seed=0)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
def test_reads_images_and_labels(tmp_path, gz):
    images_path = write(tmp_path / "images", idx_bytes(IMAGES), gz)
    labels_path = write(tmp_path / "labels", idx_bytes(LABELS), gz)
    images, labels = idx.read_images_and_labels(images_path, labels_path)
    assert images.dtype == np.uint8 and images.shape == (5, 28, 28)
    np.testing.assert_array_equal(images, IMAGES)
    np.testing.assert_array_equal(labels, LABELS)
    assert images.flags.writeable


@pytest.mark.parametrize(("name", "gz"), [("data.gz", False), ("data", True)], ids=["raw-named-gz", "gz-unnamed"])
def test_compression_is_decided_by_magic_bytes_not_name(tmp_path, name, gz):
    path = write(tmp_path / name, idx_bytes(LABELS), gz)
    np.testing.assert_array_equal(idx.read_idx(path), LABELS)


def test_hand_made_header_is_decoded():
    data = bytes.fromhex("00000802 00000002 00000003") + bytes(range(6))
    np.testing.assert_array_equal(idx.parse_idx(data, "x"), [[0, 1, 2], [3, 4, 5]])


@pytest.mark.parametrize(
    ("type_code", "values"),
    [(0x09, [-128, 0, 127]), (0x0B, [-30000, 1, 30000]), (0x0C, [-(2**31), 7, 2**31 - 1]),
     (0x0D, [-1.5, 0.0, 3.25]), (0x0E, [-1e300, 0.0, 1e-300])],
    ids=["int8", "int16", "int32", "float32", "float64"],
)  # fmt: skip
def test_every_type_code_round_trips_big_endian(type_code, values):
    array = np.array(values)
    decoded = idx.parse_idx(idx_bytes(array, type_code), "x", type_code=type_code)
    np.testing.assert_array_equal(decoded, array)
    assert decoded.dtype.isnative


def _images_with(tmp_path, data: bytes):
    path = write(tmp_path / "bad-images", data)
    labels = write(tmp_path / "labels", idx_bytes(LABELS))
    return path, labels


GOOD = idx_bytes(IMAGES)
BAD_IMAGE_FILES = [
    ("bad-magic", b"\x01\x00" + GOOD[2:], IdxMagicError, "expected the magic number to start with 00 00, found 01 00"),
    ("bad-type-code", GOOD[:2] + b"\x07" + GOOD[3:], IdxTypeError, "unknown IDX type code 0x07"),
    ("wrong-type", idx_bytes(IMAGES, 0x09), IdxTypeError, "type code is 0x09 (int8), expected 0x08 (uint8)"),
    ("wrong-dims", idx_bytes(IMAGES.reshape(5, 784)), IdxDimsError, "has 2 dimension(s), expected 3"),
    ("no-dims", GOOD[:3] + b"\x00", IdxDimsError, "has 0 dimension(s), expected 3"),
    ("wrong-size", idx_bytes(IMAGES[:, :, :27]), IdxDimsError, "item shape is 28x27, expected 28x28"),
    ("short-header", GOOD[:10], IdxTruncatedError, "3 dimension(s) need 16 bytes, found 10"),
    ("tiny", GOOD[:3], IdxTruncatedError, "expected at least 4 bytes, found 3"),
    ("truncated", GOOD[:-1], IdxTruncatedError, "= 3920 bytes after the 16-byte header, found 3919"),
    ("trailing", GOOD + b"\x00\x00\x00", IdxTrailingBytesError, "3 trailing bytes"),
    ("bad-gzip", gzip.compress(GOOD)[:-20], CorruptFileError, "does not decompress"),
]


@pytest.mark.parametrize(
    ("data", "error", "message"), [case[1:] for case in BAD_IMAGE_FILES], ids=[case[0] for case in BAD_IMAGE_FILES]
)
def test_malformed_images_file_is_rejected(tmp_path, data, error, message):
    images_path, labels_path = _images_with(tmp_path, data)
    with pytest.raises(error) as caught:
        idx.read_images_and_labels(images_path, labels_path)
    text = str(caught.value)
    assert message in text
    assert text.startswith(str(images_path)) and "\n" not in text
    assert isinstance(caught.value, DataError) and isinstance(caught.value, ValueError)


def test_count_mismatch_names_both_files(tmp_path):
    images_path = write(tmp_path / "images", idx_bytes(IMAGES))
    labels_path = write(tmp_path / "labels", idx_bytes(LABELS[:4]))
    with pytest.raises(CountMismatchError, match=r"holds 5 images but .* holds 4 labels") as caught:
        idx.read_images_and_labels(images_path, labels_path)
    assert str(images_path) in str(caught.value) and str(labels_path) in str(caught.value)


def test_label_out_of_range_is_rejected(tmp_path):
    images_path = write(tmp_path / "images", idx_bytes(IMAGES))
    labels_path = write(tmp_path / "labels", idx_bytes(np.array([0, 1, 12, 3, 4], dtype=np.uint8)))
    with pytest.raises(LabelValueError, match=r"label 12 at index 2 is outside 0\.\.9"):
        idx.read_images_and_labels(images_path, labels_path)


def test_checksum_is_taken_over_decompressed_bytes(tmp_path):
    data = idx_bytes(LABELS)
    digest = hashlib.sha256(data).hexdigest()
    for gz in (False, True):
        path = write(tmp_path / f"labels{gz}", data, gz)
        np.testing.assert_array_equal(idx.read_idx(path, sha256=digest), LABELS)
    with pytest.raises(ChecksumError, match=f"is {digest}, expected {'0' * 64}"):
        idx.read_idx(path, sha256="0" * 64)
