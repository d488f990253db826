"""SHA-256 digests taken over a file's DECOMPRESSED bytes.

Hashing what is inside the gzip rather than the gzip itself lets one digest accept every copy of a file: the
official ``.gz`` download, a recompressed one (Debian's Fashion-MNIST package) and an uncompressed one.
"""

from __future__ import annotations

import hashlib

from .errors import ChecksumError


def sha256_hex(data: bytes) -> str:
    """Return the SHA-256 of ``data`` as 64 lowercase hex digits.

    Args:
        data: the bytes to hash (for IDX files: the decompressed bytes).
    """
    return hashlib.sha256(data).hexdigest()


def verify_sha256(data: bytes, expected: str | None, source: str) -> None:
    """Raise :class:`ChecksumError` unless ``data`` hashes to ``expected``; ``None`` checks nothing.

    Args:
        data: the decompressed bytes of the file.
        expected: 64 hex digits, or ``None`` when no digest is known.
        source: how to name the file in the error message.
    """
    if expected is None:
        return
    actual = sha256_hex(data)
    if actual != expected.lower():
        raise ChecksumError(f"{source}: SHA-256 of the decompressed bytes is {actual}, expected {expected.lower()}")


__all__ = ["sha256_hex", "verify_sha256"]
