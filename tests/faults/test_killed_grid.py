"""Group 2: a grid-search job SIGKILLed in the middle leaves no output that Snakemake could
take for a finished one, and its re-run gives the undisturbed run's table.

Why a grid is atomic (README, faults section): the K rates of one (arch, seed) train as one batched
vmap pass (archscale.lr_search.batched_sweep), held in memory, and the job writes its CSV
once, atomically, after every grid of its shard is done. There is no partial grid on disk to
resume from, and none to mistake for a result."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from archscale.data import load_dataset
from archscale.lr_search import batched_sweep
from archscale.train import TrainConfig

from .helpers import GRID_TARGET, read_csv_rows


@pytest.mark.slow
def test_killed_grid_job_leaves_no_output(killed_run):
    kill = killed_run["grid_kill"]
    assert kill["hit"], "the grid job finished before its first grid was logged"
    assert kill["returncode"] < 0 and kill["group_dead"], kill
    after = killed_run["grid_after_kill"]
    assert after["log"].count("max lr") >= 1  # at least one (arch, seed) grid was done ...
    assert not after["exists"]  # ... yet nothing under the final name
    assert not any(name.startswith("measured_shard0") for name in after["folder"]), after["folder"]
    assert GRID_TARGET in after["markers"]  # and Snakemake knows the job did not finish


@pytest.mark.slow
def test_snakemake_reruns_the_killed_grid_job(killed_run, undisturbed_run):
    assert killed_run["dry_run"].get("true_max_lr") == 1, killed_run["dry_run"]
    got = read_csv_rows(killed_run["work"] / GRID_TARGET)
    want = read_csv_rows(undisturbed_run / GRID_TARGET)
    assert "search_seconds" not in got[0] and got == want


class CountingMLP(nn.Module):
    calls = 0  # class-level: batched_sweep trains a deep copy

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))

    def forward(self, x):
        type(self).calls += 1
        return self.net(x)


def test_a_grid_is_one_batched_pass():
    """K rates cost one (vmapped) forward per step, not K: a grid is one unit of work whose
    only output is the in-memory loss table."""
    torch.manual_seed(0)
    data = load_dataset("digits", split="train")
    model = CountingMLP()
    CountingMLP.calls = 0
    lrs = [2.0**e for e in range(-6, 9)]
    sweep = batched_sweep(model, data, lrs, TrainConfig(epochs=1, batch_size=64, lr=1.0, schedule="constant"), steps=5)
    assert sweep["losses"].shape == (5, len(lrs))
    assert CountingMLP.calls == 5  # one vmapped forward per step for all 15 rates
    assert sweep["diverged_step"][-1] >= 0  # 2^8 diverges, recorded as data, nothing raised
