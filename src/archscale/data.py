"""Datasets as device-resident tensors, with whole-batch augmentation on the device.

Modelled on airbench's loader: the whole split is decoded once, converted from uint8 to float
once, normalised, and kept on the training device. Batches are slices of a device-side
``randperm`` and augmentation is a handful of tensor ops over the whole batch. There is no
``DataLoader`` and no per-sample Python, because for the small images used here (8x8 .. 32x32)
the Python overhead of a conventional loader would dominate the step time.

CIFAR-10/100 are read by torchvision (``archscale.cifar``: its md5 checks, its reader, its
download); ImageNet16-120, which torchvision lacks, by :func:`_load_imagenet16` with the same
checks. Loading never downloads: ``archscale data fetch`` (:func:`fetch_dataset`) or the
workflow's ``fetch_dataset`` job (``download: true``) does. What needs no reading (shapes, split
sizes, file names) is in the torch-free ``archscale.dataset_info``.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from archscale.dataset_info import (
    DATASETS,
    DIGITS_TEST_FRACTION,
    NB201_README,
    DatasetError,
    DatasetInfo,
    fetch_hint,
    lookup,
    missing_files,
    missing_message,
)

__all__ = [
    "DATASETS",
    "DatasetError",
    "DatasetInfo",
    "ImageNet16",
    "TensorData",
    "augment_batch",
    "fetch_dataset",
    "iterate_batches",
    "load_dataset",
    "resolve_device",
]

SPLITS = ("test", "train")

_FAKE_SEEDS = {"train": 0, "test": 1}


@dataclass(frozen=True, eq=False)
class TensorData:
    """One split of a dataset, fully materialised on one device.

    ``x`` is float32 ``N x C x H x W`` normalised with the dataset's mean/std; ``y`` is int64.
    ``eq=False`` because element-wise tensor equality has no single truth value.
    """

    x: torch.Tensor
    y: torch.Tensor
    num_classes: int
    name: str

    def __post_init__(self) -> None:
        if self.x.ndim != 4 or self.y.ndim != 1 or self.x.shape[0] != self.y.shape[0]:
            raise ValueError(
                f"TensorData needs x of shape N x C x H x W and y of shape N, "
                f"got {tuple(self.x.shape)} and {tuple(self.y.shape)}"
            )

    @property
    def in_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one sample."""
        c, h, w = self.x.shape[1:]
        return (int(c), int(h), int(w))

    def __len__(self) -> int:
        return int(self.x.shape[0])


# --------------------------------------------------------------------------- devices


def resolve_device(device: str | torch.device) -> torch.device:
    """Turn a config/CLI device string into a ``torch.device``, failing early and clearly.

    ``"auto"`` picks CUDA when available, else CPU. Asking for CUDA on a machine without it is
    an error rather than a silent CPU fallback, so a misconfigured run cannot pass for a GPU run.
    """
    if isinstance(device, torch.device):
        dev = device
    else:
        text = device.strip().lower()
        if text == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            dev = torch.device(text)
        except RuntimeError as err:
            raise ValueError(f"unknown device '{device}' — use auto, cpu, cuda or cuda:N") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device '{device}' requested but CUDA is not available; use --device cpu or auto")
    return dev


def _same_device(a: torch.device, b: torch.device) -> bool:
    if a.type != b.type:
        return False
    if a.type != "cuda":
        return True
    cur = torch.cuda.current_device()
    return (a.index if a.index is not None else cur) == (b.index if b.index is not None else cur)


def _check_generator(generator: torch.Generator, device: torch.device, what: str) -> None:
    if not _same_device(generator.device, device):
        raise ValueError(
            f"{what}: generator is on {generator.device} but the data is on {device}; "
            f"create it with torch.Generator(device=...) on the data's device"
        )


# --------------------------------------------------------------------------- files


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split '{split}' — choose one of: {', '.join(SPLITS)}")


class ImageNet16:
    """ImageNet16's files and md5s (published in NAS-Bench-201's ImageNet16.py), laid out like
    torchvision's CIFAR tables (``base_folder``, ``train_list``/``test_list`` of [file, md5]).
    Class attributes, so a test can override them for small files of its own."""

    base_folder = "ImageNet16"
    train_list = [
        ["train_data_batch_1", "27846dcaa50de8e21a7d1a35f30f0e91"],
        ["train_data_batch_2", "c7254a054e0e795c69120a5727050e3f"],
        ["train_data_batch_3", "4333d3df2e5ffb114b05d2ffc19b1e87"],
        ["train_data_batch_4", "1620cdf193304f4a92677b695d70d10f"],
        ["train_data_batch_5", "348b3c2fdbb3940c4e9e834affd3b18d"],
        ["train_data_batch_6", "6e765307c242a1b3d7d5ef9139b48945"],
        ["train_data_batch_7", "564926d8cbf8fc4818ba23d2faac7564"],
        ["train_data_batch_8", "f4755871f718ccb653440b9dd0ebac66"],
        ["train_data_batch_9", "bb6dd660c38c58552125b1a92f86b5d4"],
        ["train_data_batch_10", "8f03f34ac4b42271a294f91bf480f29b"],
    ]
    test_list = [["val_data", "3410e3017fdaefba8d5073aaa65e4fd6"]]


def _imagenet16_bytes(path: Path, md5: str) -> bytes:
    """One ImageNet16 file's bytes, after checking their md5."""
    data = path.read_bytes()
    if hashlib.md5(data, usedforsecurity=False).hexdigest() != md5:
        raise DatasetError(
            f"imagenet16-120: {path} failed its md5 check (corrupt or not the official file); delete it "
            f"and get the ImageNet16 files again from the NAS-Bench-201 README ({NB201_README})"
        )
    return data


def _imagenet16_split(root: Path, split: str) -> list[tuple[Path, str]]:
    """(path, md5) of the files of ``split``; a one-line error when any file is missing."""
    missing = missing_files("imagenet16-120", root)
    if missing:
        raise DatasetError(f"{missing_message('imagenet16-120', root, missing)}; {fetch_hint('imagenet16-120', root)}")
    folder = root / ImageNet16.base_folder
    return [(folder / f, md5) for f, md5 in (ImageNet16.train_list if split == "train" else ImageNet16.test_list)]


def _load_imagenet16(info: DatasetInfo, root: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """ImageNet16 pickles -> the 120-class subset NAS-Bench-201 uses (labels 1..120 -> 0..119).

    ``pickle.loads`` can run code: the md5 check is the trust boundary, and it hashes the very
    bytes that are unpickled, so a file cannot change between check and use. Filtering each
    file before concatenating keeps peak memory near one file, not all ten.
    """
    xs, ys = [], []
    for path, md5 in _imagenet16_split(root, split):
        data = _imagenet16_bytes(path, md5)
        try:
            entry = pickle.loads(data, encoding="latin1")
            x, y = np.asarray(entry["data"], dtype=np.uint8), np.asarray(entry["labels"], dtype=np.int64)
        except Exception as err:  # an md5-valid file always parses; this is for a test's own tables
            why = " ".join(str(err).split())
            raise DatasetError(
                f"imagenet16-120: cannot read {path} ({type(err).__name__}: {why}); delete it and get the "
                f"ImageNet16 files again from the NAS-Bench-201 README ({NB201_README})"
            ) from err
        keep = (y >= 1) & (y <= info.num_classes)
        xs.append(x[keep])
        ys.append(y[keep] - 1)
    x = np.concatenate(xs).reshape(-1, *info.in_shape)
    return torch.from_numpy(x), torch.from_numpy(np.concatenate(ys))


def _check_labels(y: torch.Tensor, info: DatasetInfo, root: Path) -> None:
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= info.num_classes):
        raise DatasetError(
            f"{info.name}: labels under {root / str(info.subdir)} span {int(y.min())}..{int(y.max())}, "
            f"expected 0..{info.num_classes - 1}; delete the folder and fetch it again"
        )


