"""Session fixtures of the fault-injection suite: one undisturbed run of the small workflow
that several modules read, and one run whose jobs were SIGKILLed and then re-run."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import (
    GRID_LOG,
    GRID_TARGET,
    NB201_EPOCHS,
    NB_TARGET,
    ckpt_state,
    ckpts,
    copy_repo,
    incomplete_markers,
    kill_group,
    kill_when,
    planned_jobs,
    snakemake,
    start_snakemake,
)


@pytest.fixture(scope="session")
def undisturbed_run(request, tmp_path_factory) -> Path:
    """The small workflow, run to completion once, undisturbed: the reference of the kill,
    determinism and divergence tests and the starting point of the disk-fault tests. When the
    determinism tests are selected, their second run starts now, beside this one (two cores
    are used better by two Snakemake runs than by one)."""
    work = copy_repo(tmp_path_factory.mktemp("undisturbed"))
    if any("test_determinism.py" in item.nodeid for item in request.session.items):
        second = copy_repo(tmp_path_factory.mktemp("second"))
        proc = start_snakemake(second, log=second / "snakemake.log")
        _SECOND.update(work=second, proc=proc)
        request.session.config.add_cleanup(lambda: kill_group(proc))
    snakemake(work)
    return work


_SECOND: dict = {}


@pytest.fixture(scope="session")
def second_run(undisturbed_run, tmp_path_factory) -> Path:
    """Another run of the same config in another copy (started by undisturbed_run)."""
    if "proc" not in _SECOND:
        work = copy_repo(tmp_path_factory.mktemp("second"))
        snakemake(work)
        return work
    work, proc = _SECOND["work"], _SECOND["proc"]
    rc = proc.wait(timeout=900)
    assert rc == 0, (work / "snakemake.log").read_text()[-5000:]
    return work


@pytest.fixture(scope="session")
def killed_run(tmp_path_factory) -> dict:
    """The small workflow's grid-search job and one NB201 training job, each SIGKILLed (with
    Snakemake, as a process group) in the middle, then `snakemake --unlock` and
    `snakemake --rerun-incomplete` as a user would. Returns what each step left behind."""
    work = copy_repo(tmp_path_factory.mktemp("killed"))
    out: dict = {"work": work}

    # 1. grid search: killed after its first (arch, seed) grid finished, before the last
    grid_log = work / GRID_LOG

    def one_grid_done() -> bool:
        return grid_log.is_file() and "max lr" in grid_log.read_text() and not (work / GRID_TARGET).exists()

    out["grid_kill"] = kill_when(work, GRID_TARGET, one_grid_done, "grid")
    out["grid_after_kill"] = {
        "exists": (work / GRID_TARGET).exists(),
        "folder": sorted(p.name for p in (work / GRID_TARGET).parent.iterdir()),
        "markers": incomplete_markers(work),
        "log": grid_log.read_text(),
    }
    snakemake(work, "--unlock")

    # 2. NB201 training: killed while the second training is mid-way (the first is finished)
    def second_mid_way() -> bool:
        ck = ckpts(work)
        if len(ck) < 2 or (work / NB_TARGET).exists():
            return False
        try:
            return min(ckpt_state(p)["epochs_done"] for p in ck) < NB201_EPOCHS
        except Exception:  # noqa: BLE001 - a checkpoint renamed into place while we read
            return False

    out["nb_kill"] = kill_when(work, NB_TARGET, second_mid_way, "nb201", settle=0.05)
    out["nb_after_kill"] = {
        "exists": (work / NB_TARGET).exists(),
        "markers": incomplete_markers(work),
        "ckpts": {p.name: ckpt_state(p) for p in ckpts(work)},
    }

    # 3. what a user does next
    snakemake(work, "--unlock")
    out["dry_run"] = planned_jobs(snakemake(work, "-n", NB_TARGET, GRID_TARGET))
    out["rerun"] = snakemake(work, "--rerun-incomplete", NB_TARGET, GRID_TARGET)
    out["ckpts_after_rerun"] = {p.name: ckpt_state(p) for p in ckpts(work)}
    out["markers_after_rerun"] = incomplete_markers(work)
    return out
