"""Several trainings per device (archscale.trainpool): N spawned workers give the numbers of
one-at-a-time training, and a job killed with its workers (one process group, SIGKILL)
resumes every training from its own checkpoint to the undisturbed numbers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import helpers_pool
import pandas as pd
import pytest
from faults.helpers import ckpt_state, kill_group, wait_dead, wait_for

from archscale.trainpool import DataSpec, checkpoint_path, train_cells

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

EPOCHS = 4
HELPER = Path(__file__).with_name("helpers_pool.py")


def same_numbers(got: list[dict], want: list[dict]) -> None:
    """The rows, timings aside, are bit-identical (NaN where NaN)."""
    frames = [pd.DataFrame(rows).drop(columns="wall_time_s") for rows in (got, want)]
    pd.testing.assert_frame_equal(*frames, check_exact=True)


@pytest.fixture(scope="module")
def sequential() -> list[dict]:
    """The reference: one training at a time, in this process, one thread, no checkpoints."""
    return train_cells(helpers_pool.tasks(EPOCHS, None), DataSpec("digits", device="cpu"), threads=1)


def test_concurrent_trainings_equal_sequential_ones(sequential):
    reported = []
    rows = train_cells(
        helpers_pool.tasks(EPOCHS, None), DataSpec("digits", device="cpu"), concurrent=2, threads=2,
        report=reported.append,
    )  # fmt: skip
    assert [(r["arch"], r["seed"], r["recipe"]) for r in rows] == [
        (t["cell"], t["seed"], t["recipe"]) for t in helpers_pool.tasks(EPOCHS, None)
    ]  # the tasks' order, whatever order the workers finished in
    assert reported == rows
    same_numbers(rows, sequential)  # same seeds -> the same numbers, exactly
    assert all(r["epochs"] == EPOCHS and not r["diverged"] for r in rows)


def test_bad_concurrency_is_refused():
    with pytest.raises(ValueError, match="concurrent"):
        train_cells([], DataSpec("digits"), concurrent=0)


def test_checkpoint_names_are_per_training(tmp_path):
    a = checkpoint_path(tmp_path, "|a|", 0)
    assert a == checkpoint_path(tmp_path, "|a|", 0) and a.parent == tmp_path and a.suffix == ".pt"
    assert len({a, checkpoint_path(tmp_path, "|a|", 1), checkpoint_path(tmp_path, "|b|", 0)}) == 3


def _run(out: Path, **popen) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(HELPER), str(out), "--concurrent", "2", "--epochs", str(EPOCHS)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **popen)


def _ckpts(out: Path) -> dict[str, dict]:
    states = {}
    for p in sorted((out / "ckpt").glob("*.pt")):
        try:
            states[p.name] = ckpt_state(p)
        except Exception:  # noqa: BLE001 - renamed into place while we read: not there yet
            continue
    return states


@pytest.mark.slow
def test_killed_concurrent_job_resumes_to_the_undisturbed_numbers(sequential, tmp_path):
    out = tmp_path / "job"
    n = len(helpers_pool.tasks(EPOCHS, None))

    def mid_way() -> bool:  # a training has checkpointed, and some training is not finished
        done = [s["epochs_done"] for s in _ckpts(out).values()]
        return bool(done) and min(done) < EPOCHS and not (out / "rows.json").exists()

    proc = _run(out, start_new_session=True)  # its own process group: the job and its workers
    hit = False
    try:
        if wait_for(mid_way, proc, timeout=300):
            os.killpg(proc.pid, signal.SIGSTOP)  # freeze, then look at the files the kill leaves
            hit = mid_way()
    finally:
        kill_group(proc)
    assert hit, f"the job finished before the kill: {proc.stderr.read().decode()[-2000:]}"
    assert wait_dead(proc.pid)
    before = _ckpts(out)
    assert before and min(s["epochs_done"] for s in before.values()) < EPOCHS

    again = _run(out)
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err.decode()[-3000:]
    after = _ckpts(out)
    assert len(after) == n and all(s["epochs_done"] == EPOCHS for s in after.values())
    for name, b in before.items():
        if b["epochs_done"] == EPOCHS:  # finished before the kill: loaded, not retrained
            assert (after[name]["inode"], after[name]["mtime_ns"]) == (b["inode"], b["mtime_ns"]), name
        else:  # trained on from its checkpoint
            assert after[name]["mtime_ns"] > b["mtime_ns"], name
    assert "ignoring" not in (out / "log.txt").read_text()  # every checkpoint matched its training
    rows = json.loads((out / "rows.json").read_text())
    same_numbers(rows, sequential)
