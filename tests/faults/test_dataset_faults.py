"""Group 5: dataset problems give one-line errors naming the file and the fix, and never leave
a dataset that reads wrong. tests/test_data.py covers missing files, md5 mismatches, malformed
files and wrong labels; this module adds wrong folder layouts, torchvision's real download (of
a whole, a truncated and a replaced archive, from a local server: the machine has no network),
and the workflow's download rule: one fetch job per dataset, planned only with download: true.

The test archive's files cannot match torchvision's published md5s, so the project's classes
(archscale.cifar.CIFAR10, subclasses of torchvision's) get the test files' tables, url and
archive md5 as class attributes, for one test only (monkeypatch)."""

from __future__ import annotations

import hashlib
import http.server
import re
import shutil
import tarfile
import threading
from pathlib import Path

import pytest
import yaml

from archscale import cifar
from archscale.data import DatasetError, fetch_dataset, load_dataset

from .helpers import copy_repo, faults_config, snakemake

try:  # tests/test_data.py's real-format writer and one-line check
    from test_data import assert_one_line  # tests/ on sys.path
    from test_data import write_cifar10 as write_cifar10_files
except ImportError:  # tests/ made a package
    from tests.test_data import assert_one_line
    from tests.test_data import write_cifar10 as write_cifar10_files

CIFAR_DIR = "cifar-10-batches-py"
ARCHIVE = cifar.CIFAR10.filename


def write_cifar10(root: Path) -> dict[str, str]:
    """CIFAR-10 files in the real format (tests/test_data.py's writer); name -> md5."""
    write_cifar10_files(root)
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted((root / CIFAR_DIR).iterdir())}


@pytest.fixture
def archive_server(tmp_path):
    """A local HTTP server serving tmp_path/www; ``hits`` lists the paths it was asked for."""
    www, hits = tmp_path / "www", []
    www.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(www), **k)

        def do_GET(self):  # noqa: N802 - http.server's name
            hits.append(self.path)
            super().do_GET()

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()


@pytest.fixture
def tiny_cifar(tmp_path, monkeypatch, archive_server) -> dict:
    """Test CIFAR-10 files, their archive served at the project class's url, and the class's
    tables (files' and archive's md5s) made theirs, for this test only."""
    src = tmp_path / "src"
    md5 = write_cifar10(src)
    archive = tmp_path / ARCHIVE
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(src / CIFAR_DIR, arcname=CIFAR_DIR)
    www, url, hits = archive_server
    cls = cifar.CIFAR10
    monkeypatch.setattr(cls, "train_list", [[f, md5[f]] for f, _ in cls.train_list])
    monkeypatch.setattr(cls, "test_list", [[f, md5[f]] for f, _ in cls.test_list])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": md5[cls.meta["filename"]]})
    monkeypatch.setattr(cls, "url", f"{url}/{ARCHIVE}")
    monkeypatch.setattr(cls, "tgz_md5", hashlib.md5(archive.read_bytes()).hexdigest())
    return {"src": src / CIFAR_DIR, "archive": archive, "md5": md5, "www": www, "hits": hits}


