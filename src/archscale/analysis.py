"""Statistics of measured results: correlations of measured vs predicted rates, NB201 gains and
rankings.

The reading tier: everything takes and returns pandas objects or plain numbers read from the
workflow's CSVs, so each figure's numbers can be recomputed in a Python shell, and an edit here
re-runs only tables, plots and the report. Every number a figure title prints comes from the
same function as the table's (:func:`lr_stats`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from archscale.criteria import PAPER_CRITERION
from archscale.figures import figure, figure_of_experiment
from archscale.laws import LAWS, PAPER_LAW, column

TOP_K_PERCENTS: tuple[float, ...] = (100, 90, 80, 70, 60, 50, 40, 30, 20, 10, 5, 1)
#: Bootstrap defaults (config ``analysis``: n_boot, boot_seed); the interval is 95%.
N_BOOT = 2000
BOOT_SEED = 0
CI_LEVEL = 0.95


def _resamples(n: int, n_boot: int, seed: int) -> np.ndarray:
    """``n_boot`` x ``n`` indices drawn with replacement, from a fixed seed: every table and
    figure title that asks for the same interval gets the same numbers."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def _percentile_ci(draws: np.ndarray) -> tuple[float, float]:
    draws = draws[np.isfinite(draws)]
    if draws.size == 0:
        return math.nan, math.nan
    tail = 100 * (1 - CI_LEVEL) / 2
    lo, hi = np.percentile(draws, [tail, 100 - tail])
    return float(lo), float(hi)


def bootstrap_pearson_ci(
    x: Sequence[float], y: Sequence[float], *, n_boot: int = N_BOOT, seed: int = BOOT_SEED
) -> tuple[float, float]:
    """95% percentile bootstrap interval of Pearson r between ``x`` and ``y``, resampling the
    pairs (here: architectures, each with its seed-mean rate). Resamples where x or y is
    constant (r undefined) are dropped. NaN for fewer than 3 pairs."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.size < 3:
        return math.nan, math.nan
    idx = _resamples(x.size, n_boot, seed)
    xs = x[idx] - x[idx].mean(axis=1, keepdims=True)
    ys = y[idx] - y[idx].mean(axis=1, keepdims=True)
    den = np.sqrt((xs**2).sum(axis=1) * (ys**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 1e-12, (xs * ys).sum(axis=1) / den, np.nan)
    return _percentile_ci(np.clip(r, -1.0, 1.0))


def bootstrap_mean_ci(values: Sequence[float], *, n_boot: int = N_BOOT, seed: int = BOOT_SEED) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean of the finite ``values`` (e.g. per-cell
    accuracy gains). NaN for fewer than 2 values."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return math.nan, math.nan
    return _percentile_ci(v[_resamples(v.size, n_boot, seed)].mean(axis=1))


def lr_correlation(
    measured: Sequence[float], predicted: Sequence[float], *, n_boot: int = N_BOOT, seed: int = BOOT_SEED
) -> dict[str, float]:
    """Pearson r of log rates with its bootstrap 95% interval (``ci_low``, ``ci_high``),
    Spearman rho, median |log2(measured / predicted)| over the finite pairs."""
    from scipy import stats

    m = np.asarray(measured, dtype=float)
    p = np.asarray(predicted, dtype=float)
    ok = np.isfinite(m) & np.isfinite(p) & (m > 0) & (p > 0)
    m, p = m[ok], p[ok]
    out = {
        "n": int(ok.sum()),
        "pearson_r": math.nan,
        "ci_low": math.nan,
        "ci_high": math.nan,
        "spearman_rho": math.nan,
        "median_abs_log2_ratio": math.nan,
    }
    if m.size:
        out["median_abs_log2_ratio"] = float(np.median(np.abs(np.log2(m / p))))
    # a constant side (up to rounding) has no correlation: e.g. the paths law on plain chains
    if m.size >= 3 and np.ptp(np.log(m)) > 1e-9 and np.ptp(np.log(p)) > 1e-9:
        out["pearson_r"] = float(stats.pearsonr(np.log(m), np.log(p)).statistic)
        out["ci_low"], out["ci_high"] = bootstrap_pearson_ci(np.log(m), np.log(p), n_boot=n_boot, seed=seed)
        out["spearman_rho"] = float(stats.spearmanr(m, p).statistic)
    return out


def kendall_top_k(
    reference: Sequence[float],
    other: Sequence[float],
    percents: Sequence[float] = TOP_K_PERCENTS,
) -> pd.DataFrame:
    """Kendall tau between two accuracy lists restricted to the reference's top-K% (the paper's
    fig. 4b: how well the benchmark's ranking of its best cells survives a better recipe)."""
    ref = np.asarray(reference, dtype=float)
    return _kendall_top_k(ref, ref, np.asarray(other, dtype=float), percents)


def pairwise_gaps(reference: Sequence[float], other: Sequence[float]) -> pd.DataFrame:
    """Fig. 4c: for every pair of cells, the accuracy gap under the reference recipe vs under the
    other recipe (how much re-ranking happens, and between close or distant cells)."""
    ref = np.asarray(reference, dtype=float)
    oth = np.asarray(other, dtype=float)
    i, j = np.triu_indices(len(ref), k=1)
    return pd.DataFrame({"gap_reference": ref[i] - ref[j], "gap_other": oth[i] - oth[j]})


def ranking_summary(reference: Sequence[float], other: Sequence[float], top: int = 10) -> dict[str, float]:
    from scipy import stats

    ref = np.asarray(reference, dtype=float)
    oth = np.asarray(other, dtype=float)
    ok = np.isfinite(ref) & np.isfinite(oth)
    ref, oth = ref[ok], oth[ok]
    out = {"kendall_tau": math.nan, "spearman_rho": math.nan, f"top{top}_overlap": math.nan}
    if ref.size >= 3:
        out["kendall_tau"] = float(stats.kendalltau(ref, oth).statistic)
        out["spearman_rho"] = float(stats.spearmanr(ref, oth).statistic)
        t = min(top, ref.size)
        out[f"top{top}_overlap"] = len(set(np.argsort(-ref)[:t]) & set(np.argsort(-oth)[:t])) / t
    return out


def seed_summary(table: pd.DataFrame, predicted: str = "predicted_lr") -> pd.DataFrame:
    """Per (architecture, kernel): geometric mean and min/max over seeds of the measured rate
    (seeds where no rate was picked are left out), beside the ``predicted`` column's rate."""
    t = table[np.isfinite(table["measured_lr"]) & (table["measured_lr"] > 0)].copy()
    t["log_m"] = np.log(t["measured_lr"])
    g = t.groupby(["arch", "kernel_size"], as_index=False).agg(
        predicted_lr=(predicted, "first"),
        log_mean=("log_m", "mean"),
        lo=("measured_lr", "min"),
        hi=("measured_lr", "max"),
        n_seeds=("seed", "nunique"),
    )
    g["measured_lr"] = np.exp(g["log_mean"])
    return g.drop(columns="log_mean")


def _experiment_figure(exp: str) -> tuple[str, float]:
    """(figure name, the paper's r) of an experiment; ("", NaN) for one no figure registers."""
    try:
        spec = figure_of_experiment(exp)
    except KeyError:
        return "", math.nan
    return spec.name, spec.paper.get(exp, math.nan)


def lr_stats(
    table: pd.DataFrame,
    *,
    laws: Sequence[str] = LAWS,
    n_boot: int = N_BOOT,
    seed: int = BOOT_SEED,
) -> pd.DataFrame:
    """Agreement of measured (geometric mean over seeds) and predicted maximal rates, one row
    per experiment x dataset x kernel size x criterion x law (in the table's order, then
    ``laws``' order): n (architectures with a rate), Pearson r of log rates with its bootstrap
    95% interval over architectures, Spearman rho, median |log2 ratio|, the figure that draws
    the experiment and the paper's r (the paper's criterion and law; quoted on every row for
    comparison). The figures' titles and both LR tables read this."""
    rows = []
    keys = ["experiment", "dataset", "kernel_size", "criterion"]
    for (exp, ds, k, crit), g in table.groupby(keys, sort=False):
        fig, paper_r = _experiment_figure(exp)
        for law in laws:
            s = seed_summary(g, column(law))
            rows.append(
                {
                    "experiment": exp,
                    "figure": fig,
                    "dataset": ds,
                    "kernel_size": int(k),
                    "criterion": crit,
                    "law": law,
                    "n_archs": g["arch"].nunique(),
                    "n_seeds": g["seed"].nunique(),
                    "n_no_max_lr": int((~np.isfinite(g["measured_lr"])).sum()),
                    "base_lr": float(g["base_lr"].iloc[0]),
                    **lr_correlation(s["measured_lr"], s["predicted_lr"], n_boot=n_boot, seed=seed),
                    "paper_r": paper_r,
                }
            )
    return pd.DataFrame(rows)


def lr_correlation_table(
    tables: Sequence[pd.DataFrame], *, n_boot: int = N_BOOT, seed: int = BOOT_SEED
) -> pd.DataFrame:
    """``table_lr_correlation``: :func:`lr_stats` under eq. 8/9 (the paper's law), one row per
    experiment x dataset x kernel size x criterion."""
    return pd.concat([lr_stats(t, laws=(PAPER_LAW,), n_boot=n_boot, seed=seed) for t in tables], ignore_index=True)


def lr_laws_table(tables: Sequence[pd.DataFrame], *, n_boot: int = N_BOOT, seed: int = BOOT_SEED) -> pd.DataFrame:
    """``table_lr_laws``: :func:`lr_stats` under every law, with ``best`` marking, per
    experiment x dataset x kernel size x criterion, the law with the highest r."""
    t = pd.concat([lr_stats(x, n_boot=n_boot, seed=seed) for x in tables], ignore_index=True)
    r = t["pearson_r"].fillna(-np.inf)
    best = r.groupby([t[k] for k in ("experiment", "dataset", "kernel_size", "criterion")]).transform("max")
    t["best"] = (r == best) & np.isfinite(t["pearson_r"])
    return t


def primary_criterion(stats: pd.DataFrame) -> str:
    """The criterion the paper's figures draw: the first of a stats table (config order), the
    paper's ``min_loss`` when the table is empty."""
    return str(stats["criterion"].iloc[0]) if len(stats) else PAPER_CRITERION


def nb201_cell_means(table: pd.DataFrame) -> pd.DataFrame:
    """Per-cell mean test accuracy over seeds, one column per recipe (the benchmark's own
    ``mean`` rows are dropped: its per-seed rows are averaged like ours)."""
    t = table[table["seed"].astype(str) != "mean"]
    return t.groupby(["arch", "recipe"])["test_acc"].mean().unstack("recipe")


def _paired(wide: pd.DataFrame, a: str, b: str) -> tuple[np.ndarray, np.ndarray]:
    """Columns ``a`` and ``b`` over the cells where both are known (``a`` may equal ``b``)."""
    ok = wide[a].notna() & wide[b].notna()
    return wide.loc[ok, a].to_numpy(), wide.loc[ok, b].to_numpy()


def nb201_reference(wide: pd.DataFrame, reference: str = "standard") -> str:
    """The recipe others are compared with: ``reference`` where it was trained, else the
    benchmark's published numbers (``nats``: the paper's protocol, which does not retrain the
    standard recipe where NATS-Bench has it)."""
    return reference if reference in wide.columns or "nats" not in wide.columns else "nats"


def nb201_table(
    tables: dict[str, pd.DataFrame],
    reference: str = "standard",
    *,
    n_boot: int = N_BOOT,
    seed: int = BOOT_SEED,
) -> pd.DataFrame:
    """``table_nb201``: per dataset and recipe, accuracy over cells (mean over seeds per cell),
    gain over the reference recipe (:func:`nb201_reference`, named in column ``reference``) with
    its bootstrap 95% interval over cells, and agreement of the rankings; with the benchmark's
    published numbers present (recipe ``nats``), the same against them (``*_vs_nats``)."""
    rows = []
    paper_gain = figure("fig4_nb201").paper
    for ds, t in tables.items():
        wide = nb201_cell_means(t)
        ref_name = nb201_reference(wide, reference)
        for recipe in wide.columns:
            acc = wide[recipe]
            row = {
                "dataset": ds,
                "recipe": recipe,
                "n_cells": int(acc.notna().sum()),
                "n_runs": int((t["recipe"] == recipe).sum()),
                "n_diverged": int(t.loc[t["recipe"] == recipe, "diverged"].sum()),
                "mean_acc": float(acc.mean()),
                "median_acc": float(acc.median()),
                "mean_lr": float(t.loc[t["recipe"] == recipe, "lr"].mean()),
                "reference": ref_name,
            }
            if ref_name in wide.columns:
                ref, oth = _paired(wide, ref_name, recipe)
                diff = oth - ref
                lo, hi = bootstrap_mean_ci(diff, n_boot=n_boot, seed=seed)
                row.update(
                    mean_gain=float(diff.mean()),
                    gain_ci_low=lo,
                    gain_ci_high=hi,
                    frac_improved=float((diff > 0).mean()),
                    **ranking_summary(ref, oth),
                    paper_mean_gain=paper_gain.get(ds, math.nan) if recipe == "principled" else math.nan,
                )
            if "nats" in wide.columns:
                ref, oth = _paired(wide, "nats", recipe)
                agree = ranking_summary(ref, oth)
                row.update(
                    mean_gain_vs_nats=float((oth - ref).mean()),
                    kendall_tau_vs_nats=agree["kendall_tau"],
                    spearman_rho_vs_nats=agree["spearman_rho"],
                )
            rows.append(row)
    return pd.DataFrame(rows)


def nb201_top_table(tables: dict[str, pd.DataFrame], reference: str = "standard", other: str = "principled"):
    """``table_nb201_top``: Kendall tau within the reference's top-K% cells, per dataset."""
    out = []
    for ds, t in tables.items():
        wide = nb201_cell_means(t)
        ref_name = nb201_reference(wide, reference)
        if ref_name not in wide.columns or other not in wide.columns:
            continue
        both = wide[[ref_name, other]].dropna()
        k = kendall_top_k(both[ref_name], both[other])
        k.insert(0, "dataset", ds)
        k.insert(1, "comparison", f"{other} vs {ref_name}")
        out.append(k)
    return (
        pd.concat(out, ignore_index=True)
        if out
        else pd.DataFrame(columns=["dataset", "comparison", "top_percent", "n", "kendall_tau"])
    )


def seed_agreement(table: pd.DataFrame, *, reference: str = "standard", other: str = "principled") -> pd.DataFrame:
    """Fig. 9's curves: Kendall tau within the reference's top-K% (by its seed-mean accuracy)
    for other-vs-reference (seed means) and for every pair of the reference's own seeds."""
    t = table[table["seed"].astype(str) != "mean"]
    per_seed = t[t["recipe"] == reference].pivot_table(index="arch", columns="seed", values="test_acc")
    mean = nb201_cell_means(table)
    out = []
    if other in mean.columns and reference in mean.columns:
        both = mean[[reference, other]].dropna()
        k = kendall_top_k(both[reference], both[other])
        k["comparison"] = f"{other} vs {reference}"
        out.append(k)
    seeds = list(per_seed.columns)
    ref_mean = mean[reference] if reference in mean.columns else None
    for i, a in enumerate(seeds):
        for b in seeds[i + 1 :]:
            pair = per_seed[[a, b]].dropna()
            # rank cells by the reference's seed mean, then compare the two seeds within that top-K
            order = ref_mean.reindex(pair.index).to_numpy() if ref_mean is not None else pair[a].to_numpy()
            k = _kendall_top_k_by(order, pair[a].to_numpy(), pair[b].to_numpy())
            k["comparison"] = f"{reference} seed {a} vs {b}"
            out.append(k)
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=["top_percent", "n", "kendall_tau"])


def _kendall_top_k(order: np.ndarray, x: np.ndarray, y: np.ndarray, percents: Sequence[float]) -> pd.DataFrame:
    from scipy import stats

    ok = np.isfinite(order) & np.isfinite(x) & np.isfinite(y)
    order, x, y = order[ok], x[ok], y[ok]
    idx_sorted = np.argsort(-order, kind="stable")
    rows = []
    for k in percents:
        n = max(int(math.ceil(len(order) * k / 100.0)), 0)
        idx = idx_sorted[:n]
        tau = float(stats.kendalltau(x[idx], y[idx]).statistic) if n >= 3 else math.nan
        rows.append({"top_percent": k, "n": n, "kendall_tau": tau})
    return pd.DataFrame(rows)


def _kendall_top_k_by(order, x, y, percents: Sequence[float] = TOP_K_PERCENTS) -> pd.DataFrame:
    return _kendall_top_k(np.asarray(order, float), np.asarray(x, float), np.asarray(y, float), percents)

