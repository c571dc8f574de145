"""Group 9: a full disk or a read-only output folder gives one clear line, ``cannot write
<path>: <strerror>; free disk space or fix the folder's permissions``, removes the temporary
file and leaves finished results as they were.

The faults are real: a read-only bind mount and a tiny tmpfs, each in a private mount
namespace (``unshare -m``) that vanishes with the process under test. Tests run as root, where
chmod would not stop a write. Without mount rights (a user's laptop) those tests skip, and
``test_os_errors_at_the_os_boundary`` still covers the logic by making os.replace/os.fsync fail
(the last resort: a monkeypatch at the OS boundary)."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from archscale.atomic import AtomicWriteError, atomic_write_csv, atomic_write_text

from .helpers import (
    PYTHON,
    SNAKEMAKE,
    in_mount_namespace,
    needs_mount,
    read_only,
    small_disk,
    snakemake,
    tree_digest,
)

CHILD = Path(__file__).with_name("disk_child.py")
FIX = "free disk space or fix the folder's permissions"
DONE = "arch,lr\n2_02_002,0.5\n"


def run_child(tmp_path: Path, mount: str) -> dict:
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "done.csv").write_text(DONE)
    script = f"set -e\n{mount(folder)}\n# a finished result inside the mount too\n"
    script += f"[ -e '{folder}/done.csv' ] || printf '{DONE}' > '{folder}/done.csv'\n"
    script += f"exec '{PYTHON}' '{CHILD}' '{folder}' 50000"
    proc = in_mount_namespace(script, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]) | {"folder": str(folder)}


def assert_write_error(step: dict | None, path: str, strerror: str, code: int) -> None:
    assert step is not None, "the write did not fail"
    assert step["type"] == "AtomicWriteError" and step["errno"] == code, step
    assert step["message"] == f"cannot write {path}: {strerror}; {FIX}"


@needs_mount
def test_read_only_folder(tmp_path):
    r = run_child(tmp_path, read_only)
    for step, name in (("new", "new.csv"), ("overwrite", "done.csv"), ("after", "after.csv")):
        assert_write_error(r["steps"][step], f"{r['folder']}/{name}", "Read-only file system", errno.EROFS)
    assert r["listing"] == ["done.csv"] and r["done"] == DONE  # finished result intact, nothing added


@needs_mount
def test_full_disk(tmp_path):
    r = run_child(tmp_path, lambda f: small_disk(f, "64k"))  # 50,000 rows need ~1 MB
    for step, name in (("new", "new.csv"), ("overwrite", "done.csv")):
        assert_write_error(r["steps"][step], f"{r['folder']}/{name}", "No space left on device", errno.ENOSPC)
    assert r["done"] == DONE  # the finished result survived an overwrite that ran out of space
    # the temporary files were removed, so the space came back: a small write then succeeds
    assert r["steps"]["after"] is None and r["after"].startswith("arch,lr")
    assert r["listing"] == ["after.csv", "done.csv"]


@needs_mount
def test_cli_full_disk_is_one_line(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    archscale = Path(SNAKEMAKE).with_name("archscale")
    script = (
        f"set -e\n{small_disk(out, '16k')}\n"
        f"'{archscale}' lr-table --family mlp --base-lr 0.1 --nodes 4 --out '{out}/lr.csv' || rc=$?\n"
        f"ls -A '{out}' >&2\nexit ${{rc:-0}}"
    )
    proc = in_mount_namespace(script, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0] == f"archscale: error: cannot write {out}/lr.csv: No space left on device; {FIX}"
    assert lines[1:] == []  # `ls -A` printed nothing: no temporary file left on the full disk


def test_os_errors_at_the_os_boundary(tmp_path, monkeypatch):
    """Fallback without mount rights: the OS calls atomic writes make fail, one at a time."""
    final = tmp_path / "table.csv"
    final.write_text(DONE)
    df = pd.DataFrame({"arch": ["1_12_102"], "lr": [0.25]})
    for name, code in (("replace", errno.ENOSPC), ("fsync", errno.EIO), ("fchmod", errno.EPERM)):
        with monkeypatch.context() as m:
            m.setattr(os, name, lambda *a, c=code: (_ for _ in ()).throw(OSError(c, os.strerror(c))))
            with pytest.raises(AtomicWriteError) as e:
                atomic_write_csv(final, df)
        assert str(e.value) == f"cannot write {final}: {os.strerror(code)}; {FIX}"
        assert isinstance(e.value, OSError) and e.value.errno == code and e.value.filename == str(final)
        assert final.read_text() == DONE and sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]
    # a failure of the caller's own writing (not an OSError) is re-raised as it is, temp removed
    with pytest.raises(ZeroDivisionError):
        from archscale.atomic import atomic_write

        atomic_write(final, lambda fh: fh.write(str(1 / 0)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]
    atomic_write_text(final, "ok\n")
    assert final.read_text() == "ok\n" and (final.stat().st_mode & 0o777) == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def finished_run_without_tables(undisturbed_run: Path, dest: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the finished run whose `tables` job must run again (its outputs deleted), and
    the digests of every finished result and figure."""
    shutil.copytree(undisturbed_run, dest, symlinks=True)
    for p in dest.glob("figures/table_*"):
        p.unlink()
    return dest, tree_digest(dest, ("results/**/*", "figures/*"))


