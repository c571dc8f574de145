"""The paper's figures, one function each, from the workflow's tidy tables.

Each function takes DataFrames and the figure's ``title`` (from its :mod:`archscale.figures`
entry, which names the function) and returns a matplotlib Figure; the caller saves it (PDF +
PNG, atomically). Numbers printed on a figure come from :mod:`archscale.analysis`.
"""

from __future__ import annotations

import inspect
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from archscale.analysis import (  # noqa: E402
    BOOT_SEED,
    N_BOOT,
    TOP_K_PERCENTS,
    bootstrap_mean_ci,
    kendall_top_k,
    lr_stats,
    nb201_cell_means,
    pairwise_gaps,
    primary_criterion,
    seed_summary,
)
from archscale.laws import PAPER_LAW  # noqa: E402

#: NB201 recipes in the order figures show them; the ablations change one half of principled.
RECIPE_ORDER = ("standard", "mup", "principled", "principled_init", "principled_lr", "nats")
ABLATIONS = ("principled_init", "principled_lr")


def draw(name: str, *args: object, optional: dict | None = None, **kwargs: object) -> Figure:
    """Call the plot function ``name`` with the figure's data and ``kwargs`` (title, dataset),
    plus those ``optional`` settings its signature names (the bootstrap of a figure whose title
    quotes an interval): a plot function declares what it uses, and one added by the README's
    "Adding a figure" steps need not take settings it does not use."""
    fn = globals()[name]
    accepted = inspect.signature(fn).parameters
    return fn(*args, **kwargs, **{k: v for k, v in (optional or {}).items() if k in accepted})


def r_with_ci(st: pd.Series) -> str:
    """``r=0.80 [0.55, 0.93]``: Pearson r and its bootstrap 95% interval, as every title shows it."""
    if not np.isfinite(st["pearson_r"]):
        return "r=n/a"
    return f"r={st['pearson_r']:.2f} [{st['ci_low']:.2f}, {st['ci_high']:.2f}]"


def fig_lr_scaling(
    table: pd.DataFrame,
    *,
    title: str,
    dataset: str,
    criterion: str | None = None,
    n_boot: int = N_BOOT,
    seed: int = BOOT_SEED,
) -> Figure:
    """Figs. 2, 3, 5, 6, 7: measured (under ``criterion``, default the table's first) vs eq.
    8/9 predicted maximal rate, log-log, one panel per (experiment, kernel size); points are
    the geometric mean over seeds with min-max bars; identity line; Pearson r (log rates, over
    seed means) with its bootstrap 95% interval, the paper's r, Spearman rho and n in each panel
    title (all from :func:`analysis.lr_stats`, as the table's)."""
    criterion = criterion or str(table["criterion"].iloc[0])
    table = table[table["criterion"] == criterion]
    stats = lr_stats(table, laws=(PAPER_LAW,), n_boot=n_boot, seed=seed).set_index(["experiment", "kernel_size"])
    panels = list(stats.index)
    fig, axes = plt.subplots(1, len(panels), figsize=(max(4.2 * len(panels), 7.0), 4.0), squeeze=False)
    for ax, (exp, k) in zip(axes[0], panels, strict=True):
        s = seed_summary(table[(table["experiment"] == exp) & (table["kernel_size"] == k)])
        st = stats.loc[(exp, k)]
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
        paper = st["paper_r"]
        label = exp.split("_", 1)[1].replace("_", " ") + (f", q={k}" if "cnn" in exp else "")
        ax.set_title(
            f"{label}\n{r_with_ci(st)} (paper {'n/a' if math.isnan(paper) else paper}), "
            f"rho={st['spearman_rho']:.2f}, n={st['n']}",
            fontsize=9,
        )
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"{title}: measured vs predicted maximal LR on {dataset} (criterion {criterion})", fontsize=11)
    fig.tight_layout()
    return fig


def nb201_wide(table: pd.DataFrame, reference: str = "standard", other: str = "principled") -> pd.DataFrame:
    """Per-cell mean test accuracy over seeds, one column per recipe."""
    mean = nb201_cell_means(table)
    return mean.dropna(subset=[c for c in (reference, other) if c in mean.columns])


def _scatter_with_identity(ax, x: np.ndarray, y: np.ndarray) -> None:
    """Per-cell accuracies of two recipes, with the identity line over their finite range."""
    ax.scatter(x, y, s=12, alpha=0.7)
    finite = np.concatenate([x, y])
    finite = finite[np.isfinite(finite)]
    if finite.size:
        lo, hi = finite.min() - 1, finite.max() + 1
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)


def nb201_reference(table: pd.DataFrame) -> str:
    """The recipe others are compared with: the benchmark's published numbers when present."""
    return "nats" if "nats" in set(table["recipe"]) else "standard"


