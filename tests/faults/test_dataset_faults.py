"""Group 5: dataset problems give one-line errors naming the file and the fix, and never leave
a corrupted cache. tests/test_data.py covers missing files, md5 mismatches of single files,
malformed pickles and concurrent fetches by threads; this module adds two *processes* fetching
at once, wrong folder layouts, and a truncated archive through the real torchvision download."""

from __future__ import annotations

import hashlib
import http.server
import json
import shutil
import subprocess
import tarfile
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from archscale.data import DATASETS, DatasetError, fetch_dataset, load_dataset

from .helpers import PYTHON

CHILD = Path(__file__).with_name("fetch_child.py")
CIFAR_DIR = "cifar-10-batches-py"


def write_cifar10(root: Path) -> dict[str, str]:
    """CIFAR-10 batches in the real format (tests/test_data.py's writer); name -> md5."""
    try:
        from test_data import write_cifar10 as write  # tests/ is on sys.path (rootdir import mode)
    except ImportError:  # tests/ made a package
        from tests.test_data import write_cifar10 as write

    write(root)
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted((root / CIFAR_DIR).iterdir())}


@pytest.fixture
def tiny_cifar(tmp_path, monkeypatch) -> tuple[Path, dict[str, str]]:
    """Reference files and an archive of them; the registry's md5s made theirs."""
    src = tmp_path / "src"
    md5 = write_cifar10(src)
    info = DATASETS["cifar10"]
    fix = lambda files: tuple((f, md5[f]) for f, _ in files)
    monkeypatch.setitem(
        DATASETS, "cifar10", replace(info, train_files=fix(info.train_files), test_files=fix(info.test_files))
    )
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(src / CIFAR_DIR, arcname=CIFAR_DIR)
    return archive, md5


def assert_one_line(err: BaseException, *needles: str) -> str:
    msg = str(err)
    assert "\n" not in msg, msg
    for n in needles:
        assert n in msg, (n, msg)
    return msg


# --------------------------------------------------------------------------- two processes


def test_two_processes_fetching_at_once_download_once(tmp_path, tiny_cifar):
    archive, md5 = tiny_cifar
    root, go, calls = tmp_path / "data", tmp_path / "go", tmp_path / "calls"
    md5s = tmp_path / "md5s.json"
    md5s.write_text(json.dumps(md5))
    argv = [PYTHON, str(CHILD), str(root), str(archive), str(md5s), str(calls), str(go)]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        go.touch()
        outs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert calls.read_text().count("\n") == 1  # one download; the other process waited for it
    assert {r["target"] for r in results} == {str(root / CIFAR_DIR)}
    assert all(r["n_train"] == 30 for r in results)
    assert max(r["seconds"] for r in results) >= 0.5  # the second one really queued on the lock
    assert sorted(p.name for p in root.iterdir()) == [".cifar10.lock", CIFAR_DIR]  # no temp folder left
    assert {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in (root / CIFAR_DIR).iterdir()} == md5


# --------------------------------------------------------------------------- wrong layouts


def _layouts(root: Path) -> dict[str, Path]:
    return {
        "files-in-data-root": root,  # the batches copied straight into data/
        "nested-folder": root / "cifar-10-python" / CIFAR_DIR,  # unpacked one level too deep
    }


@pytest.mark.parametrize("layout", ["files-in-data-root", "nested-folder"])
def test_wrong_layout_names_the_expected_file_and_the_fix(tmp_path, tiny_cifar, layout):
    src, root = tmp_path / "src" / CIFAR_DIR, tmp_path / "data"
    shutil.copytree(src, _layouts(root)[layout], dirs_exist_ok=True)
    with pytest.raises(DatasetError) as e:
        load_dataset("cifar10", root, "train")
    assert_one_line(e.value, str(root / CIFAR_DIR / "data_batch_1"), "archscale data fetch cifar10")
    assert not (root / CIFAR_DIR).exists()  # nothing half-made in the expected place


@pytest.mark.parametrize("layout", ["files-in-data-root", "nested-folder"])
def test_wrong_layout_error_says_where_the_files_are(tmp_path, tiny_cifar, layout):
    src, root = tmp_path / "src" / CIFAR_DIR, tmp_path / "data"
    found = _layouts(root)[layout]
    shutil.copytree(src, found, dirs_exist_ok=True)
    with pytest.raises(DatasetError) as e:
        load_dataset("cifar10", root, "train")
    assert_one_line(e.value, str(found / "data_batch_1"), "move", str(root / CIFAR_DIR))


def test_imagenet16_wrong_folder_name_says_where_to_put_it(tmp_path):
    (tmp_path / "ImageNet16-120").mkdir()  # a common mistake: the benchmark's name, not the files'
    with pytest.raises(DatasetError) as e:
        load_dataset("imagenet16-120", tmp_path, "test", verify_md5=False)
    assert_one_line(e.value, str(tmp_path / "ImageNet16" / "val_data"), "NAS-Bench-201", str(tmp_path / "ImageNet16"))


# --------------------------------------------------------------------------- truncated archive


@pytest.fixture
def archive_server(tmp_path):
    """A local HTTP server (the machine has no network) serving tmp_path/www."""
    www = tmp_path / "www"
    www.mkdir()
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(www), **k)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *a: None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _truncated_download(tmp_path, tiny_cifar, archive_server, monkeypatch) -> tuple[Path, BaseException]:
    """fetch_dataset through torchvision's real download of a truncated archive."""
    from torchvision.datasets import CIFAR10

    archive, _ = tiny_cifar
    www, url = archive_server
    data = archive.read_bytes()
    (www / CIFAR10.filename).write_bytes(data[: len(data) // 2])  # the connection dropped half-way
    monkeypatch.setattr(CIFAR10, "url", f"{url}/{CIFAR10.filename}")
    monkeypatch.setattr(CIFAR10, "tgz_md5", hashlib.md5(data).hexdigest())  # the whole archive's md5
    root = tmp_path / "data"
    with pytest.raises(Exception) as e:
        fetch_dataset("cifar10", root)
    return root, e.value


def test_truncated_archive_leaves_no_cache(tmp_path, tiny_cifar, archive_server, monkeypatch):
    root, _ = _truncated_download(tmp_path, tiny_cifar, archive_server, monkeypatch)
    assert sorted(p.name for p in root.iterdir()) == [".cifar10.lock"]  # no partial dataset, no temp folder
    with pytest.raises(DatasetError, match="missing file"):
        load_dataset("cifar10", root, "train")


def test_truncated_archive_error_is_one_line_with_the_fix(tmp_path, tiny_cifar, archive_server, monkeypatch):
    _, err = _truncated_download(tmp_path, tiny_cifar, archive_server, monkeypatch)
    assert isinstance(err, DatasetError)
    assert_one_line(err, "cifar-10-python.tar.gz", "archscale data fetch cifar10")
