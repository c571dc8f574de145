"""CIFAR-10/100 through torchvision: its file and md5 tables, integrity checks
(``check_integrity``), reader and download. This module adds only what torchvision does not do:
a one-line error naming the file and the fix, and the conversion to uint8 tensors.

Imported on first use by ``archscale.data`` (torchvision's import costs about a second).

Trust: torchvision unpickles the batch files with ``pickle.load``, which can run code. The md5
check against torchvision's published table, done in the constructor before any batch is
unpickled, is the trust boundary: a file with another md5 is never unpickled. (The file is read
again to unpickle it; whoever can swap it in that window can also edit the code that runs.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torchvision.datasets as tvd
from torchvision.datasets.utils import check_integrity

from archscale.dataset_info import DatasetError, fetch_hint, missing_files, missing_message

__all__ = ["CIFAR10", "CIFAR100", "fetch", "read"]


class CIFAR10(tvd.CIFAR10):
    """torchvision's CIFAR-10, unchanged. The project reads through this subclass so that its
    tables (``train_list``, ``test_list``, ``meta``, ``url``, ``tgz_md5``) are class attributes
    a test can override here (small files of its own) without touching torchvision's class."""


class CIFAR100(tvd.CIFAR100):
    """torchvision's CIFAR-100, unchanged (see :class:`CIFAR10`)."""


CLASSES: dict[str, type[tvd.CIFAR10]] = {"cifar10": CIFAR10, "cifar100": CIFAR100}


def _one_line(err: BaseException) -> str:
    return f"{type(err).__name__}: {' '.join(str(err).split())}".rstrip(": ")


def check_files(name: str, root: str | Path) -> None:
    """Raise a one-line :class:`DatasetError` for the first missing or corrupt file of
    ``name`` under ``root`` (torchvision's tables and ``check_integrity``); return if all pass."""
    cls, root = CLASSES[name], Path(root)
    missing = missing_files(name, root)
    if missing:
        raise DatasetError(f"{missing_message(name, root, missing)}; {fetch_hint(name, root)}")
    folder = root / cls.base_folder
    for file, md5 in [*cls.train_list, *cls.test_list, (cls.meta["filename"], cls.meta["md5"])]:
        if not check_integrity(str(folder / file), md5):
            raise DatasetError(
                f"{name}: {folder / file} failed its md5 check (corrupt or not the official file); "
                f"delete {folder} and fetch again: `archscale data fetch {name} --root {root}`"
            )


def read(name: str, root: str | Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One split as (uint8 N x 3 x 32 x 32, int64 labels), read by torchvision with
    ``download=False`` (its md5 checks run first: see the module docstring)."""
    cls, root = CLASSES[name], Path(root)
    try:
        ds = cls(str(root), train=split == "train", download=False)
    except Exception as err:  # torchvision: "Dataset not found or corrupted", or a parse error
        check_files(name, root)  # the one-line error naming the file, when that is the cause
        raise DatasetError(
            f"{name}: cannot read {root / cls.base_folder} ({_one_line(err)}); "
            f"delete it and fetch again: `archscale data fetch {name} --root {root}`"
        ) from err
    x = torch.from_numpy(np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2)))  # torchvision's HWC -> CHW
    y = torch.as_tensor(ds.targets, dtype=torch.int64)
    return x, y


def fetch(name: str, root: str | Path) -> Path:
    """Make ``name``'s files present and md5-valid under ``root``; return their folder.

    torchvision does it all: a no-op when every file's md5 matches, else it downloads the
    archive, checks the archive's md5 and unpacks it over the folder.
    """
    cls, root = CLASSES[name], Path(root)
    try:
        cls(str(root), train=False, download=True)
    except Exception as err:  # no network, a truncated archive (its md5 check), a bad file
        raise DatasetError(
            f"{name}: fetching {cls.url} into {root} failed ({_one_line(err)}); "
            f"check the network, then run `archscale data fetch {name} --root {root}` again"
        ) from err
    return root / cls.base_folder