def fig_nb201(
    tables: dict[str, pd.DataFrame],
    *,
    title: str = "",
    reference: str | None = None,
    other: str = "principled",
    n_boot: int = N_BOOT,
    seed: int = BOOT_SEED,
) -> Figure:
    """Fig. 4: one row per dataset: (a) principled vs standard accuracy per cell, with the
    mean gain and its bootstrap 95% interval over cells (as ``table_nb201``'s), (b) Kendall
    tau between the two rankings within the reference's top-K%, (c) pairwise accuracy gaps;
    with the ablation recipes configured, (d) every recipe's mean gain over the reference."""
    ablations = any(set(t["recipe"]) & set(ABLATIONS) for t in tables.values())
    n_cols = 4 if ablations else 3
    fig, axes = plt.subplots(len(tables), n_cols, figsize=(4.3 * n_cols, 3.8 * len(tables)), squeeze=False)
    for row, (dataset, table) in zip(axes, tables.items(), strict=True):
        ref_name = reference or nb201_reference(table)
        wide = nb201_wide(table, ref_name, other)
        ref, oth = wide[ref_name].to_numpy(), wide[other].to_numpy()
        ax = row[0]
        _scatter_with_identity(ax, ref, oth)
        gain = np.nanmean(oth - ref) if len(ref) else math.nan
        lo, hi = bootstrap_mean_ci(oth - ref, n_boot=n_boot, seed=seed)
        ax.set_title(f"{dataset}: (a) accuracy, mean gain {gain:+.2f} [{lo:+.2f}, {hi:+.2f}] pts", fontsize=9)
        ax.set_xlabel(f"test accuracy, {ref_name} (%)")
        ax.set_ylabel(f"test accuracy, {other} recipe (%)")
        tau = kendall_top_k(ref, oth)
        ax = row[1]
        ax.plot(range(len(TOP_K_PERCENTS)), tau["kendall_tau"], "o-")
        ax.set_xticks(range(len(TOP_K_PERCENTS)), [f"{k:g}" for k in TOP_K_PERCENTS])
        ax.set_xlabel(f"top-K% cells (by {ref_name} accuracy)")
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
        ax.set_xlabel(f"acc(i) - acc(j), {ref_name}")
        ax.set_ylabel(f"acc(i) - acc(j), {other}")
        if ablations:
            _recipe_gains(row[3], table, ref_name, dataset)
        for a in row:
            a.grid(True, alpha=0.3)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def _recipe_gains(ax, table: pd.DataFrame, reference: str, dataset: str) -> None:
    """Mean accuracy gain of each recipe over ``reference`` on the cells both trained (bars),
    so the ablations show which half of the principled recipe (init or rate) carries it."""
    wide = nb201_cell_means(table)
    recipes = [r for r in RECIPE_ORDER if r in wide.columns and r != reference]
    gains = [float((wide[r] - wide[reference]).mean()) for r in recipes]
    ax.bar(range(len(recipes)), gains)
    ax.set_xticks(range(len(recipes)), recipes, rotation=20, fontsize=8)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_ylabel(f"mean gain over {reference} (pts)")
    ax.set_title(f"{dataset}: (d) recipes and ablations", fontsize=9)


def fig_mup_nb201(tables: dict[str, pd.DataFrame], *, title: str = "") -> Figure:
    """Fig. 8: per dataset, accuracy of every sampled cell under each recipe (box plot over
    cells, mean over seeds per cell) and principled vs μP per cell."""
    fig, axes = plt.subplots(len(tables), 2, figsize=(10, 3.8 * len(tables)), squeeze=False)
    for row, (dataset, table) in zip(axes, tables.items(), strict=True):
        wide = nb201_wide(table, "standard", "principled")
        recipes = [r for r in RECIPE_ORDER if r in wide.columns]
        data = [wide[r].dropna().to_numpy() for r in recipes]
        row[0].boxplot(data, tick_labels=recipes, showmeans=True)
        row[0].set_ylabel("test accuracy (%)")
        means = ", ".join(f"{r} {np.nanmean(d):.2f}" for r, d in zip(recipes, data, strict=True))
        row[0].set_title(f"{dataset}: mean {means}", fontsize=9)
        if "mup" in wide.columns:
            _scatter_with_identity(row[1], wide["mup"].to_numpy(), wide["principled"].to_numpy())
            better = float(np.mean(wide["principled"] > wide["mup"]))
            row[1].set_title(f"{dataset}: principled beats μP on {100 * better:.0f}% of cells", fontsize=9)
        row[1].set_xlabel("test accuracy, μP (%)")
        row[1].set_ylabel("test accuracy, principled (%)")
        for a in row:
            a.grid(True, alpha=0.3)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def fig_kendall_seeds(tables: dict[str, pd.DataFrame], *, title: str = "") -> Figure:
    """Fig. 9: Kendall tau within the reference's top-K% cells, principled vs reference,
    against the reference's own seed-to-seed agreement (every pair of its seeds)."""
    from archscale.analysis import seed_agreement

    fig, axes = plt.subplots(1, len(tables), figsize=(5.5 * len(tables), 4.0), squeeze=False)
    for ax, (dataset, table) in zip(axes[0], tables.items(), strict=True):
        curves = seed_agreement(table, reference=nb201_reference(table))
        for label, g in curves.groupby("comparison", sort=False):
            style = "o-" if label.startswith("principled") else "s--"
            ax.plot(range(len(g)), g["kendall_tau"], style, label=label, alpha=0.85)
        ax.set_xticks(range(len(TOP_K_PERCENTS)), [f"{k:g}" for k in TOP_K_PERCENTS])
        ax.set_xlabel("top-K% cells (by reference accuracy)")
        ax.set_ylabel("Kendall tau")
        ax.set_ylim(-1.05, 1.05)
        ax.axhline(0, color="k", lw=0.5)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
        ax.set_title(dataset, fontsize=9)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def _row_label(r: pd.Series) -> str:
    """``mlp topology (digits)``, ``cnn topology q=5 (digits)``: one experiment's row."""
    q = f" q={r['kernel_size']}" if "cnn" in r["experiment"] else ""
    return f"{r['experiment'].split('_', 1)[1].replace('_', ' ')}{q} ({r['dataset']})"


