"""Group 1: a training job SIGKILLed mid-epoch (Snakemake and the job, as a process group)
resumes from its last checkpoint when the same target is re-run with --rerun-incomplete,
and ends with the numbers of an undisturbed run.

The kill happens while the shard's second training is mid-way (>= 1 checkpointed epoch, not
all); the first training had finished. tests/test_train.py kills train() itself in a helper
process; this module kills the real workflow job."""

from __future__ import annotations

import pytest

from .helpers import NB201_EPOCHS, NB_TARGET, read_csv_rows

pytestmark = pytest.mark.slow


def test_kill_landed_mid_job(killed_run):
    kill = killed_run["nb_kill"]
    assert kill["hit"], "the training job finished before a second checkpoint appeared"
    assert kill["returncode"] < 0 and kill["group_dead"], kill  # SIGKILLed, no job left running
    after = killed_run["nb_after_kill"]
    assert not after["exists"], "a killed job left its result CSV"
    assert NB_TARGET in after["markers"], "Snakemake did not mark the output incomplete"
    done = sorted(c["epochs_done"] for c in after["ckpts"].values())
    assert len(done) == 2 and done[1] == NB201_EPOCHS and 1 <= done[0] < NB201_EPOCHS, after["ckpts"]


def test_rerun_plans_the_job_again(killed_run):
    assert killed_run["dry_run"].get("train_nb201") == 1, killed_run["dry_run"]


def test_rerun_resumes_from_the_checkpoints(killed_run):
    before, after = killed_run["nb_after_kill"]["ckpts"], killed_run["ckpts_after_rerun"]
    assert before.keys() == after.keys()  # same (cell, seed) checkpoints, none started over elsewhere
    for name, b in before.items():
        assert after[name]["epochs_done"] == NB201_EPOCHS
        if b["epochs_done"] == NB201_EPOCHS:
            # the finished training was loaded and not retrained: its checkpoint was not rewritten
            assert (after[name]["inode"], after[name]["mtime_ns"]) == (b["inode"], b["mtime_ns"]), name
        else:
            assert after[name]["mtime_ns"] > b["mtime_ns"], name  # trained on from the checkpoint
    log = (killed_run["work"] / "logs/train_nb201/digits/standard/shard0.log").read_text()
    assert "ignoring" not in log, log  # every checkpoint matched this config and model
    assert NB_TARGET not in killed_run["markers_after_rerun"]


def test_resumed_result_equals_undisturbed_run(killed_run, undisturbed_run):
    got = read_csv_rows(killed_run["work"] / NB_TARGET)
    want = read_csv_rows(undisturbed_run / NB_TARGET)
    assert "wall_time_s" not in got[0] and "test_acc" in got[0]
    assert len(want[1]) == 2 and got == want  # same text: bit-identical numbers on CPU
