"""Offline tests for archscale.data: tiny files in the real on-disk formats, read by the real
code (torchvision's CIFAR reader, the ImageNet16 reader), no downloads.

A test-made file cannot match the published md5s, so tests that read successfully point the
md5 tables at their own files: class attributes of archscale.cifar.CIFAR10/CIFAR100 (the
project's subclasses of torchvision's classes) and of archscale.data.ImageNet16, set with
monkeypatch for one test only. torchvision's own classes are never touched."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from archscale import data as D
from archscale.data import (
    DATASETS,
    DatasetError,
    TensorData,
    augment_batch,
    fetch_dataset,
    iterate_batches,
    load_dataset,
    resolve_device,
)

# --------------------------------------------------------------------------- helpers


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _dump(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        pickle.dump(obj, f, protocol=2)


def write_cifar10(root: Path, per_file: int = 6, seed: int = 0) -> dict[str, tuple]:
    """Write CIFAR-10 batches and batches.meta in the real format: protocol-2 pickles of dicts
    with str keys (the release's python-2 pickles read back so with latin1, as torchvision
    reads them); return name -> (data, labels)."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        x = rng.integers(0, 256, (per_file, 3072), dtype=np.uint8)
        y = [int(v) for v in rng.integers(0, 10, per_file)]
        _dump(
            folder / name,
            {
                "batch_label": f"{name} of 5",
                "labels": y,
                "data": x,
                "filenames": [f"img_{i}.png" for i in range(per_file)],
            },
        )
        written[name] = (x, y)
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    _dump(folder / "batches.meta", {"num_cases_per_batch": per_file, "label_names": names, "num_vis": 3072})
    return written