def _r_dot_plot(table: pd.DataFrame, by: str, *, title: str, subtitle: str, best: pd.Series | None = None) -> Figure:
    """One row per experiment x dataset x kernel size, one dot per value of ``by`` (criterion or
    law) at its Pearson r, with its bootstrap 95% interval; the paper's r as a cross."""
    keys = ["experiment", "dataset", "kernel_size"]
    rows = table.drop_duplicates(keys)[keys + ["paper_r"]].reset_index(drop=True)
    levels = list(dict.fromkeys(table[by]))
    fig, ax = plt.subplots(figsize=(8.0, 1.0 + 0.55 * len(rows) * max(1, len(levels)) ** 0.5))
    width = 0.7
    for j, level in enumerate(levels):
        t = rows.merge(table[table[by] == level], on=keys + ["paper_r"], how="left")
        y = np.arange(len(rows)) + (j - (len(levels) - 1) / 2) * width / max(len(levels), 1)
        r = t["pearson_r"].to_numpy(dtype=float)
        err = np.vstack([r - t["ci_low"], t["ci_high"] - r])
        ok = np.isfinite(r) & np.isfinite(err).all(axis=0)
        ax.errorbar(r[ok], y[ok], xerr=np.clip(err[:, ok], 0, None), fmt="o", ms=4, capsize=2, label=level)
    paper = rows["paper_r"].to_numpy(dtype=float)
    ax.plot(paper, np.arange(len(rows)), "kx", ms=7, label="paper")
    labels = []
    for _, r in rows.iterrows():
        label = _row_label(r)
        if best is not None:
            label += f"\nbest: {best.get(tuple(r[k] for k in keys), 'n/a')}"
        labels.append(label)
    ax.set_yticks(np.arange(len(rows)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="k", lw=0.5)
    ax.set_xlim(-1.05, 1.05)
    ax.set_xlabel("Pearson r, log measured vs log predicted maximal LR (95% bootstrap CI)")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(subtitle, fontsize=9)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def fig_criteria(table: pd.DataFrame, *, title: str = "") -> Figure:
    """Beyond the paper: from ``table_lr_correlation``, r with its interval under every
    maximal-rate criterion, per experiment (and kernel size)."""
    return _r_dot_plot(table, "criterion", title=title, subtitle="eq. 8/9 prediction; one dot per criterion")


def fig_laws(table: pd.DataFrame, *, title: str = "") -> Figure:
    """Beyond the paper: from ``table_lr_laws``, r with its interval under every law at the
    table's first criterion, per experiment (and kernel size), the best law named per row."""
    criterion = primary_criterion(table)
    t = table[table["criterion"] == criterion]
    best = t[t["best"].astype(bool)].groupby(["experiment", "dataset", "kernel_size"])["law"].agg(", ".join)
    return _r_dot_plot(t, "law", title=title, subtitle=f"criterion {criterion}; one dot per law", best=best)


def fig_init_signal(table: pd.DataFrame, *, title: str = "") -> Figure:
    """Beyond the paper: distribution over random DAGs of mean squared output / input of the
    DAG body at initialisation, per init convention (log scale; 1 = signal preserved)."""
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    labels = list(dict.fromkeys(table["convention"]))
    data = [np.log2(table.loc[table["convention"] == c, "ratio"].to_numpy()) for c in labels]
    ax.violinplot(data, showmedians=True)
    ax.set_xticks(range(1, len(labels) + 1), labels)
    ax.axhline(0, color="k", lw=0.8, ls="--")
    ax.set_ylabel("log2( E[out^2] / E[in^2] )")
    meds = ", ".join(f"{c}: {2 ** np.median(d):.2f}" for c, d in zip(labels, data, strict=True))
    width = int(table["width"].iloc[0]) if "width" in table else 0
    ax.set_title(f"{table['dag'].nunique()} random DAGs, width {width}; median ratio {meds}", fontsize=9)
    ax.grid(True, axis="y", alpha=0.3)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig
