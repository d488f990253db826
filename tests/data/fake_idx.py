"""Small IDX files made on the spot, so the data tests need neither the network nor the real datasets."""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np

SPLIT_SIZES = {"train": 12, "test": 8}
STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    """Encode ``array`` as an IDX file: magic ``00 00 <type> <ndim>``, big-endian sizes, big-endian items."""
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(dtypes[type_code]).tobytes()


def sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random uint8 images ``(n, 28, 28)`` and labels ``(n,)`` cycling through 0..9."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), (np.arange(n) % 10).astype(np.uint8)


def write(path: Path, data: bytes, gz: bool = False) -> Path:
    """Write ``data`` to ``path``, gzip-compressed when ``gz`` (whatever the name says)."""
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def write_dataset(directory: Path, gz: bool = True) -> dict[str, str]:
    """Write the four official-name files of a tiny dataset (12 train, 8 test) into ``directory``.

    Returns:
        file stem -> SHA-256 of its decompressed bytes, the form the catalogue's checksums take.
    """
    directory.mkdir(parents=True, exist_ok=True)
    digests = {}
    for seed, (split, n) in enumerate(SPLIT_SIZES.items()):
        for stem, array in zip(STEMS[split], sample(n, seed), strict=True):
            data = idx_bytes(array)
            write(directory / (f"{stem}.gz" if gz else stem), data, gz)
            digests[stem] = hashlib.sha256(data).hexdigest()
    return digests