def write_cifar100(root: Path, n_train: int = 12, n_test: int = 5, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    written = {}
    for name, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        fine = [int(v) for v in rng.integers(0, 100, n)]
        _dump(
            folder / name,
            {
                "filenames": [f"img_{i}.png" for i in range(n)],
                "batch_label": f"{name} batch",
                "fine_labels": fine,
                "coarse_labels": [v // 5 for v in fine],
                "data": x,
            },
        )
        written[name] = (x, fine)
    _dump(folder / "meta", {"fine_label_names": [f"c{i}" for i in range(100)], "coarse_label_names": []})
    return written


def write_imagenet16(root: Path, per_file: int = 10, seed: int = 2) -> dict:
    """ImageNet16 pickles: str keys, 'data' N x 768 uint8, 1-based labels up to 1000."""
    rng = np.random.default_rng(seed)
    folder = root / "ImageNet16"
    written = {}
    names = [f"train_data_batch_{i}" for i in range(1, 11)] + ["val_data"]
    for name in names:
        x = rng.integers(0, 256, (per_file, 768), dtype=np.uint8)
        # Guarantee both kept (<= 120, incl. the edges 1 and 120) and dropped (> 120) labels.
        y = [1, 120, 121, 1000] + [int(v) for v in rng.integers(1, 241, per_file - 4)]
        _dump(folder / name, {"data": x, "labels": y, "mean": np.zeros(768)})
        written[name] = (x, y)
    return written


def tables_of(cls: type, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point ``cls``'s md5 tables (torchvision's layout) at the files in ``folder``, for this
    test only, so the md5-checked reading path runs on them."""
    for attr in ("train_list", "test_list"):
        monkeypatch.setattr(cls, attr, [[f, _md5(folder / f)] for f, _ in getattr(cls, attr)])
    if hasattr(cls, "meta"):
        monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": _md5(folder / cls.meta["filename"])})


def trust_cifar(name: str, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from archscale import cifar

    tables_of(cifar.CLASSES[name], root / DATASETS[name].subdir, monkeypatch)


def denorm(td: TensorData) -> np.ndarray:
    info = DATASETS[td.name]
    mean = torch.tensor(info.mean).view(-1, 1, 1)
    std = torch.tensor(info.std).view(-1, 1, 1)
    return ((td.x * std + mean) * 255).round().to(torch.uint8).numpy()


def assert_one_line(err: BaseException, *needles: str) -> str:
    msg = str(err)
    assert "\n" not in msg, msg
    for n in needles:
        assert n in msg, (n, msg)
    return msg


# --------------------------------------------------------------------------- registry / names


def test_unknown_dataset_and_split_messages() -> None:
    with pytest.raises(ValueError) as e:
        load_dataset("cifar")
    assert str(e.value) == (
        "unknown dataset 'cifar' — choose one of: cifar10, cifar100, digits, digits16, "
        "fake-cifar10, imagenet16-120"
    )
    with pytest.raises(ValueError, match="unknown split 'val' — choose one of: test, train"):
        load_dataset("digits", split="val")


def test_file_names_are_torchvisions_and_tables_its_own() -> None:
    """dataset_info's file names (used by the torch-free pre-flight) are torchvision's, and the
    project's classes carry torchvision's md5 tables unchanged."""
    import torchvision.datasets as tvd

    from archscale import cifar

    for name, tv in (("cifar10", tvd.CIFAR10), ("cifar100", tvd.CIFAR100)):
        cls, info = cifar.CLASSES[name], DATASETS[name]
        assert issubclass(cls, tv) and [k for k in vars(cls) if not k.startswith("__")] == []  # adds nothing
        assert cls.train_list is tv.train_list and cls.test_list is tv.test_list and cls.url == tv.url
        assert info.subdir == tv.base_folder
        assert info.files == tuple(f for f, _ in tv.train_list + tv.test_list) + (tv.meta["filename"],)
    info = DATASETS["imagenet16-120"]
    assert info.subdir == D.ImageNet16.base_folder
    assert info.files == tuple(f for f, _ in D.ImageNet16.train_list + D.ImageNet16.test_list)


def test_registry_shapes() -> None:
    for name, info in DATASETS.items():
        assert info.name == name
        assert len(info.mean) == len(info.std) == info.in_shape[0]
        assert info.size("train") > info.size("test") > 0


# --------------------------------------------------------------------------- digits


def test_digits_split_sizes_stratified_normalised() -> None:
    tr = load_dataset("digits", split="train")
    te = load_dataset("digits", split="test")
    assert len(tr) + len(te) == 1797
    assert DATASETS["digits"].sizes == (len(tr), len(te))  # what the pre-flight batch check uses
    assert tr.in_shape == (1, 8, 8) and tr.num_classes == 10
    assert tr.x.dtype == torch.float32 and tr.y.dtype == torch.int64
    assert set(tr.y.tolist()) == set(te.y.tolist()) == set(range(10))
    assert abs(tr.x.mean().item()) < 1e-3
    assert abs(tr.x.std().item() - 1) < 1e-3
    again = load_dataset("digits", split="train")
    assert torch.equal(tr.x, again.x) and torch.equal(tr.y, again.y)


def test_digits16_shape_and_stats() -> None:
    tr = load_dataset("digits16", split="train")
    te = load_dataset("digits16", split="test")
    assert tr.x.shape == (1347, 1, 16, 16) and te.x.shape == (450, 1, 16, 16)
    assert DATASETS["digits16"].sizes == (1347, 450)
    assert tr.in_shape == (1, 16, 16)
    assert abs(tr.x.mean().item()) < 1e-3
    assert abs(tr.x.std().item() - 1) < 1e-3
    small = load_dataset("digits", split="train")
    assert torch.equal(tr.y, small.y)  # same samples, same order


def test_device_auto_is_accepted() -> None:
    td = load_dataset("digits", split="test", device="auto")
    assert td.x.device.type == ("cuda" if torch.cuda.is_available() else "cpu")


# --------------------------------------------------------------------------- CIFAR


def test_cifar10_roundtrip_through_torchvision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written = write_cifar10(tmp_path)
    trust_cifar("cifar10", tmp_path, monkeypatch)
    tr = load_dataset("cifar10", tmp_path, "train")
    te = load_dataset("cifar10", tmp_path, "test")
    assert tr.x.shape == (30, 3, 32, 32) and te.x.shape == (6, 3, 32, 32)
    assert tr.in_shape == (3, 32, 32) and tr.num_classes == 10 and len(tr) == 30
    assert tr.x.is_contiguous() and tr.x.dtype == torch.float32 and tr.y.dtype == torch.int64
    expect_x = np.concatenate([written[f"data_batch_{i}"][0] for i in range(1, 6)])
    expect_y = sum((written[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    np.testing.assert_array_equal(denorm(tr), expect_x.reshape(-1, 3, 32, 32))
    assert tr.y.tolist() == expect_y
    np.testing.assert_array_equal(denorm(te), written["test_batch"][0].reshape(-1, 3, 32, 32))
    assert te.y.tolist() == written["test_batch"][1]


def test_cifar100_roundtrip_through_torchvision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written = write_cifar100(tmp_path)
    trust_cifar("cifar100", tmp_path, monkeypatch)
    tr = load_dataset("cifar100", tmp_path, "train")
    assert tr.x.shape == (12, 3, 32, 32) and tr.num_classes == 100
    np.testing.assert_array_equal(denorm(tr), written["train"][0].reshape(-1, 3, 32, 32))
    assert tr.y.tolist() == written["train"][1]
    assert load_dataset("cifar100", tmp_path, "test").y.tolist() == written["test"][1]


def test_cifar_md5_mismatch_names_the_file_and_the_fix(tmp_path: Path) -> None:
    """Test-made files fail torchvision's published md5s: refused, never unpickled."""
    write_cifar10(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    with pytest.raises(DatasetError) as e:
        load_dataset("cifar10", tmp_path, "train")
    assert_one_line(
        e.value,
        f"{folder / 'data_batch_1'} failed its md5 check",
        f"delete {folder} and fetch again: `archscale data fetch cifar10 --root {tmp_path}`",
    )


def test_cifar_truncated_file_fails_its_md5(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_cifar10(tmp_path)
    trust_cifar("cifar10", tmp_path, monkeypatch)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_4"
    path.write_bytes(path.read_bytes()[:1000])  # an interrupted copy
    with pytest.raises(DatasetError) as e:
        load_dataset("cifar10", tmp_path, "test")  # any file of the dataset, whichever split
    assert_one_line(e.value, f"{path} failed its md5 check", "archscale data fetch cifar10")


def test_cifar_missing_files_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_cifar10(tmp_path)
    trust_cifar("cifar10", tmp_path, monkeypatch)
    missing = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    missing.unlink()
    with pytest.raises(DatasetError) as e:
        load_dataset("cifar10", tmp_path, "train")
    assert str(e.value) == (
        f"cifar10 files missing under {tmp_path}/ (expected {missing}); "
        f"run `archscale data fetch cifar10 --root {tmp_path}` or set download: true"
    )
    empty = tmp_path / "empty"
    with pytest.raises(DatasetError) as e:
        load_dataset("cifar100", empty)
    assert_one_line(e.value, f"expected {empty / 'cifar-100-python' / 'train'} and 2 more", "download: true")


def test_malformed_and_mislabelled_cifar_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files whose md5 matches (here: tables pointed at them) but whose content is wrong still
    give one line: what torchvision's reader hit, or the labels out of range."""
    write_cifar10(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    _dump(folder / "test_batch", {"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]})
    trust_cifar("cifar10", tmp_path, monkeypatch)
    with pytest.raises(DatasetError) as e:
        load_dataset("cifar10", tmp_path, "test")
    assert_one_line(e.value, f"cannot read {folder} (ValueError: cannot reshape", "archscale data fetch cifar10")
    _dump(folder / "test_batch", {"data": np.zeros((2, 3072), np.uint8), "labels": [3, 10]})
    trust_cifar("cifar10", tmp_path, monkeypatch)
    with pytest.raises(DatasetError) as e:
        load_dataset("cifar10", tmp_path, "test")
    assert_one_line(e.value, f"labels under {folder} span 3..10, expected 0..9", "fetch it again")


def test_load_dataset_never_downloads() -> None:
    with pytest.raises(TypeError, match="download"):
        load_dataset("cifar10", "data", "train", download=True)  # type: ignore[call-arg]


# --------------------------------------------------------------------------- ImageNet16-120


def test_imagenet16_filters_and_shifts_labels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written = write_imagenet16(tmp_path)
    tables_of(D.ImageNet16, tmp_path / "ImageNet16", monkeypatch)
    tr = load_dataset("imagenet16-120", tmp_path, "train")
    xs, ys = [], []
    for i in range(1, 11):
        x, y = written[f"train_data_batch_{i}"]
        keep = np.array(y) <= 120
        xs.append(x[keep])
        ys.extend(v - 1 for v in y if v <= 120)
    assert tr.in_shape == (3, 16, 16) and tr.num_classes == 120
    assert tr.y.tolist() == ys
    assert tr.y.min() >= 0 and tr.y.max() <= 119 and 0 in tr.y and 119 in tr.y
    np.testing.assert_array_equal(denorm(tr), np.concatenate(xs).reshape(-1, 3, 16, 16))
    te = load_dataset("imagenet16-120", tmp_path, "test")
    assert len(te) == sum(v <= 120 for v in written["val_data"][1])


def test_imagenet16_missing_and_corrupt(tmp_path: Path) -> None:
    write_imagenet16(tmp_path)
    missing = tmp_path / "ImageNet16" / "train_data_batch_7"
    missing.unlink()
    with pytest.raises(DatasetError) as e:
        load_dataset("imagenet16-120", tmp_path, "train")
    assert_one_line(e.value, f"expected {missing})", "NAS-Bench-201", f"unpack them into {tmp_path / 'ImageNet16'}/")
    write_imagenet16(tmp_path)
    # The tiny files are not the published ones: the md5 check rejects them.
    with pytest.raises(DatasetError) as e:
        load_dataset("imagenet16-120", tmp_path, "test")
    assert_one_line(e.value, f"{tmp_path / 'ImageNet16' / 'val_data'} failed its md5 check", "NAS-Bench-201")


def test_imagenet16_fetch_checks_and_explains_manual_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(DatasetError) as e:
        fetch_dataset("imagenet16-120", tmp_path)
    assert_one_line(e.value, "cannot be downloaded automatically", "NAS-Bench-201")
    write_imagenet16(tmp_path)
    with pytest.raises(DatasetError, match="failed its md5 check"):
        fetch_dataset("imagenet16-120", tmp_path)
    tables_of(D.ImageNet16, tmp_path / "ImageNet16", monkeypatch)
    assert fetch_dataset("imagenet16-120", tmp_path) == tmp_path / "ImageNet16"


# --------------------------------------------------------------------------- fetch (offline)


def test_fetch_of_valid_files_does_not_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """torchvision skips the download when every md5 matches: the URL (a closed port) is never
    contacted. Downloads themselves run against a local server in tests/faults."""
    from archscale import cifar

    write_cifar10(tmp_path)
    trust_cifar("cifar10", tmp_path, monkeypatch)
    monkeypatch.setattr(cifar.CIFAR10, "url", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    assert fetch_dataset("cifar10", tmp_path) == tmp_path / "cifar-10-batches-py"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar-10-batches-py"]  # no archive fetched


def test_fetch_noop_for_fileless_datasets(tmp_path: Path) -> None:
    for name in ("digits", "digits16", "fake-cifar10"):
        assert fetch_dataset(name, tmp_path) == tmp_path


# --------------------------------------------------------------------------- fake-cifar10


def test_fake_cifar10() -> None:
    tr = load_dataset("fake-cifar10", n=64)
    te = load_dataset("fake-cifar10", split="test", n=16)
    assert tr.x.shape == (64, 3, 32, 32) and tr.x.dtype == torch.float32
    assert tr.y.shape == (64,) and tr.y.dtype == torch.int64
    assert tr.y.min() >= 0 and tr.y.max() <= 9 and tr.num_classes == 10
    assert torch.equal(load_dataset("fake-cifar10", n=64).x, tr.x)
    assert not torch.equal(te.x, tr.x[:16])
    with pytest.raises(ValueError, match="only supported for fake-cifar10"):
        load_dataset("digits", n=10)


# --------------------------------------------------------------------------- devices


def test_resolve_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError) as e:
        resolve_device("cuda")
    assert str(e.value) == (
        "device 'cuda' requested but CUDA is not available; use --device cpu or auto"
    )
    with pytest.raises(ValueError, match="--device cpu or auto"):
        resolve_device("cuda:1")
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("gpu7")


# --------------------------------------------------------------------------- batches


def _indexed(n: int) -> TensorData:
    x = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1)
    return TensorData(x=x, y=torch.arange(n), num_classes=n, name="indexed")


def test_iterate_batches_covers_epoch_once_and_is_seeded() -> None:
    data = _indexed(103)

    def epoch(seed: int, **kw) -> list[torch.Tensor]:
        g = torch.Generator().manual_seed(seed)
        return list(iterate_batches(data, 10, generator=g, **kw))

    batches = epoch(0, drop_last=False)
    assert [len(b[1]) for b in batches] == [10] * 10 + [3]
    ys = torch.cat([b[1] for b in batches])
    assert sorted(ys.tolist()) == list(range(103))
    assert all(torch.equal(bx.view(-1).long(), by) for bx, by in batches)  # x, y aligned
    assert torch.equal(ys, torch.cat([b[1] for b in epoch(0, drop_last=False)]))
    assert not torch.equal(ys, torch.cat([b[1] for b in epoch(1, drop_last=False)]))
    dropped = epoch(0)
    assert [len(b[1]) for b in dropped] == [10] * 10
    ordered = epoch(0, shuffle=False, drop_last=False)
    assert torch.cat([b[1] for b in ordered]).tolist() == list(range(103))


def test_iterate_batches_same_generator_advances() -> None:
    data = _indexed(20)
    g = torch.Generator().manual_seed(0)
    first = torch.cat([b[1] for b in iterate_batches(data, 5, generator=g)])
    second = torch.cat([b[1] for b in iterate_batches(data, 5, generator=g)])
    assert not torch.equal(first, second)  # a new permutation each epoch
    with pytest.raises(ValueError, match="batch_size"):
        next(iterate_batches(data, 0, generator=g))


# --------------------------------------------------------------------------- augmentation


def _crops(img: torch.Tensor, pad: int) -> dict[tuple[int, int, bool], torch.Tensor]:
    """Every (dy, dx, flip) crop of one zero-padded image, computed the slow way."""
    h, w = img.shape[-2:]
    padded = torch.nn.functional.pad(img, (pad, pad, pad, pad))
    out = {}
    for dy in range(2 * pad + 1):
        for dx in range(2 * pad + 1):
            crop = padded[:, dy : dy + h, dx : dx + w]
            out[(dy, dx, False)] = crop
            out[(dy, dx, True)] = crop.flip(-1)
    return out


def test_augment_batch_crops_and_flips() -> None:
    img = torch.arange(1, 2 * 8 * 8 + 1, dtype=torch.float32).view(2, 8, 8)  # asymmetric
    x = img.expand(64, 2, 8, 8).contiguous()
    out = augment_batch(x, generator=torch.Generator().manual_seed(0), pad=4, flip=True)
    assert out.shape == x.shape and out.dtype == x.dtype
    candidates = _crops(img, 4)
    seen = []
    for sample in out:
        match = [k for k, v in candidates.items() if torch.equal(v, sample)]
        assert len(match) == 1, "every output must be exactly one padded crop (maybe flipped)"
        seen.append(match[0])
    assert any(f for _, _, f in seen) and not all(f for _, _, f in seen)
    assert any((dy, dx) != (4, 4) for dy, dx, _ in seen)
    assert len({(dy, dx) for dy, dx, _ in seen}) > 10


def test_augment_batch_seeded_and_options() -> None:
    x = torch.randn(32, 3, 16, 16)

    def run(seed: int, **kw) -> torch.Tensor:
        return augment_batch(x, generator=torch.Generator().manual_seed(seed), **kw)

    assert torch.equal(run(0), run(0))
    assert not torch.equal(run(0), run(1))
    assert torch.equal(run(0, pad=0, flip=False), x)
    flipped_only = run(0, pad=0)
    assert all(
        torch.equal(o, s) or torch.equal(o, s.flip(-1))
        for o, s in zip(flipped_only, x, strict=True)
    )
    reflect = run(0, padding_mode="reflect")
    assert reflect.shape == x.shape and torch.equal(reflect, run(0, padding_mode="reflect"))
    with pytest.raises(ValueError, match="N x C x H x W"):
        augment_batch(x[0], generator=torch.Generator())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_end_to_end() -> None:
    data = load_dataset("fake-cifar10", device="cuda", n=256)
    cpu = load_dataset("fake-cifar10", n=256)
    assert data.x.is_cuda and data.y.is_cuda
    torch.testing.assert_close(data.x.cpu(), cpu.x)  # same values whichever device converts
    g = torch.Generator(device="cuda").manual_seed(0)  # "cuda" must match data on "cuda:0"
    xb, yb = next(iterate_batches(data, 64, generator=g))
    out = augment_batch(xb, generator=g)
    assert out.is_cuda and out.shape == (64, 3, 32, 32) and yb.is_cuda
    with pytest.raises(ValueError, match="generator is on cpu"):
        augment_batch(xb, generator=torch.Generator())
