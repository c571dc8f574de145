"""A runnable copy of the workflow for tests that run Snakemake on it (tests/ is on sys.path:
pytest puts tests/conftest.py's folder there)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
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


def snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 1200) -> subprocess.CompletedProcess:
    """``snakemake --cores 2 --configfile config/tiny.yaml ARGS`` in ``workdir``, as a user runs it:
    the workflow profile (profiles/default, with its re-run triggers) is loaded."""
    cmd = [SNAKEMAKE, "--cores", "2", "--configfile", "config/tiny.yaml", *args]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        tail = f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{tail}")
    return proc


def planned_jobs(proc: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a dry run (rule ``all`` left out)."""
    text = proc.stdout + proc.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:")[1].split("Reasons:")[0] if "Job stats:" in text else ""
    jobs = {}
    for line in table.splitlines():
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if m and m.group(1) not in ("total", "all"):
            jobs[m.group(1)] = int(m.group(2))
    return jobs
