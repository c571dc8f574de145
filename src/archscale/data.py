"""Datasets as device-resident tensors, with whole-batch augmentation on the device.

Modelled on airbench's loader: the whole split is decoded once (one vectorised numpy step per
file), converted from uint8 to float once, normalised, and kept on the training device.
Batches are slices of a device-side ``randperm`` and augmentation is a handful of tensor ops
over the whole batch. There is no ``DataLoader`` and no per-sample Python, because for the small
images used here (8x8 .. 32x32) the Python overhead of a conventional loader would dominate the
step time.

Files read from disk are untrusted: CIFAR and ImageNet16 pickles are checked against their
published md5 *before* they are unpickled. Nothing is downloaded unless asked for
(``download=True`` or :func:`fetch_dataset`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import pickle
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "DATASETS",
    "DatasetError",
    "DatasetInfo",
    "TensorData",
    "augment_batch",
    "fetch_dataset",
    "iterate_batches",
    "load_dataset",
    "resolve_device",
]

SPLITS = ("test", "train")

_NB201_README = "https://github.com/D-X-Y/NAS-Bench-201#preparation-and-download"


class DatasetError(ValueError):
    """A dataset's files are missing, corrupt or malformed (message is one line)."""


@dataclass(frozen=True)
class DatasetInfo:
    """Static description of a dataset: shape, classes, normalisation and where files live.

    ``train_files``/``test_files`` are ``(file name, md5)`` pairs relative to ``root/subdir``;
    they are empty for datasets that need no files (bundled or synthetic).
    """

    name: str
    num_classes: int
    in_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str
    subdir: str | None = None
    train_files: tuple[tuple[str, str], ...] = ()
    test_files: tuple[tuple[str, str], ...] = ()

    def files(self, split: str) -> tuple[tuple[str, str], ...]:
        """The ``(file name, md5)`` pairs making up ``split``."""
        return self.train_files if split == "train" else self.test_files


_CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
_CIFAR10_STD = (0.2470, 0.2435, 0.2616)

