"""The paper's figures, one function each, from the workflow's tidy tables.

Each function takes DataFrames and returns a matplotlib Figure; the caller saves it (PDF + PNG,
atomically). Numbers printed on a figure come from :mod:`archscale.analysis`.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from archscale.analysis import (  # noqa: E402
    PAPER_R,
    TOP_K_PERCENTS,
    kendall_top_k,
    lr_correlation,
    pairwise_gaps,
)

TITLES = {
    "fig2": "MLP topologies (eq. 8)",
    "fig3": "CNN topologies (eq. 9)",
    "fig5": "Plain MLPs of depth L (eq. 8)",
    "fig6": "ImageNet (eq. 8)",
    "fig7": "GELU (eq. 8/9)",
}


def seed_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per (architecture, kernel): geometric mean and min/max over seeds of the measured rate."""
    t = table[np.isfinite(table["measured_lr"]) & (table["measured_lr"] > 0)].copy()
    t["log_m"] = np.log(t["measured_lr"])
    g = t.groupby(["arch", "kernel_size"], as_index=False).agg(
        predicted_lr=("predicted_lr", "first"),
        log_mean=("log_m", "mean"),
        lo=("measured_lr", "min"),
        hi=("measured_lr", "max"),
        n_seeds=("seed", "nunique"),
    )
    g["measured_lr"] = np.exp(g["log_mean"])
    return g.drop(columns="log_mean")


def fig_lr_scaling(table: pd.DataFrame, *, experiment: str, dataset: str) -> Figure:
    """Figs. 2, 3, 5, 6, 7: measured vs predicted maximal rate, log-log, one panel per kernel
    size; points are the geometric mean over seeds with min-max bars; identity line; Pearson r
    (log rates, over seed means) and Spearman rho in each panel, the paper's r in the title."""
    summary = seed_summary(table)
    kernels = sorted(table["kernel_size"].unique())
    fig, axes = plt.subplots(1, len(kernels), figsize=(4.2 * len(kernels), 4.0), squeeze=False)
    family = experiment.split("_")[1] if "_" in experiment else ""
    for ax, k in zip(axes[0], kernels, strict=True):
        s = summary[summary["kernel_size"] == k]
        stats = lr_correlation(s["measured_lr"], s["predicted_lr"])
        yerr = np.clip(np.vstack([s["measured_lr"] - s["lo"], s["hi"] - s["measured_lr"]]), 0, None)
        ax.errorbar(s["predicted_lr"], s["measured_lr"], yerr=yerr, fmt="o", ms=4, alpha=0.8, capsize=2)
        vals = pd.concat([s["predicted_lr"], s["lo"], s["hi"]])
        vals = vals[np.isfinite(vals) & (vals > 0)]
        if len(vals):
            lo, hi = vals.min() / 1.5, vals.max() * 1.5
            ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="identity")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("predicted maximal LR (eq. 8/9)")
        ax.set_ylabel("measured maximal LR (grid search)")
        panel = f"{family.upper()} q={k}" if family == "cnn" else family.upper()
        ax.set_title(
            f"{panel}: r={stats['pearson_r']:.3f}, rho={stats['spearman_rho']:.3f}, n={stats['n']}", fontsize=9
        )
        ax.grid(True, which="both", alpha=0.3)
    key = experiment.split("_")[0]
    paper = PAPER_R.get(key)
    fig.suptitle(
        f"{TITLES.get(key, experiment)} on {dataset}" + (f" (paper: r = {paper})" if paper else ""), fontsize=11
    )
    fig.tight_layout()
    return fig


def nb201_wide(table: pd.DataFrame, reference: str = "standard", other: str = "principled") -> pd.DataFrame:
    """Per-cell mean test accuracy over seeds, one column per recipe."""
    mean = table.groupby(["arch", "recipe"])["test_acc"].mean().unstack("recipe")
    return mean.dropna(subset=[c for c in (reference, other) if c in mean.columns])


def fig_nb201(tables: dict[str, pd.DataFrame], *, reference: str = "standard", other: str = "principled") -> Figure:
    """Fig. 4: one row per dataset: (a) principled vs standard accuracy per cell, (b) Kendall
    tau between the two rankings within the reference's top-K%, (c) pairwise accuracy gaps."""
    fig, axes = plt.subplots(len(tables), 3, figsize=(13, 3.8 * len(tables)), squeeze=False)
    for row, (dataset, table) in zip(axes, tables.items(), strict=True):
        wide = nb201_wide(table, reference, other)
        ref, oth = wide[reference].to_numpy(), wide[other].to_numpy()
        ax = row[0]
        ax.scatter(ref, oth, s=12, alpha=0.7)
        finite = np.concatenate([ref, oth])
        finite = finite[np.isfinite(finite)]
        if finite.size:
            lo, hi = finite.min() - 1, finite.max() + 1
            ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        gain = np.nanmean(oth - ref) if len(ref) else math.nan
        ax.set_title(f"{dataset}: (a) accuracy, mean gain {gain:+.2f} pts", fontsize=9)
        ax.set_xlabel(f"test accuracy, {reference} recipe (%)")
        ax.set_ylabel(f"test accuracy, {other} recipe (%)")
        tau = kendall_top_k(ref, oth)
        ax = row[1]
        ax.plot(range(len(TOP_K_PERCENTS)), tau["kendall_tau"], "o-")
        ax.set_xticks(range(len(TOP_K_PERCENTS)), [f"{k:g}" for k in TOP_K_PERCENTS])
        ax.set_xlabel(f"top-K% cells (by {reference} accuracy)")
        ax.set_ylabel("Kendall tau")
        ax.set_ylim(-1.05, 1.05)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_title(f"{dataset}: (b) ranking agreement", fontsize=9)
        gaps = pairwise_gaps(ref, oth)
        ax = row[2]
        ax.scatter(gaps["gap_reference"], gaps["gap_other"], s=3, alpha=0.3)
        ax.axhline(0, color="k", lw=0.5)
        ax.axvline(0, color="k", lw=0.5)
        flipped = float(np.mean(np.sign(gaps["gap_reference"]) != np.sign(gaps["gap_other"]))) if len(gaps) else 0.0
        ax.set_title(f"{dataset}: (c) pairwise gaps, {100 * flipped:.0f}% of pairs re-ranked", fontsize=9)
        ax.set_xlabel(f"acc(i) - acc(j), {reference}")
        ax.set_ylabel(f"acc(i) - acc(j), {other}")
        for a in row:
            a.grid(True, alpha=0.3)
    fig.suptitle("NAS-Bench-201: principled (eq. 4 + eq. 8) vs standard recipe", fontsize=11)
    fig.tight_layout()
    return fig
