"""What the library knows about each full-size dataset: its files, digests, mirrors and usual directories.

Both datasets ship as the same four official IDX files (:data:`SPLIT_FILES`), normally gzip-compressed. The
digests are SHA-256 over the DECOMPRESSED bytes (:mod:`scratchnn.data.checksum`), so the official ``.gz``, a
recompressed copy and an uncompressed copy all verify. A digest of ``None`` means "unknown": such a file is
still checked for a valid IDX structure, shape and label range, but not for being the official content.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .dataset import DIGITS
from .errors import DataError, UnknownDatasetError

SPLIT_FILES: Mapping[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
"""For each official split, the stems of its images file and its labels file (``.gz`` optional on disk)."""

FILE_STEMS: tuple[str, ...] = tuple(stem for pair in SPLIT_FILES.values() for stem in pair)


@dataclass(frozen=True)
class DatasetSpec:
    """One full-size dataset in the official four-file IDX layout.

    Args:
        name: the name :func:`~scratchnn.data.load_dataset` takes.
        classes: the class names, index = label.
        mirrors: base URLs that serve ``<stem>.gz``, tried in order.
        checksums: file stem -> SHA-256 of the decompressed bytes, or ``None`` when unknown.
        system_dirs: directories where a system package may have installed the files.
        credit: authors and licence, carried into every loaded dataset's ``source``.
        install_hint: another way to get the files, for the missing-file message.
    """

    name: str
    classes: tuple[str, ...]
    mirrors: tuple[str, ...]
    checksums: Mapping[str, str | None]
    system_dirs: tuple[str, ...] = ()
    credit: str = ""
    install_hint: str = ""

    def with_overrides(
        self, mirrors: Sequence[str] | None = None, checksums: Mapping[str, str | None] | None = None
    ) -> DatasetSpec:
        """Return a copy with other mirrors and/or digests (entries of ``checksums`` replace those given).

        Args:
            mirrors: base URLs to use instead of the built-in ones; ``None`` keeps them.
            checksums: file stem -> digest (or ``None`` to skip that file's check); ``None`` keeps them.
        """
        if checksums is not None:
            unknown = sorted(set(checksums) - set(FILE_STEMS))
            if unknown:
                raise DataError(f"checksums for unknown file(s) {unknown}, expected stems among {list(FILE_STEMS)}")
        return dataclasses.replace(
            self,
            mirrors=self.mirrors if mirrors is None else tuple(mirrors),
            checksums={**self.checksums, **(checksums or {})},
        )


# MNIST digests: nobody official publishes them (LeCun's site lists only file sizes). The values below are the
# SHA-256 of the four decompressed official files as recorded, identically, by several independent public
# projects that hashed their own downloads, next to the widely published digests of the .gz files themselves
# (440fcabf..., 3552534a..., 8d422c7b..., f7ae60f9..., e.g. in torchvision's prototype MNIST dataset). They
# could not be checked against the real files from the machine this was written on (the official files are
# not reachable there). Their decompressed sizes, 47040016 / 60008 / 7840016 / 10008 bytes, follow from the
# IDX headers. If they ever prove wrong, set the entry to None: the files are then checked by IDX structure.
MNIST = DatasetSpec(
    name="mnist",
    classes=DIGITS,
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    checksums={
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    credit="MNIST by Yann LeCun, Corinna Cortes and Christopher J.C. Burges, CC BY-SA 3.0",
)

# Fashion-MNIST digests: computed on the decompressed files of Debian's package dataset-fashion-mnist
# (0.0~git20200523.55506a9-1, /usr/share/datasets/fashion-mnist), which recompresses the official files of
# github.com/zalandoresearch/fashion-mnist without changing their content; public projects that hashed the
# upstream downloads record the same values.
FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    classes=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    checksums={
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    credit="Fashion-MNIST by Han Xiao, Kashif Rasul and Roland Vollgraf (Zalando Research), MIT licence",
    install_hint="apt-get install dataset-fashion-mnist",
)

DATASETS: Mapping[str, DatasetSpec] = {spec.name: spec for spec in (MNIST, FASHION_MNIST)}


def get_spec(name: str) -> DatasetSpec:
    """Return the spec of a dataset by name.

    Args:
        name: ``'mnist'`` or ``'fashion-mnist'``.

    Raises:
        UnknownDatasetError: any other name; the message lists the known ones.
    """
    if name not in DATASETS:
        known = ", ".join(repr(n) for n in DATASETS)
        raise UnknownDatasetError(f"unknown dataset {name!r}, expected one of {known}")
    return DATASETS[name]


def cache_dir(name: str) -> Path:
    """The per-user directory where downloads of dataset ``name`` go: ``$XDG_CACHE_HOME/scratchnn/<name>``
    (``~/.cache/scratchnn/<name>`` when the variable is unset).

    Args:
        name: the dataset name.
    """
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "scratchnn" / name


__all__ = [
    "DATASETS",
    "FASHION_MNIST",
    "FILE_STEMS",
    "MNIST",
    "SPLIT_FILES",
    "DatasetSpec",
    "cache_dir",
    "get_spec",
]
