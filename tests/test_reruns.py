"""Re-run precision as a contract: the README's "edit -> what re-runs" table, row by row.

Each row of that table is applied to a copy of a complete tiny run (a content edit of a file,
a config overlay, or a touch of every file) and a real ``snakemake -n`` (with the workflow
profile, as a user runs it) must plan exactly the rules the row names. The table is the only
copy of the expectations, so README and behaviour cannot drift apart; a new library module or
workflow script without a row fails :func:`test_every_module_and_script_has_a_row`.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
import yaml
from workflow_copy import REPO, planned_jobs, snakemake

pytestmark = pytest.mark.slow

MARK = "<!-- rerun-table -->"
ROW = re.compile(r"^\| (.+?) \| (.+?) \|$")


def table_rows() -> list[tuple[str, frozenset[str]]]:
    text = (REPO / "README.md").read_text()
    assert MARK in text, f"README.md lost its {MARK} table"
    rows = []
    for line in text.split(MARK, 1)[1].strip().splitlines()[2:]:
        m = ROW.match(line.strip())
        if not m:
            break
        edit, rules = m.group(1), m.group(2)
        names = frozenset() if rules.strip() == "none" else frozenset(r.strip() for r in rules.split(","))
        rows.append((edit, names))
    return rows


ROWS = table_rows()


def _deep_update(base: dict, overlay: dict) -> dict:
    for k, v in overlay.items():
        base[k] = _deep_update(base.get(k) or {}, v) if isinstance(v, dict) else v
    return base


def apply_edit(work: Path, edit: str) -> None:
    if edit == "`touch` every file":
        for path in work.rglob("*"):
            if path.is_file() and ".snakemake" not in path.parts:
                os.utime(path)
        return
    m = re.fullmatch(r"config `(.+)`", edit)
    if m:
        cfg_path = work / "config" / "tiny.yaml"
        cfg = yaml.safe_load(cfg_path.read_text())
        cfg_path.write_text(yaml.safe_dump(_deep_update(cfg, yaml.safe_load(m.group(1))), sort_keys=False))
        return
    m = re.fullmatch(r"`([\w/.\-]+)`", edit)
    assert m, f"README rerun table: cannot read the edit {edit!r}"
    path = work / m.group(1)
    assert path.is_file(), f"README rerun table names {m.group(1)}, which does not exist"
    with open(path, "a") as fh:  # a content edit that changes no behaviour
        fh.write("\n# an edit\n")


@pytest.mark.parametrize(("edit", "expected"), ROWS, ids=[e for e, _ in ROWS])
def test_edit_reruns_exactly_its_row(tiny_run: Path, tmp_path: Path, edit: str, expected: frozenset[str]) -> None:
    work = tmp_path / "work"
    shutil.copytree(tiny_run, work, symlinks=True)
    apply_edit(work, edit)
    planned = set(planned_jobs(snakemake(work, "-n")))
    assert planned == expected, f"{edit}: planned {sorted(planned) or 'none'}, README says {sorted(expected) or 'none'}"


def test_every_module_and_script_has_a_row() -> None:
    named = {e.strip("`") for e, _ in ROWS}
    files = [p.relative_to(REPO).as_posix() for p in sorted((REPO / "src" / "archscale").rglob("*.py"))]
    files += [p.relative_to(REPO).as_posix() for p in sorted((REPO / "workflow" / "scripts").glob("*.py"))]
    missing = [f for f in files if f not in named]
    assert not missing, f"README's rerun table has no row for {missing}"
    sections = set(yaml.safe_load((REPO / "src" / "archscale" / "schema.yaml").read_text())["properties"])
    config_rows = " ".join(e for e, _ in ROWS if e.startswith("config "))
    uncovered = [s for s in sorted(sections) if f"`{s}:" not in config_rows]
    assert not uncovered, f"README's rerun table has no config row for {uncovered}"