@needs_mount
@pytest.mark.slow
def test_full_disk_in_the_workflow(undisturbed_run, tmp_path):
    """The `tables` job of a finished run, re-run with figures/ on a full disk: the job fails
    with the one-line error in its log, Snakemake stops, no temporary file is left and every
    finished result and figure is untouched; with space again, the same command finishes."""
    work, before = finished_run_without_tables(undisturbed_run, tmp_path / "full")
    save, report = tmp_path / "save", tmp_path / "report"
    save.mkdir()
    report.mkdir()
    script = f"""set -e
cp -a figures/. '{save}/'
{small_disk(work / "figures", "4m")}
cp -a '{save}/.' figures/
dd if=/dev/zero of=figures/.filler bs=64k 2>/dev/null || true
rc=0
'{SNAKEMAKE}' --cores 2 figures/table_nb201.csv || rc=$?
rm figures/.filler
ls -A figures > '{report}/listing'
cd figures && sha256sum * > '{report}/sums'
exit $rc"""
    proc = in_mount_namespace(script, cwd=work)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Error in rule tables" in proc.stdout + proc.stderr
    log = (work / "logs/tables/tables.log").read_text()
    line = rf"cannot write (\S*/)?figures/table_\w+\.(csv|tex|md): No space left on device; {re.escape(FIX)}"
    assert re.search(rf"^archscale\.atomic\.AtomicWriteError: {line}$", log, re.M), log  # the log's last word
    # on the full disk: the figures that were there, unchanged, and no table or temporary file
    inside = dict(line.split()[::-1] for line in (report / "sums").read_text().splitlines())
    assert inside == {k.removeprefix("figures/"): v for k, v in before.items() if k.startswith("figures/")}
    assert sorted((report / "listing").read_text().split()) == sorted(inside)
    assert tree_digest(work, ("results/**/*",)) == {k: v for k, v in before.items() if k.startswith("results/")}
    snakemake(work, "figures/table_nb201.csv")  # space again (the tmpfs is gone): it finishes
    assert (work / "figures/table_nb201.csv").stat().st_size > 0


@needs_mount
@pytest.mark.slow
def test_read_only_figures_folder_in_the_workflow(undisturbed_run, tmp_path):
    """figures/ read-only: Snakemake itself stops before the job starts (it removes a job's
    outputs first, and unlink on a read-only file system fails with EROFS even for a missing
    file), naming the file and the error; every finished result is untouched."""
    work, before = finished_run_without_tables(undisturbed_run, tmp_path / "ro")
    script = f"set -e\n{read_only(work / 'figures')}\nexec '{SNAKEMAKE}' --cores 2 figures/table_nb201.csv"
    proc = in_mount_namespace(script, cwd=work)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert re.search(r"Read-only file system: 'figures/table_\w+\.(csv|tex|md)'", out), out[-3000:]
    assert tree_digest(work, ("results/**/*", "figures/*")) == before
    assert not list(work.glob("figures/.*.tmp"))
    snakemake(work, "figures/table_nb201.csv")  # writable again: the same command finishes
