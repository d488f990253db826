"""Fetch one dataset file from a list of mirrors, verify it, and only then put it in place.

The protocol, for one file:

1. If the destination exists, nothing happens: an existing file is never overwritten.
2. For each mirror in turn: stream ``<mirror>/<filename>`` into a temporary file in the destination directory,
   retrying transient failures (connection errors, timeouts, HTTP 408/429/5xx) with exponential back-off; an
   HTTP 4xx moves straight on to the next mirror.
3. Check the temporary file: it must decompress, its decompressed bytes must have the expected SHA-256 (when
   one is known) and must be a well-formed IDX file. A file that fails is deleted and the next mirror tried.
4. ``os.replace`` the temporary file onto the destination: readers never see a partial file.

When every mirror fails, a single :class:`DownloadError` (or :class:`ChecksumError` if some mirror delivered
wrong content) lists what went wrong at each one.
"""

from __future__ import annotations

import http.client
import os
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from .checksum import verify_sha256
from .errors import ChecksumError, DataError, DownloadError
from .idx import decompress, parse_idx

RETRYABLE_HTTP = frozenset({408, 429})
CHUNK = 1 << 16


@dataclass(frozen=True)
class DownloadOptions:
    """How hard to try.

    Args:
        timeout: seconds to wait for a connection or for the next bytes. Default: 30.
        attempts: tries per mirror for transient failures. Default: 3.
        backoff: seconds before the second try; doubled before each further one. Default: 1.
        progress: called as ``progress(filename, bytes_done, bytes_total_or_None)`` while bytes arrive.
    """

    timeout: float = 30.0
    attempts: int = 3
    backoff: float = 1.0
    progress: Callable[[str, int, int | None], None] | None = None

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ValueError(f"timeout must be positive, got {self.timeout}")
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")
        if self.backoff < 0:
            raise ValueError(f"backoff must be non-negative, got {self.backoff}")


class _FetchFailed(Exception):
    """A mirror did not deliver; the message says why."""


def download_file(
    filename: str,
    directory: str | PathLike,
    mirrors: Sequence[str],
    *,
    sha256: str | None = None,
    options: DownloadOptions | None = None,
) -> Path:
    """Download ``filename`` into ``directory`` from the first mirror that delivers a valid copy.

    Args:
        filename: the name on the mirrors and on disk, e.g. ``'train-images-idx3-ubyte.gz'``.
        directory: where the file goes; created if needed.
        mirrors: base URLs, tried in order (``<mirror>/<filename>``).
        sha256: expected SHA-256 of the DECOMPRESSED bytes; ``None`` checks only the IDX structure.
        options: timeouts, retries and progress callback. Default: :class:`DownloadOptions()`.

    Returns:
        The path of the file (already there, or just downloaded and verified).

    Raises:
        ChecksumError: no mirror delivered valid content and at least one delivered a wrong digest.
        DownloadError: no mirror delivered (each one's failure is in the message).
    """
    options = options or DownloadOptions()
    directory = Path(directory)
    destination = directory / filename
    if destination.exists():
        return destination
    _prepare(directory, mirrors)
    _from_first_good_mirror(filename, directory, mirrors, sha256, options)
    return destination


def _from_first_good_mirror(
    filename: str, directory: Path, mirrors: Sequence[str], sha256: str | None, options: DownloadOptions
) -> None:
    """Try the mirrors in order until one delivers a valid copy; else one error that lists each one's failure."""
    failures: list[str] = []
    wrong_content = False
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        try:
            _fetch_verified(url, directory / filename, sha256, options)
            return
        except _FetchFailed as e:
            failures.append(f"{url}: {e}")
        except DataError as e:
            failures.append(f"{e}; the download was discarded")
            wrong_content = wrong_content or isinstance(e, ChecksumError)
    error = ChecksumError if wrong_content else DownloadError
    raise error(f"could not download {filename} into {directory}: " + "; ".join(failures))


def _fetch_verified(url: str, destination: Path, sha256: str | None, options: DownloadOptions) -> None:
    """Fetch ``url`` to a temporary file and move it to ``destination`` once verified (else delete it)."""
    temporary = _fetch(url, destination.parent, destination.name, options)
    try:
        _verify(temporary, url, sha256)
    except DataError:
        temporary.unlink()
        raise
    temporary.chmod(0o644)  # mkstemp made it private
    os.replace(temporary, destination)


def _prepare(directory: Path, mirrors: Sequence[str]) -> None:
    """Fail early, with a clear message, when there is nowhere to fetch from or to write to."""
    if not mirrors:
        raise DownloadError(f"no mirrors given to download into {directory}")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"cannot create the data directory {directory}: {e.strerror or e}") from None
    if not os.access(directory, os.W_OK):
        raise DownloadError(f"cannot write to the data directory {directory}")


def _fetch(url: str, directory: Path, filename: str, options: DownloadOptions) -> Path:
    """Download ``url`` into a new temporary file in ``directory``, retrying transient failures."""
    reason = ""
    for attempt in range(options.attempts):
        if attempt:
            time.sleep(options.backoff * 2 ** (attempt - 1))
        try:
            return _fetch_once(url, directory, filename, options)
        except urllib.error.HTTPError as e:
            reason = f"HTTP {e.code} {e.reason}"
            if e.code < 500 and e.code not in RETRYABLE_HTTP:
                raise _FetchFailed(reason) from None
        except (OSError, http.client.HTTPException) as e:
            reason = _describe(e, options.timeout)
    raise _FetchFailed(f"{reason} (after {options.attempts} attempt(s))")


def _fetch_once(url: str, directory: Path, filename: str, options: DownloadOptions) -> Path:
    """One try: stream the response into a temporary file; delete it on any failure."""
    handle, name = tempfile.mkstemp(dir=directory, prefix=f".{filename}.", suffix=".part")
    temporary = Path(name)
    request = urllib.request.Request(url, headers={"User-Agent": "scratchnn"})
    try:
        with (
            os.fdopen(handle, "wb") as out,
            urllib.request.urlopen(request, timeout=options.timeout) as response,
        ):
            length = response.headers.get("Content-Length", "")
            total = int(length) if length.isdigit() else None
            done = 0
            while chunk := response.read(CHUNK):
                out.write(chunk)
                done += len(chunk)
                if options.progress is not None:
                    options.progress(filename, done, total)
            if total is not None and done != total:
                raise http.client.IncompleteRead(b"", total - done)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def _verify(path: Path, url: str, sha256: str | None) -> None:
    """Check that the downloaded file decompresses, has the expected digest and is well-formed IDX."""
    data = decompress(path.read_bytes(), url)
    verify_sha256(data, sha256, url)
    parse_idx(data, url)


def _describe(error: BaseException, timeout: float) -> str:
    """A short human reason for a network failure."""
    reason = getattr(error, "reason", error)
    if isinstance(reason, TimeoutError):
        return f"timed out after {timeout:g} s"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


__all__ = ["DownloadOptions", "download_file"]