def md5s(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


# --------------------------------------------------------------------------- wrong layouts


@pytest.mark.parametrize("layout", ["files-in-data-root", "nested-folder"])
def test_wrong_layout_names_the_expected_file_and_the_fix(tmp_path, tiny_cifar, layout):
    root = tmp_path / "data"
    found = {"files-in-data-root": root, "nested-folder": root / "cifar-10-python" / CIFAR_DIR}[layout]
    shutil.copytree(tiny_cifar["src"], found, dirs_exist_ok=True)
    with pytest.raises(DatasetError) as e:
        load_dataset("cifar10", root, "train")
    expected = root / CIFAR_DIR / "data_batch_1"
    assert_one_line(e.value, f"expected {expected} and 6 more", f"archscale data fetch cifar10 --root {root}")
    assert not (root / CIFAR_DIR).exists()  # nothing half-made in the expected place
    assert tiny_cifar["hits"] == []  # reading never downloads


def test_imagenet16_wrong_folder_name_says_where_to_put_it(tmp_path):
    (tmp_path / "ImageNet16-120").mkdir()  # a common mistake: the benchmark's name, not the files'
    with pytest.raises(DatasetError) as e:
        load_dataset("imagenet16-120", tmp_path, "test")
    folder = tmp_path / "ImageNet16"
    assert_one_line(e.value, str(folder / "train_data_batch_1"), "NAS-Bench-201", f"unpack them into {folder}/")


# --------------------------------------------------------------------------- torchvision's download


def test_fetch_downloads_verifies_and_reads(tmp_path, tiny_cifar):
    (tiny_cifar["www"] / ARCHIVE).write_bytes(tiny_cifar["archive"].read_bytes())
    root = tmp_path / "data"
    with pytest.raises(DatasetError, match="files missing"):
        load_dataset("cifar10", root, "train")  # never downloads by itself
    assert tiny_cifar["hits"] == []
    assert fetch_dataset("cifar10", root) == root / CIFAR_DIR
    hits = list(tiny_cifar["hits"])
    assert set(hits) == {f"/{ARCHIVE}"}  # (torchvision asks twice: once to follow redirects)
    assert md5s(root / CIFAR_DIR) == tiny_cifar["md5"]
    assert len(load_dataset("cifar10", root, "train")) == 30
    fetch_dataset("cifar10", root)
    assert tiny_cifar["hits"] == hits  # valid files: torchvision downloads nothing


def test_fetch_replaces_a_corrupt_copy(tmp_path, tiny_cifar):
    (tiny_cifar["www"] / ARCHIVE).write_bytes(tiny_cifar["archive"].read_bytes())
    root = tmp_path / "data"
    shutil.copytree(tiny_cifar["src"], root / CIFAR_DIR)
    (root / CIFAR_DIR / "data_batch_2").write_bytes(b"bad")
    with pytest.raises(DatasetError, match="data_batch_2 failed its md5 check"):
        load_dataset("cifar10", root, "train")
    fetch_dataset("cifar10", root)
    assert set(tiny_cifar["hits"]) == {f"/{ARCHIVE}"}
    assert md5s(root / CIFAR_DIR) == tiny_cifar["md5"]
    assert len(load_dataset("cifar10", root, "train")) == 30


def test_truncated_archive_one_line_error_and_no_dataset(tmp_path, tiny_cifar):
    data = tiny_cifar["archive"].read_bytes()
    (tiny_cifar["www"] / ARCHIVE).write_bytes(data[: len(data) // 2])  # the connection dropped half-way
    root = tmp_path / "data"
    with pytest.raises(DatasetError) as e:
        fetch_dataset("cifar10", root)
    assert_one_line(e.value, f"fetching {cifar.CIFAR10.url} into {root} failed", "archscale data fetch cifar10")
    assert not (root / CIFAR_DIR).exists()  # torchvision checks the archive's md5 before unpacking
    with pytest.raises(DatasetError, match="files missing"):
        load_dataset("cifar10", root, "train")
    # the partial archive torchvision leaves behind does not poison the next try
    (tiny_cifar["www"] / ARCHIVE).write_bytes(data)
    fetch_dataset("cifar10", root)
    assert md5s(root / CIFAR_DIR) == tiny_cifar["md5"]


# --------------------------------------------------------------------------- the download rule


def _plan(work: Path, **config) -> dict[str, list[str]]:
    """`snakemake -n` with ``config`` on top: rule -> the planned jobs' "wildcards: ..., reason: ..."."""
    (work / "config" / "over.yaml").write_text(yaml.safe_dump(config))
    proc = snakemake(work, "-n", "--configfile", "config/config.yaml", "config/over.yaml")
    jobs: dict[str, list[str]] = {}
    for block in re.split(r"\n(?=\s*(?:local)?(?:rule|checkpoint) \w+:)", proc.stdout):
        m = re.match(r"\s*(?:local)?(?:rule|checkpoint) (\w+):", block)
        if m:
            fields = re.findall(r"^\s*((?:wildcards|reason): .*)$", block, flags=re.M)
            jobs.setdefault(m.group(1), []).append(", ".join(fields))
    return jobs


@pytest.mark.slow
def test_download_rule_one_job_per_dataset_only_with_download_true(tmp_path):
    exp = faults_config()["lr_experiments"]["fig2_mlp_topology"]
    config = {
        "nb201": {"datasets": ["cifar10"]},
        "lr_experiments": {"fig2_mlp_topology": {**exp, "datasets": ["cifar10", "cifar100"]}},
        "data_root": str(tmp_path / "data"),
    }
    work = copy_repo(tmp_path / "work")
    jobs = _plan(work, **config, download=True)
    fetches = jobs["fetch_dataset"]
    assert sorted(re.search(r"wildcards: dataset=(\S+)", b).group(1) for b in fetches) == ["cifar10", "cifar100"]
    for rule in ("train_nb201", "true_max_lr", "base_lr_search"):  # the jobs that read data wait for it
        for ds in ("cifar10", "cifar100") if rule != "train_nb201" else ("cifar10",):
            waiting = [j for j in jobs[rule] if f"dataset={ds}," in j]
            assert waiting and all(f"results/data/{ds}.verified" in j for j in waiting), (rule, ds, waiting)

    for name, files in (("cifar-10-batches-py", cifar.CIFAR10), ("cifar-100-python", cifar.CIFAR100)):
        for f in [f for f, _ in files.train_list + files.test_list] + [files.meta["filename"]]:
            (tmp_path / "data" / name).mkdir(parents=True, exist_ok=True)
            (tmp_path / "data" / name / f).touch()  # present (md5s are checked when a job reads)
    jobs = _plan(work, **config, download=False)
    assert "fetch_dataset" not in jobs and jobs["train_nb201"]
    assert not any("results/data/" in b for blocks in jobs.values() for b in blocks)