# md5s are torchvision's published lists (CIFAR10/CIFAR100.train_list/test_list); they are
# copied here so loading needs no torchvision import, and a test checks they still agree.
DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo(
        name="digits",
        num_classes=10,
        in_shape=(1, 8, 8),
        # Statistics of the fixed train split after scaling pixels 0..16 to 0..1.
        mean=(0.3052,),
        std=(0.3760,),
        source="bundled with scikit-learn (sklearn.datasets.load_digits); no download",
    ),
    "digits16": DatasetInfo(
        name="digits16",
        num_classes=10,
        in_shape=(1, 16, 16),
        mean=(0.3052,),
        std=(0.3188,),
        source="bundled with scikit-learn (sklearn.datasets.load_digits), upsampled to 16x16",
    ),
    "cifar10": DatasetInfo(
        name="cifar10",
        num_classes=10,
        in_shape=(3, 32, 32),
        mean=_CIFAR10_MEAN,
        std=_CIFAR10_STD,
        source="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (run `archscale data fetch cifar10`)",
        subdir="cifar-10-batches-py",
        train_files=(
            ("data_batch_1", "c99cafc152244af753f735de768cd75f"),
            ("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
            ("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
            ("data_batch_4", "634d18415352ddfa80567beed471001a"),
            ("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"),
        ),
        test_files=(("test_batch", "40351d587109b95175f43aff81a1287e"),),
    ),
    "cifar100": DatasetInfo(
        name="cifar100",
        num_classes=100,
        in_shape=(3, 32, 32),
        mean=(0.5071, 0.4865, 0.4409),
        std=(0.2673, 0.2564, 0.2762),
        source="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz (run `archscale data fetch cifar100`)",
        subdir="cifar-100-python",
        train_files=(("train", "16019d7e3df5f24257cddd939b257f8d"),),
        test_files=(("test", "f0ef6b0ae62326f3e7ffdfab6717acfc"),),
    ),
    "imagenet16-120": DatasetInfo(
        name="imagenet16-120",
        num_classes=120,
        in_shape=(3, 16, 16),
        mean=tuple(v / 255 for v in (122.68, 116.66, 104.01)),
        std=tuple(v / 255 for v in (63.22, 61.26, 65.09)),
        source=f"the ImageNet16 data linked from the NAS-Bench-201 README ({_NB201_README})",
        subdir="ImageNet16",
        # md5s published in NAS-Bench-201's ImageNet16.py.
        train_files=(
            ("train_data_batch_1", "27846dcaa50de8e21a7d1a35f30f0e91"),
            ("train_data_batch_2", "c7254a054e0e795c69120a5727050e3f"),
            ("train_data_batch_3", "4333d3df2e5ffb114b05d2ffc19b1e87"),
            ("train_data_batch_4", "1620cdf193304f4a92677b695d70d10f"),
            ("train_data_batch_5", "348b3c2fdbb3940c4e9e834affd3b18d"),
            ("train_data_batch_6", "6e765307c242a1b3d7d5ef9139b48945"),
            ("train_data_batch_7", "564926d8cbf8fc4818ba23d2faac7564"),
            ("train_data_batch_8", "f4755871f718ccb653440b9dd0ebac66"),
            ("train_data_batch_9", "bb6dd660c38c58552125b1a92f86b5d4"),
            ("train_data_batch_10", "8f03f34ac4b42271a294f91bf480f29b"),
        ),
        test_files=(("val_data", "3410e3017fdaefba8d5073aaa65e4fd6"),),
    ),
    "fake-cifar10": DatasetInfo(
        name="fake-cifar10",
        num_classes=10,
        in_shape=(3, 32, 32),
        mean=_CIFAR10_MEAN,
        std=_CIFAR10_STD,
        source="synthetic (seeded random uint8 images); for benchmarks and smoke tests only",
    ),
}

_FAKE_SIZES = {"train": 50_000, "test": 10_000}
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


def _info(name: str) -> DatasetInfo:
    try:
        return DATASETS[name]
    except KeyError:
        choices = ", ".join(sorted(DATASETS))
        raise ValueError(f"unknown dataset '{name}' — choose one of: {choices}") from None


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split '{split}' — choose one of: {', '.join(SPLITS)}")


def _fix_hint(info: DatasetInfo, root: Path, *, corrupt: bool = False) -> str:
    """How to obtain the files, as the tail of a one-line error message."""
    if info.name == "imagenet16-120":
        return (
            f"imagenet16-120 cannot be downloaded automatically — get the ImageNet16 files "
            f"from the NAS-Bench-201 README ({_NB201_README}) and unpack them into "
            f"{root / str(info.subdir)}/"
        )
    if corrupt:  # download=True only fetches missing files; fetch re-downloads invalid ones
        return f"run `archscale data fetch {info.name}` to re-download it"
    return f"run `archscale data fetch {info.name}` or set `download: true` in the config"


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _file_md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _misplaced(path: Path, root: Path) -> Path | None:
    """``path``'s file name elsewhere under ``root`` (up to two folders deep): a dataset copied
    or unpacked into the wrong folder."""
    if not root.is_dir():
        return None
    candidates = (root / path.name, *sorted(root.glob(f"*/{path.name}")), *sorted(root.glob(f"*/*/{path.name}")))
    return next((c for c in candidates if c != path and c.is_file()), None)


def _read_checked(path: Path, md5: str, info: DatasetInfo, root: Path, verify: bool) -> bytes:
    """Read ``path`` whole and check its md5 (when ``verify``) before anything parses it.

    Reading once and hashing the same bytes that get unpickled leaves no window in which the
    file could change between check and use.
    """
    if not path.is_file():
        found = _misplaced(path, root)
        if found is not None:
            raise DatasetError(
                f"{info.name}: missing file {path}, but {found} exists (wrong folder layout); "
                f"move the contents of {found.parent} into {path.parent}/, or {_fix_hint(info, root)}"
            )
        raise DatasetError(f"{info.name}: missing file {path}; {_fix_hint(info, root)}")
    data = path.read_bytes()
    if verify:
        got = _md5(data)
        if got != md5:
            raise DatasetError(
                f"{info.name}: md5 mismatch for {path} (got {got}, expected {md5}) — the file "
                f"is corrupt or not the official release; {_fix_hint(info, root, corrupt=True)}"
            )
    return data


# Globals a numpy-array pickle legitimately needs; anything else (os.system, ...) is refused.
_NUMPY_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler for files whose md5 was *not* checked: only numpy array globals allowed."""

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("numpy.core"):  # pickles written by numpy < 2
            module = "numpy._core" + module[len("numpy.core") :]
        if (module, name) not in _NUMPY_GLOBALS:
            raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed")
        return super().find_class(module, name)


def _unpickle(data: bytes, *, trusted: bool) -> dict[str, Any]:
    """Unpickle a CIFAR/ImageNet16 batch dict, normalising bytes keys (py2 files) to str.

    ``latin1`` decodes python-2 strings the way numpy needs (as torchvision does); keys come
    back as str for py2 pickles and as bytes for py3 pickles written with bytes keys.
    """
    f = io.BytesIO(data)
    obj = pickle.load(f, encoding="latin1") if trusted else _NumpyOnlyUnpickler(f, encoding="latin1").load()
    if not isinstance(obj, dict):
        raise pickle.UnpicklingError(f"expected a dict, got {type(obj).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _load_batch(
    path: Path, md5: str, info: DatasetInfo, root: Path, verify: bool, label_key: str
) -> tuple[np.ndarray, np.ndarray]:
    """One pickle file -> (uint8 N x C*H*W, int64 labels), with one-line errors naming it."""
    data = _read_checked(path, md5, info, root, verify)
    try:
        entry = _unpickle(data, trusted=verify)
        x = np.asarray(entry["data"])
        y = np.asarray(entry[label_key], dtype=np.int64)
    except Exception as err:  # any parse failure means a bad file
        msg = str(err).replace("\n", " ")
        raise DatasetError(
            f"{info.name}: cannot read {path} ({type(err).__name__}: {msg}); {_fix_hint(info, root, corrupt=True)}"
        ) from err
    c, h, w = info.in_shape
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != c * h * w or y.shape != x.shape[:1]:
        raise DatasetError(
            f"{info.name}: {path} has data {x.dtype} {x.shape} and {y.shape[0]} labels, "
            f"expected uint8 N x {c * h * w} and N labels; {_fix_hint(info, root, corrupt=True)}"
        )
    return x, y


def _load_cifar(info: DatasetInfo, root: Path, split: str, verify: bool) -> tuple[torch.Tensor, torch.Tensor]:
    label_key = "labels" if info.name == "cifar10" else "fine_labels"
    folder = root / str(info.subdir)
    parts = [_load_batch(folder / f, md5, info, root, verify, label_key) for f, md5 in info.files(split)]
    x = np.concatenate([p[0] for p in parts]).reshape(-1, *info.in_shape)
    y = np.concatenate([p[1] for p in parts])
    _check_labels(y, info, folder)
    return torch.from_numpy(x), torch.from_numpy(y)


def _load_imagenet16(info: DatasetInfo, root: Path, split: str, verify: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """ImageNet16 pickles -> the 120-class subset NAS-Bench-201 uses (labels 1..120 -> 0..119).

    Filtering each file before concatenating keeps peak memory near one file, not all ten.
    """
    folder = root / str(info.subdir)
    xs, ys = [], []
    for f, md5 in info.files(split):
        x, y = _load_batch(folder / f, md5, info, root, verify, "labels")
        keep = (y >= 1) & (y <= info.num_classes)
        xs.append(x[keep])
        ys.append(y[keep] - 1)
    x = np.concatenate(xs).reshape(-1, *info.in_shape)
    y = np.concatenate(ys)
    return torch.from_numpy(x), torch.from_numpy(y)


def _check_labels(y: np.ndarray, info: DatasetInfo, where: Path) -> None:
    if y.size and (y.min() < 0 or y.max() >= info.num_classes):
        raise DatasetError(
            f"{info.name}: labels in {where} span {y.min()}..{y.max()}, expected 0..{info.num_classes - 1}"
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
    train_idx, test_idx = train_test_split(np.arange(len(labels)), test_size=0.25, stratify=labels, random_state=0)
    idx = np.sort(train_idx if split == "train" else test_idx)
    x = torch.from_numpy(digits.images[idx].astype(np.float32) / 16.0).unsqueeze(1)
    if info.name == "digits16":
        x = F.interpolate(x, size=info.in_shape[1:], mode="bilinear", align_corners=False)
    return x, torch.from_numpy(labels[idx])


def _fake_cifar10(split: str, n: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded random uint8 images; generated on CPU so values do not depend on the device."""
    count = _FAKE_SIZES[split] if n is None else n
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
    download: bool = False,
    verify_md5: bool = True,
    n: int | None = None,
) -> TensorData:
    """Load one split of a dataset as normalised float32 tensors on ``device``.

    Files are read from ``root`` (torchvision's layout for CIFAR, ``root/ImageNet16`` for
    ImageNet16-120) and are only downloaded when ``download`` is true. ``verify_md5=False``
    skips the md5 check (for test files written in the real format); such files are then
    unpickled with an allow-list that only admits numpy arrays. ``n`` sets the size of
    ``fake-cifar10`` and is rejected for other datasets. ``device`` may be ``"auto"``.
    Splits are ``train``/``test``; for imagenet16-120 ``test`` is all of ``val_data`` (6,000
    images; NAS-Bench-201 halves it into its valid and test sets).

    uint8 pixels are moved to the device first and converted to float there (once), so a GPU
    load transfers a quarter of the bytes.
    """
    info = _info(name)
    _check_split(split)
    if n is not None and name != "fake-cifar10":
        raise ValueError(f"n is only supported for fake-cifar10, not '{name}'")
    dev = resolve_device(device)
    root = Path(root)

    if name in ("digits", "digits16"):
        x, y = _load_digits(info, split)
    elif name == "fake-cifar10":
        x, y = _fake_cifar10(split, n)
    else:
        folder = root / str(info.subdir)
        if download and not all((folder / f).is_file() for f, _ in info.files(split)):
            fetch_dataset(name, root)
        loader = _load_imagenet16 if name == "imagenet16-120" else _load_cifar
        x, y = loader(info, root, split, verify_md5)

    x = x.to(dev)
    if x.dtype == torch.uint8:
        x = x.float().div_(255.0)
    mean = torch.tensor(info.mean, dtype=torch.float32, device=dev).view(-1, 1, 1)
    std = torch.tensor(info.std, dtype=torch.float32, device=dev).view(-1, 1, 1)
    x = x.sub_(mean).div_(std).contiguous()
    return TensorData(x=x, y=y.to(dev), num_classes=info.num_classes, name=name)


# --------------------------------------------------------------------------- download


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Exclusive ``flock`` on ``path``: concurrent fetches of one dataset queue behind it."""
    with path.open("a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _files_valid(info: DatasetInfo, folder: Path) -> bool:
    return all(
        (folder / f).is_file() and _file_md5(folder / f) == md5 for split in SPLITS for f, md5 in info.files(split)
    )


def _download_archive(name: str, dest: Path) -> None:
    """Download and unpack the official archive into ``dest`` (torchvision checks its md5)."""
    from torchvision.datasets import CIFAR10, CIFAR100
    from torchvision.datasets.utils import download_and_extract_archive

    cls = CIFAR10 if name == "cifar10" else CIFAR100
    try:
        download_and_extract_archive(cls.url, download_root=str(dest), filename=cls.filename, md5=cls.tgz_md5)
    except Exception as err:  # no network, or a truncated/corrupt archive (torchvision's md5 check)
        why = " ".join(str(err).split()) or type(err).__name__
        raise DatasetError(
            f"{name}: downloading {cls.url} failed ({type(err).__name__}: {why}); "
            f"check the network, then run `archscale data fetch {name}` again"
        ) from err


def fetch_dataset(name: str, root: str | Path = "data") -> Path:
    """Make sure a dataset's files are present and md5-valid under ``root``; return their dir.

    Only cifar10/cifar100 can be downloaded (via torchvision). A per-dataset ``flock`` on
    ``root/.<name>.lock`` lets one process download while others wait and then reuse the
    result; the archive is unpacked into a temp dir under ``root`` and renamed into place, so
    an interrupted download never leaves a half-written dataset. digits/digits16/fake-cifar10
    need no files (returns ``root``). imagenet16-120 must be provided by the user: it is only
    checked, and a one-line :class:`DatasetError` says where to get it.
    """
    info = _info(name)
    root = Path(root)
    if info.subdir is None:
        return root
    target = root / info.subdir
    if name == "imagenet16-120":
        if _files_valid(info, target):
            return target
        raise DatasetError(f"imagenet16-120: files missing or corrupt under {target}; {_fix_hint(info, root)}")
    root.mkdir(parents=True, exist_ok=True)
    with _file_lock(root / f".{name}.lock"):
        if _files_valid(info, target):
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-download-", dir=root))
        try:
            _download_archive(name, tmp)
            fetched = tmp / info.subdir
            for split in SPLITS:
                for f, md5 in info.files(split):
                    if not (fetched / f).is_file() or _file_md5(fetched / f) != md5:
                        raise DatasetError(
                            f"{name}: downloaded archive has a missing or corrupt {f}; "
                            f"try `archscale data fetch {name}` again"
                        )
            if target.exists():  # stale or corrupt copy: move it into tmp to be deleted
                target.rename(tmp / "stale")
            fetched.rename(target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


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