def _load_digits(info: DatasetInfo, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn digits with a fixed stratified 75/25 split, pixels scaled to [0, 1].

    ``digits16`` upsamples bilinearly to 16x16: at 8x8 a conv net (and the NB201 cell's two
    stride-2 reductions, 8 -> 4 -> 2) has almost no spatial extent left to work with.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    labels = digits.target.astype(np.int64)
    train_idx, test_idx = train_test_split(
        np.arange(len(labels)), test_size=DIGITS_TEST_FRACTION, stratify=labels, random_state=0
    )
    idx = np.sort(train_idx if split == "train" else test_idx)
    x = torch.from_numpy(digits.images[idx].astype(np.float32) / 16.0).unsqueeze(1)
    if info.name == "digits16":
        x = F.interpolate(x, size=info.in_shape[1:], mode="bilinear", align_corners=False)
    return x, torch.from_numpy(labels[idx])


def _fake_cifar10(info: DatasetInfo, split: str, n: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded random uint8 images; generated on CPU so values do not depend on the device."""
    count = info.size(split) if n is None else n
    if count < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    g = torch.Generator().manual_seed(_FAKE_SEEDS[split])
    x = torch.randint(0, 256, (count, 3, 32, 32), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 10, (count,), generator=g, dtype=torch.int64)
    return x, y


def load_dataset(
    name: str,
    root: str | Path = "data",
    split: str = "train",
    device: str | torch.device = "cpu",
    *,
    n: int | None = None,
) -> TensorData:
    """Load one split of a dataset as normalised float32 tensors on ``device``.

    Files are read from ``root`` (torchvision's layout for CIFAR, ``root/ImageNet16`` for
    ImageNet16-120), md5-checked first, and never downloaded: a missing or corrupt file is a
    one-line :class:`DatasetError` naming it and the fix. ``n`` sets the size of
    ``fake-cifar10`` and is rejected for other datasets. ``device`` may be ``"auto"``.
    Splits are ``train``/``test``; for imagenet16-120 ``test`` is all of ``val_data`` (6,000
    images; NAS-Bench-201 halves it into its valid and test sets).

    uint8 pixels are moved to the device first and converted to float there (once), so a GPU
    load transfers a quarter of the bytes.
    """
    info = lookup(name)
    _check_split(split)
    if n is not None and name != "fake-cifar10":
        raise ValueError(f"n is only supported for fake-cifar10, not '{name}'")
    dev = resolve_device(device)
    root = Path(root)

    if name in ("digits", "digits16"):
        x, y = _load_digits(info, split)
    elif name == "fake-cifar10":
        x, y = _fake_cifar10(info, split, n)
    elif name == "imagenet16-120":
        x, y = _load_imagenet16(info, root, split)
    else:
        from archscale import cifar

        x, y = cifar.read(name, root, split)
        _check_labels(y, info, root)

    x = x.to(dev)
    if x.dtype == torch.uint8:
        x = x.float().div_(255.0)
    mean = torch.tensor(info.mean, dtype=torch.float32, device=dev).view(-1, 1, 1)
    std = torch.tensor(info.std, dtype=torch.float32, device=dev).view(-1, 1, 1)
    x = x.sub_(mean).div_(std).contiguous()
    return TensorData(x=x, y=y.to(dev), num_classes=info.num_classes, name=name)


def fetch_dataset(name: str, root: str | Path = "data") -> Path:
    """Make sure a dataset's files are present and md5-valid under ``root``; return their folder.

    cifar10/cifar100 are downloaded by torchvision when needed (``archscale data fetch``, the
    workflow's ``fetch_dataset`` job). imagenet16-120 cannot be: its files are only checked,
    and a one-line :class:`DatasetError` says where to get them. digits, digits16 and
    fake-cifar10 need no files (returns ``root``).
    """
    info = lookup(name)
    root = Path(root)
    if info.subdir is None:
        return root
    if name == "imagenet16-120":
        for split in SPLITS:
            for path, md5 in _imagenet16_split(root, split):
                _imagenet16_bytes(path, md5)
        return root / info.subdir
    from archscale import cifar

    return cifar.fetch(name, root)


# --------------------------------------------------------------------------- batches


def iterate_batches(
    data: TensorData,
    batch_size: int,
    *,
    generator: torch.Generator,
    shuffle: bool = True,
    drop_last: bool = True,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(x, y)`` batches as index slices of one device-side ``randperm`` per epoch.

    ``generator`` must live on ``data.x.device`` so the permutation is made where the data is
    and is reproducible from its seed. With ``shuffle=False`` batches are plain views in order
    (``generator`` unused). With ``drop_last`` a short final batch is skipped.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    n = len(data)
    stop = n - n % batch_size if drop_last else n
    if not shuffle:
        for start in range(0, stop, batch_size):
            yield data.x[start : start + batch_size], data.y[start : start + batch_size]
        return
    _check_generator(generator, data.x.device, "iterate_batches")
    perm = torch.randperm(n, generator=generator, device=data.x.device)
    for start in range(0, stop, batch_size):
        idx = perm[start : start + batch_size]
        yield data.x[idx], data.y[idx]


def augment_batch(
    x: torch.Tensor,
    *,
    generator: torch.Generator,
    pad: int = 4,
    flip: bool = True,
    padding_mode: Literal["zeros", "reflect"] = "zeros",
) -> torch.Tensor:
    """Random ``pad``-pixel-padded crop plus random horizontal flip of a whole batch at once.

    Each sample gets its own offsets (0..2*pad per axis) and flip, drawn from ``generator``
    (on ``x.device``), so the same seed gives the same output. Crop and flip are fused into two
    ``gather`` calls over the batch: no per-sample Python. ``padding_mode="zeros"`` pads with 0
    in *normalised* space, i.e. with the dataset's mean colour (torchvision's RandomCrop pads
    with black before normalising; the difference does not matter for training).
    ``"reflect"`` (airbench's choice) needs ``pad`` smaller than the image side.
    """
    if x.ndim != 4:
        raise ValueError(f"augment_batch expects N x C x H x W, got shape {tuple(x.shape)}")
    if pad < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")
    if padding_mode not in ("zeros", "reflect"):
        raise ValueError(f"padding_mode must be 'zeros' or 'reflect', got '{padding_mode}'")
    _check_generator(generator, x.device, "augment_batch")
    n, c, h, w = x.shape
    if n == 0 or (pad == 0 and not flip):
        return x
    dev = x.device
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=dev)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=dev)
    cols = torch.arange(w, device=dev).expand(n, w)
    if flip:
        flipped = torch.randint(0, 2, (n, 1), generator=generator, device=dev).bool()
        cols = torch.where(flipped, cols.flip(1), cols)
    if pad > 0:
        mode = "constant" if padding_mode == "zeros" else "reflect"
        x = F.pad(x, (pad, pad, pad, pad), mode=mode)
    rows = dy[:, None] + torch.arange(h, device=dev)  # N x H, rows of the crop window
    cols = dx[:, None] + cols  # N x W, columns of the crop window (reversed where flipped)
    out = x.gather(2, rows[:, None, :, None].expand(n, c, h, x.shape[3]))
    return out.gather(3, cols[:, None, None, :].expand(n, c, h, w))
