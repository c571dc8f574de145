"""A runnable copy of the workflow for tests that run Snakemake on it (tests/ is on sys.path:
pytest puts tests/conftest.py's folder there)."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: What a workflow run needs: the Snakefile and what it reads, the library, the profiles.
WORKFLOW_FILES = ("Snakefile", "rules", "workflow", "config", "envs", "report", "src", "profiles")


def copy_workflow(dest: Path, names: Iterable[str] = WORKFLOW_FILES) -> Path:
    """Copy ``names`` (files or folders of the repository; missing ones are skipped) into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest
