"""Helpers of the fault-injection suite: copies of the repository in tmp folders, a small
config derived from config/tiny.yaml, Snakemake runs (plain, killed as a process group, in a
private mount namespace) and readers of what they leave behind.

Every fault is injected for real (SIGKILL, a read-only bind mount, a full tmpfs, a corrupt
file, a bad config) and every outcome is checked on the files the real code paths leave.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
import yaml
from workflow_copy import copy_workflow

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
#: What a workflow copy needs (the rest of the repository is tests, caches and outputs).
COPIED = ("Snakefile", "rules", "workflow", "config", "envs", "report", "src", "pyproject.toml")
#: Columns that hold timings: the only numbers allowed to differ between two runs.
TIMING_COLUMNS = ("wall_time_s", "search_seconds", "seconds")

#: The NB201 recipe of every workflow run here: enough epochs, a checkpoint after each, so a
#: training job can be killed between checkpoints and resumed.
NB201_EPOCHS = 6
#: The learning-rate grid reaches 2^8: the large rates diverge (group 4).
LR_MAX_EXP = 8
#: Epochs per grid: long enough (~0.5 s per grid on an idle core) to kill a grid job between grids.
LR_EPOCHS = 8


def deep_merge(base: dict, over: dict) -> dict:
    """Snakemake's --configfile semantics: nested mappings merge key by key, the rest replaces."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def faults_config(**overrides) -> dict:
    """config/config.yaml + config/tiny.yaml, then made smaller still: one MLP experiment, one
    seed, two NB201 cells (one shard per recipe), no muP (its own tests cover it). Values
    come from the repository's files, so a new key there reaches these runs too."""
    full = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    tiny = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())
    cfg = deep_merge(full, tiny)
    exp = "fig2_mlp_topology"
    cfg["lr_experiments"] = {exp: deep_merge(cfg["lr_experiments"][exp], {"n_archs": 3, "width": 16})}
    cfg["seeds"] = [0]
    cfg["shard_size"] = 16
    cfg["lr_search"] = deep_merge(cfg["lr_search"], {"max_exp": LR_MAX_EXP, "step": 1.0, "epochs": LR_EPOCHS})
    nb = {"n_cells": 2, "shard_size": 2, "recipes": ["standard", "principled"], "epochs": NB201_EPOCHS}
    cfg["nb201"] = deep_merge(cfg["nb201"], {**nb, "checkpoint_every": 1})
    cfg["device"] = "cpu"
    return deep_merge(cfg, overrides)


def copy_repo(dest: Path, config: dict | None = None) -> Path:
    """A runnable copy of the workflow in ``dest``; ``config`` replaces config/config.yaml
    there (the Snakefile's configfile), so runs need no --configfile."""
    copy_workflow(dest, COPIED)
    write_config(dest, faults_config() if config is None else config)
    return dest


def write_config(work: Path, config: dict) -> None:
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def snakemake_cmd(*args: str, cores: int = 2) -> list[str]:
    return [SNAKEMAKE, "--cores", str(cores), *args]


def snakemake(work: Path, *args: str, check: bool = True, timeout: int = 600, env=None) -> subprocess.CompletedProcess:
    cmd = snakemake_cmd(*args)
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{failure_tail(work, proc)}")
    return proc


def failure_tail(work: Path, proc: subprocess.CompletedProcess) -> str:
    logs = "\n".join(f"--- {p.relative_to(work)}\n{p.read_text()[-1500:]}" for p in sorted(work.glob("logs/**/*.log")))
    return f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}\n{logs[-4000:]}"


def start_snakemake(work: Path, *args: str, log: Path) -> subprocess.Popen:
    """Snakemake in its own session (process group = its pid) so that the whole group (it and
    the jobs it started) can be SIGKILLed at once, as a crashed node or `kill -9 -PGID` would."""
    with open(log, "w") as fh:
        return subprocess.Popen(
            snakemake_cmd(*args), cwd=work, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )


def kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)


def group_alive(pgid: int) -> bool:
    """Whether any process of process group ``pgid`` still runs (zombies excluded)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def wait_for(cond: Callable[[], bool], proc: subprocess.Popen, timeout: float, poll: float = 0.005) -> bool:
    """Poll ``cond`` until it holds (True), or the process ends or time runs out (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        if proc.poll() is not None:
            return cond()
        time.sleep(poll)
    return False


def incomplete_markers(work: Path) -> set[str]:
    """Outputs Snakemake has marked incomplete (.snakemake/incomplete/<base64 of the path>)."""
    import base64

    out = set()
    for p in (work / ".snakemake" / "incomplete").glob("*"):
        try:
            out.add(base64.urlsafe_b64decode(p.name.encode()).decode())
        except (ValueError, UnicodeDecodeError):
            continue
    return out


def tree_digest(root: Path, patterns: Iterable[str] = ("**/*",)) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``root`` matching ``patterns``."""
    out = {}
    for pattern in patterns:
        for p in root.glob(pattern):
            if p.is_file():
                out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def read_csv_rows(path: Path, drop: Iterable[str] = TIMING_COLUMNS) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a CSV as text (bit-exact numbers), timing columns removed."""
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return [], []
    keep = [i for i, c in enumerate(rows[0]) if c not in set(drop)]
    return [rows[0][i] for i in keep], [[r[i] for i in keep] for r in rows[1:]]


def can_mount() -> bool:
    """Whether this process may create a private mount namespace and mount in it (root with
    CAP_SYS_ADMIN, as in the project's containers and CI; not on a laptop as a user)."""
    import tempfile

    if shutil.which("unshare") is None:
        return False
    point = tempfile.mkdtemp(prefix="archscale-mount-probe-")
    cmd = ["unshare", "-m", "--propagation", "private", "mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", point]
    try:
        return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
    finally:
        os.rmdir(point)


needs_mount = pytest.mark.skipif(not can_mount(), reason="needs unshare + mount (root with CAP_SYS_ADMIN)")


def in_mount_namespace(script: str, *, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run the shell ``script`` (mounts first, then the command under test) in a private mount
    namespace: its mounts exist for that process tree only and vanish with it, whatever happens."""
    cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", script]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def read_only(folder: Path) -> str:
    """Shell commands that make ``folder`` read-only (a read-only bind mount of itself)."""
    return f"mount --bind '{folder}' '{folder}' && mount -o remount,ro,bind '{folder}' '{folder}'"


def small_disk(folder: Path, size: str) -> str:
    """Shell commands that mount a ``size`` tmpfs on ``folder`` (a nearly full disk)."""
    return f"mount -t tmpfs -o size={size} tmpfs '{folder}'"


def planned_jobs(proc: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a dry run."""
    import re

    text = proc.stdout + proc.stderr
    if "Nothing to be done" in text or "Job stats:" not in text:
        return {}
    jobs = {}
    for line in text.split("Job stats:")[1].split("Reasons:")[0].splitlines():
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if m and m.group(1) != "total":
            jobs[m.group(1)] = int(m.group(2))
    return jobs


def wait_dead(pgid: int, timeout: float = 60) -> bool:
    """Wait until no process of group ``pgid`` runs (a SIGKILLed process takes a moment)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not group_alive(pgid):
            return True
        time.sleep(0.05)
    return False


def ckpt_state(path: Path) -> dict:
    """epochs done (from the checkpoint's own record), inode and mtime of a checkpoint."""
    import json

    import torch

    st = path.stat()
    record = json.loads(torch.load(path, map_location="cpu", weights_only=True)["record"])
    return {"epochs_done": record["epochs_done"], "inode": st.st_ino, "mtime_ns": st.st_mtime_ns}


# --------------------------------------------------------------------------- the killed run

#: One NB201 training job (standard recipe: no upstream job) and one grid-search job.
NB_TARGET = "results/nb201/digits/standard/shard0.csv"
GRID_TARGET = "results/lr/fig2_mlp_topology/digits/k3/measured_shard0.csv"
GRID_LOG = "logs/true_max_lr/fig2_mlp_topology/digits/k3/shard0.log"


def ckpts(work: Path) -> list[Path]:
    folder = (work / NB_TARGET).with_suffix(".ckpt")
    return sorted(folder.glob("*.pt")) if folder.is_dir() else []


def kill_when(work: Path, target: str, ready: Callable[[], bool], name: str, settle: float = 0.0) -> dict:
    """Run Snakemake on ``target``; as soon as ``ready()`` (plus ``settle`` seconds), freeze its
    process group (SIGSTOP), check ``ready()`` again on the frozen files, then SIGKILL the
    group. ``hit`` says the kill landed in the state ``ready`` describes."""
    proc = start_snakemake(work, target, log=work / f"{name}.snakemake.log")
    hit = False
    try:
        if wait_for(ready, proc, timeout=400):
            time.sleep(settle)  # e.g. well inside the next epoch, not on a checkpoint boundary
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGSTOP)
            hit = ready()
    finally:
        kill_group(proc)
    return {"hit": hit, "returncode": proc.returncode, "group_dead": wait_dead(proc.pid)}
