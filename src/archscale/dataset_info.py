"""What is known about each dataset without reading it: shape, classes, normalisation, split
sizes, and which files it needs where.

No torch or torchvision import: the Snakefile's pre-flight checks (``archscale.config_check``)
use this before any job is planned, in whatever Python runs Snakemake. File *names* of CIFAR
are torchvision's (its ``train_list``/``test_list``/``meta``; a test checks they agree); their
md5s stay in torchvision, which checks them when a job reads the files (``archscale.cifar``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DATASETS",
    "DOWNLOADABLE",
    "DatasetError",
    "DatasetInfo",
    "fetch_hint",
    "lookup",
    "missing_files",
    "missing_message",
]

NB201_README = "https://github.com/D-X-Y/NAS-Bench-201#preparation-and-download"

#: Datasets whose files torchvision downloads (``archscale data fetch``, ``download: true``).
DOWNLOADABLE = ("cifar10", "cifar100")


class DatasetError(ValueError):
    """A dataset's files are missing, corrupt or malformed (message is one line)."""


@dataclass(frozen=True)
class DatasetInfo:
    """Static description of a dataset. ``files`` are the names under ``root/subdir`` that
    reading it needs (empty, and ``subdir`` None, for datasets that need no files);
    ``sizes`` are the (train, test) sample counts."""

    name: str
    num_classes: int
    in_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str
    sizes: tuple[int, int]
    subdir: str | None = None
    files: tuple[str, ...] = ()

    def size(self, split: str) -> int:
        """Samples in ``split`` (train: the largest batch a config may ask for)."""
        return self.sizes[0] if split == "train" else self.sizes[1]


#: scikit-learn's digits: 1797 images, split 75/25 stratified (train_test_split rounds the test
#: share up), the split archscale.data makes.
DIGITS_N = 1797
DIGITS_TEST_FRACTION = 0.25
_DIGITS_SIZES = (DIGITS_N - math.ceil(DIGITS_N * DIGITS_TEST_FRACTION), math.ceil(DIGITS_N * DIGITS_TEST_FRACTION))

_CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
_CIFAR10_STD = (0.2470, 0.2435, 0.2616)

DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo(
        name="digits",
        num_classes=10,
        in_shape=(1, 8, 8),
        # Statistics of the fixed train split after scaling pixels 0..16 to 0..1.
        mean=(0.3052,),
        std=(0.3760,),
        source="bundled with scikit-learn (sklearn.datasets.load_digits); no download",
        sizes=_DIGITS_SIZES,
    ),
    "digits16": DatasetInfo(
        name="digits16",
        num_classes=10,
        in_shape=(1, 16, 16),
        mean=(0.3052,),
        std=(0.3188,),
        source="bundled with scikit-learn (sklearn.datasets.load_digits), upsampled to 16x16",
        sizes=_DIGITS_SIZES,
    ),
    "cifar10": DatasetInfo(
        name="cifar10",
        num_classes=10,
        in_shape=(3, 32, 32),
        mean=_CIFAR10_MEAN,
        std=_CIFAR10_STD,
        source="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz via torchvision",
        sizes=(50_000, 10_000),
        subdir="cifar-10-batches-py",
        files=(*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"),
    ),
    "cifar100": DatasetInfo(
        name="cifar100",
        num_classes=100,
        in_shape=(3, 32, 32),
        mean=(0.5071, 0.4865, 0.4409),
        std=(0.2673, 0.2564, 0.2762),
        source="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz via torchvision",
        sizes=(50_000, 10_000),
        subdir="cifar-100-python",
        files=("train", "test", "meta"),
    ),
    "imagenet16-120": DatasetInfo(
        name="imagenet16-120",
        num_classes=120,
        in_shape=(3, 16, 16),
        mean=tuple(v / 255 for v in (122.68, 116.66, 104.01)),
        std=tuple(v / 255 for v in (63.22, 61.26, 65.09)),
        source=f"the ImageNet16 data linked from the NAS-Bench-201 README ({NB201_README})",
        # the 120-class subset NAS-Bench-201 uses; test = all of val_data's 120 classes
        sizes=(151_700, 6_000),
        subdir="ImageNet16",
        files=(*(f"train_data_batch_{i}" for i in range(1, 11)), "val_data"),
    ),
    "fake-cifar10": DatasetInfo(
        name="fake-cifar10",
        num_classes=10,
        in_shape=(3, 32, 32),
        mean=_CIFAR10_MEAN,
        std=_CIFAR10_STD,
        source="synthetic (seeded random uint8 images); for benchmarks and smoke tests only",
        sizes=(50_000, 10_000),
    ),
}


def lookup(name: str) -> DatasetInfo:
    """``DATASETS[name]``, or a one-line error listing the known names."""
    try:
        return DATASETS[name]
    except KeyError:
        choices = ", ".join(sorted(DATASETS))
        raise ValueError(f"unknown dataset '{name}' — choose one of: {choices}") from None


def missing_files(name: str, root: str | Path) -> list[Path]:
    """The files ``name`` needs that are not under ``root`` (existence only: md5s are checked
    when a job reads them). Empty for datasets that need no files."""
    info = lookup(name)
    folder = Path(root) / str(info.subdir)
    return [folder / f for f in info.files if not (folder / f).is_file()]


def fetch_hint(name: str, root: str | Path) -> str:
    """How to obtain ``name``'s files under ``root``: the tail of a one-line error message."""
    info = lookup(name)
    if name in DOWNLOADABLE:
        return f"run `archscale data fetch {name} --root {root}` or set download: true"
    return (
        f"{name} cannot be downloaded automatically: get the ImageNet16 files from the NAS-Bench-201 "
        f"README ({NB201_README}) and unpack them into {Path(root) / str(info.subdir)}/"
    )


def missing_message(name: str, root: str | Path, missing: list[Path]) -> str:
    """``<name> files missing under <root>/ (expected <first missing file>[ and N more])``."""
    more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
    return f"{name} files missing under {root}/ (expected {missing[0]}{more})"
