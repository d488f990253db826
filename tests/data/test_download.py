"""Downloads against a loopback HTTP mirror: success, failover, retries, bad content, and files left alone."""

from __future__ import annotations

import gzip
import hashlib

import numpy as np
import pytest
from fake_idx import STEMS, idx_bytes, sample, write_dataset

from scratchnn.data import ChecksumError, DownloadError, DownloadOptions, download_file, load_dataset

FAST = DownloadOptions(timeout=5, attempts=2, backoff=0)
NAME = "train-labels-idx1-ubyte.gz"
DATA = idx_bytes(sample(30, seed=1)[1])
SHA = hashlib.sha256(DATA).hexdigest()


def _serve(mirror, data: bytes = DATA, level: int = 9) -> bytes:
    served = gzip.compress(data, compresslevel=level, mtime=0)
    (mirror.root / NAME).write_bytes(served)
    return served


def test_download_verifies_and_places_the_file(tmp_path, mirror):
    served = _serve(mirror)
    seen = []
    options = DownloadOptions(progress=lambda *args: seen.append(args))
    path = download_file(NAME, tmp_path / "data", [mirror.url], sha256=SHA, options=options)
    assert path == tmp_path / "data" / NAME
    assert path.read_bytes() == served
    assert [p.name for p in path.parent.iterdir()] == [NAME]
    assert seen[-1] == (NAME, len(served), len(served))


def test_recompressed_copy_verifies_against_the_same_digest(tmp_path, mirror):
    served = _serve(mirror, level=1)
    assert served != gzip.compress(DATA, compresslevel=9, mtime=0)
    assert download_file(NAME, tmp_path, [mirror.url], sha256=SHA, options=FAST).read_bytes() == served


def test_dead_first_mirror_falls_over_to_the_second(tmp_path, mirror, dead_url):
    _serve(mirror)
    path = download_file(NAME, tmp_path, [dead_url, mirror.url], sha256=SHA, options=FAST)
    assert path.is_file()
    assert mirror.requests == [f"/{NAME}"]


def test_checksum_mismatch_raises_and_leaves_nothing(tmp_path, mirror):
    wrong = idx_bytes(np.zeros(30, dtype=np.uint8))
    _serve(mirror, wrong)
    directory = tmp_path / "data"
    with pytest.raises(ChecksumError) as caught:
        download_file(NAME, directory, [mirror.url], sha256=SHA, options=FAST)
    message = str(caught.value)
    assert NAME in message and f"expected {SHA}" in message
    assert f"is {hashlib.sha256(wrong).hexdigest()}" in message and "\n" not in message
    assert list(directory.iterdir()) == []


def test_existing_file_is_never_overwritten_nor_fetched(tmp_path, mirror):
    existing = tmp_path / NAME
    existing.write_bytes(b"already here")
    _serve(mirror)
    assert download_file(NAME, tmp_path, [mirror.url], sha256=SHA, options=FAST) == existing
    assert existing.read_bytes() == b"already here"
    assert mirror.requests == []


def test_bad_download_leaves_existing_files_untouched(tmp_path, mirror):
    digests = write_dataset(tmp_path / "data")
    for stem in STEMS["test"]:
        (tmp_path / "data" / f"{stem}.gz").rename(mirror.root / f"{stem}.gz")
    (mirror.root / f"{STEMS['test'][0]}.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01garbage"))
    before = {p.name: p.read_bytes() for p in (tmp_path / "data").iterdir()}
    with pytest.raises(ChecksumError, match=STEMS["test"][0]):
        load_dataset("mnist", tmp_path / "data", download=True, mirrors=[mirror.url], checksums=digests, options=FAST)
    assert {p.name: p.read_bytes() for p in (tmp_path / "data").iterdir()} == before


def test_404_moves_on_without_retrying(tmp_path, mirror):
    with pytest.raises(DownloadError, match=f"{mirror.url}{NAME}: HTTP 404") as caught:
        download_file(NAME, tmp_path / "data", [mirror.url], sha256=SHA, options=FAST)
    assert not isinstance(caught.value, ChecksumError)
    assert mirror.requests == [f"/{NAME}"]
    assert list((tmp_path / "data").iterdir()) == []


def test_server_errors_are_retried(tmp_path, mirror):
    _serve(mirror)
    mirror.failures[f"/{NAME}"] = [503]
    assert download_file(NAME, tmp_path, [mirror.url], sha256=SHA, options=FAST).is_file()
    assert mirror.requests == [f"/{NAME}"] * 2


def test_every_mirror_failing_is_reported_per_mirror(tmp_path, mirror, dead_url):
    with pytest.raises(DownloadError) as caught:
        download_file(NAME, tmp_path, [dead_url, mirror.url], options=FAST)
    message = str(caught.value)
    assert f"{dead_url}{NAME}: Connection refused (after 2 attempt(s))" in message
    assert f"{mirror.url}{NAME}: HTTP 404" in message


def test_without_a_digest_a_non_idx_page_is_still_rejected(tmp_path, mirror):
    (mirror.root / NAME).write_bytes(b"<html>Moved</html>")
    with pytest.raises(DownloadError, match="not an IDX file"):
        download_file(NAME, tmp_path / "data", [mirror.url], options=FAST)
    assert list((tmp_path / "data").iterdir()) == []


def test_load_dataset_downloads_missing_files_once(tmp_path, mirror):
    digests = write_dataset(mirror.root)
    data_dir = tmp_path / "data"
    kwargs = {"mirrors": [mirror.url], "checksums": digests, "options": FAST}
    first = load_dataset("fashion-mnist", data_dir, download=True, **kwargs)
    assert len(first) == 20 and first.classes[0] == "T-shirt/top"
    assert sorted(p.name for p in data_dir.iterdir()) == sorted(f"{s}.gz" for s in digests)
    requests = len(mirror.requests)
    again = load_dataset("fashion-mnist", data_dir, **kwargs)
    np.testing.assert_array_equal(again.images, first.images)
    assert len(mirror.requests) == requests


def test_options_are_validated():
    with pytest.raises(ValueError, match="attempts must be at least 1, got 0"):
        DownloadOptions(attempts=0)
