"""Group 4: a learning rate that diverges is data. The grid search records it (diverged, the
step it diverged at) and excludes it from the choice; tables and figures count it; no job fails
for it. The shared run's grid reaches 2^8, far past every network's maximal rate."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from .helpers import LR_MAX_EXP

pytestmark = pytest.mark.slow


def grids(run) -> pd.DataFrame:
    files = sorted(run.glob("results/lr/*/*/k*/measured_shard*.csv")) + sorted(run.glob("results/base_lr/**/*.csv"))
    assert files
    return pd.concat([pd.read_csv(f).assign(file=f.name) for f in files], ignore_index=True)


def test_grid_rows_record_divergence_with_its_step(undisturbed_run):
    g = grids(undisturbed_run)
    assert g["lr"].max() == 2.0**LR_MAX_EXP
    div, ok = g[g["diverged"]], g[~g["diverged"]]
    assert len(div) and len(ok)
    assert (g.loc[g["lr"] == 2.0**LR_MAX_EXP, "diverged"]).all()  # the top rate diverges for every net
    steps = div["diverged_step"]
    assert steps.notna().all() and (steps == steps.round()).all()
    assert ((steps >= 0) & (steps < div["steps"])).all()
    assert div["final_loss"].isna().all()
    assert ok["diverged_step"].isna().all() and np.isfinite(ok["final_loss"]).all()


def test_the_chosen_rate_is_a_converged_one(undisturbed_run):
    g = grids(undisturbed_run)
    for _, one in g.groupby(["file", "arch", "seed"]):
        chosen = one[one["chosen"]]
        assert len(chosen) == 1 and not chosen["diverged"].iloc[0]
        assert chosen["lr"].iloc[0] == one["max_lr"].iloc[0]


def test_tables_and_figures_count_diverged_rates(undisturbed_run):
    lr = pd.concat([pd.read_csv(f) for f in undisturbed_run.glob("results/tables/lr_*.csv")])
    paper = lr[lr["criterion"] == "min_loss"]  # other criteria may find no rate in a grid
    assert (lr["n_diverged"] > 0).all() and np.isfinite(paper["measured_lr"]).all()
    corr = pd.read_csv(undisturbed_run / "figures/table_lr_correlation.csv")
    assert corr["n"].map(math.isfinite).all()
    for f in ("fig2_mlp_topology_digits.pdf", "fig2_mlp_topology_digits.png"):
        assert (undisturbed_run / "figures" / f).stat().st_size > 1000
    assert not list(undisturbed_run.glob(".snakemake/incomplete/*"))  # every job finished


def test_a_diverged_nb201_training_is_a_row(undisturbed_run, tmp_path):
    """A real diverging training (lr 10^4) becomes a row (diverged, step, NaN accuracy) that
    the table and figure functions of the workflow accept alongside the run's own rows."""
    import matplotlib

    matplotlib.use("Agg")
    import torch

    from archscale.analysis import nb201_table, nb201_top_table
    from archscale.data import load_dataset
    from archscale.plots import fig_kendall_seeds, fig_nb201
    from archscale.recipes import train_cell

    torch.set_num_threads(1)
    table = pd.read_csv(undisturbed_run / "results/tables/nb201_digits.csv")
    cell = table["arch"].iloc[0]
    tr, te = load_dataset("digits", split="train"), load_dataset("digits", split="test")
    settings = {"epochs": 1, "batch_size": 128, "lr": 1e4, "momentum": 0.9, "nesterov": True}
    row = train_cell(
        cell, tr, te, recipe="standard", settings={**settings, "weight_decay": 5e-4, "augment": False},
        C=4, N=1, seed=1,
    )  # fmt: skip
    assert row["diverged"] is True and isinstance(row["diverged_step"], int) and math.isnan(row["test_acc"])
    table = pd.concat([table, pd.DataFrame([{**row, "dataset": "digits"}])], ignore_index=True)
    nb = nb201_table({"digits": table})
    assert nb.set_index("recipe").loc["standard", "n_diverged"] == 1
    assert math.isfinite(nb.set_index("recipe").loc["standard", "mean_acc"])
    nb201_top_table({"digits": table})
    for draw in (fig_nb201, fig_kendall_seeds):
        draw({"digits": table}).savefig(tmp_path / f"{draw.__name__}.png")
