"""Tables and statistics: eq. 8/9 over whole spaces, signal propagation, correlations, rankings.

Everything takes and returns pandas objects or plain numbers, so each figure's numbers can be
recomputed in a Python shell from the workflow's CSVs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from archscale.graphs import enumerate_space, parse
from archscale.scaling import UntrainableArchitecture, get_convention, lr_factor

#: The paper's published numbers, shown beside ours in tables and captions.
PAPER_R = {
    "fig2": 0.838,
    "fig3": 0.856,
    "fig5": 0.962,
    "fig6_mlp_depth": 0.856,
    "fig6_mlp_topology": 0.729,
    "fig7_gelu_mlp_depth": 0.920,
    "fig7_gelu_mlp_topology": 0.680,
    "fig7_gelu_cnn": 0.949,
}
PAPER_NB201_GAIN = {"cifar10": 0.44, "cifar100": 1.24, "imagenet16-120": 2.09}
TOP_K_PERCENTS: tuple[float, ...] = (100, 90, 80, 70, 60, 50, 40, 30, 20, 10, 5, 1)


def lr_table(
    family: str,
    base_lr: float,
    *,
    archs: Sequence[str] | None = None,
    kernel_size: int | None = None,
    n_nodes: int = 5,
) -> pd.DataFrame:
    """eq. 8/9 rate of every architecture of ``archs`` (default: the whole space).

    Untrainable NB201 cells get an empty ``lr`` and a ``reason``. Paths are counted once per
    graph (no model is built), so the whole NB201 space takes about a second.
    """
    rows = []
    for arch in archs if archs is not None else enumerate_space(family, n_nodes):
        g = parse(family, arch)
        conv = get_convention(None, g)
        row = {"arch": arch, "n_paths": g.n_paths}
        try:
            depths = conv.depths(g)
            factor = lr_factor(g, kernel_size=kernel_size)
            row.update(depths=" ".join(map(str, depths)), lr_factor=factor, lr=base_lr * factor, reason="")
        except UntrainableArchitecture:
            row.update(depths="", lr_factor=math.nan, lr=math.nan, reason="no input->output path")
        rows.append(row)
    return pd.DataFrame(rows, columns=["arch", "n_paths", "depths", "lr_factor", "lr", "reason"])


def node_signal(
    family: str,
    arch: str,
    x,
    *,
    width: int,
    init: str,
    in_degree: str = "source",
    seed: int = 0,
    activation: str = "relu",
) -> list[float]:
    """Mean squared activation of every DAG node over that of the body's input ``x``.

    ``x`` enters the DAG body directly (node 0), so it must have ``width`` features (MLP) or
    channels (CNN). Nodes with no input report 0.
    """
    import torch

    from archscale.models import build_model

    in_shape = tuple(x.shape[1:])
    model = build_model(
        family,
        arch,
        width=width,
        num_classes=2,
        in_shape=in_shape,
        init=init,
        in_degree=in_degree,
        seed=seed,
        activation=activation,
    )
    ref = float(x.pow(2).mean())
    with torch.no_grad():
        return [float(h.pow(2).mean()) / ref for h in model.body.node_outputs(x)]


def combine_base_lr(tables: Sequence[pd.DataFrame] | pd.DataFrame) -> float:
    """The base network's maximal rate over seeds: the geometric mean of the per-seed picks
    (rates live on a log grid). Takes one table with a ``seed`` column or one table per seed.
    Raises when no seed found a rate, saying whether every rate diverged or none qualified."""
    if isinstance(tables, pd.DataFrame):
        picks = tables.groupby("seed")["max_lr"].first().to_numpy(dtype=float)
    else:
        picks = np.array([float(t["max_lr"].iloc[0]) for t in tables])
    ok = picks[np.isfinite(picks) & (picks > 0)]
    if ok.size == 0:
        raise ValueError(_no_base_rate_message(tables if isinstance(tables, pd.DataFrame) else pd.concat(tables)))
    return float(np.exp(np.log(ok).mean()))


def _no_base_rate_message(table: pd.DataFrame) -> str:
    """Why no seed found a base rate: every rate diverged, or (``loss_ratio``: min_loss picks any
    rate that did not diverge) some trained but none reached the criterion's threshold."""
    if "diverged" not in table or table["diverged"].astype(bool).all():
        return "every rate diverged for the base network at every seed; lower lr_search.min_exp"
    criterion = str(table["criterion"].iloc[0]) if "criterion" in table else "loss_ratio"
    what = "a qualifying rate"
    if criterion == "loss_ratio":
        ratio = f"{float(table['ratio'].iloc[0]):g}" if "ratio" in table else "ratio"
        what = f"a final loss below {ratio} x the initial loss"
    return (
        f"no rate reached {what} under criterion {criterion} for the base network at any seed "
        "(not every rate diverged); raise lr_search.max_exp / epochs or relax lr_search.ratio"
    )


def lr_correlation(measured: Sequence[float], predicted: Sequence[float]) -> dict[str, float]:
    """Pearson r of log rates, Spearman rho, median |log2(measured / predicted)| over the
    finite pairs."""
    from scipy import stats

    m = np.asarray(measured, dtype=float)
    p = np.asarray(predicted, dtype=float)
    ok = np.isfinite(m) & np.isfinite(p) & (m > 0) & (p > 0)
    m, p = m[ok], p[ok]
    out = {"n": int(ok.sum()), "pearson_r": math.nan, "spearman_rho": math.nan, "median_abs_log2_ratio": math.nan}
    if m.size:
        out["median_abs_log2_ratio"] = float(np.median(np.abs(np.log2(m / p))))
    if m.size >= 3 and np.ptp(np.log(m)) > 0 and np.ptp(np.log(p)) > 0:
        out["pearson_r"] = float(stats.pearsonr(np.log(m), np.log(p)).statistic)
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


def lr_correlation_table(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """``table_lr_correlation``: per experiment/family/dataset/width/kernel, agreement between
    measured (geometric mean over seeds) and predicted maximal rates, with the paper's r."""
    rows = []
    for t in tables:
        for (exp, ds, k), g in t.groupby(["experiment", "dataset", "kernel_size"]):
            ok = g[np.isfinite(g["measured_lr"]) & (g["measured_lr"] > 0)]
            per_arch = ok.groupby("arch").agg(
                measured=("measured_lr", lambda v: float(np.exp(np.log(v).mean()))),
                predicted=("predicted_lr", "first"),
            )
            stats_ = lr_correlation(per_arch["measured"], per_arch["predicted"])
            rows.append(
                {
                    "experiment": exp,
                    "figure": exp.split("_")[0],
                    "dataset": ds,
                    "kernel_size": int(k),
                    "n_archs": g["arch"].nunique(),
                    "n_seeds": g["seed"].nunique(),
                    "n_no_max_lr": int((~np.isfinite(g["measured_lr"])).sum()),
                    "base_lr": float(g["base_lr"].iloc[0]),
                    **stats_,
                    "paper_r": PAPER_R.get(exp, PAPER_R.get(exp.split("_")[0], math.nan)),
                }
            )
    return pd.DataFrame(rows)


def nb201_cell_means(table: pd.DataFrame) -> pd.DataFrame:
    """Per-cell mean test accuracy over seeds, one column per recipe (the benchmark's own
    ``mean`` rows are dropped: its per-seed rows are averaged like ours)."""
    t = table[table["seed"].astype(str) != "mean"]
    return t.groupby(["arch", "recipe"])["test_acc"].mean().unstack("recipe")


def _paired(wide: pd.DataFrame, a: str, b: str) -> tuple[np.ndarray, np.ndarray]:
    """Columns ``a`` and ``b`` over the cells where both are known (``a`` may equal ``b``)."""
    ok = wide[a].notna() & wide[b].notna()
    return wide.loc[ok, a].to_numpy(), wide.loc[ok, b].to_numpy()


def nb201_table(tables: dict[str, pd.DataFrame], reference: str = "standard") -> pd.DataFrame:
    """``table_nb201``: per dataset and recipe, accuracy over cells (mean over seeds per cell),
    gain over the reference recipe, and agreement of the rankings; with the benchmark's
    published numbers present (recipe ``nats``), the same against them (``*_vs_nats``)."""
    rows = []
    for ds, t in tables.items():
        wide = nb201_cell_means(t)
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
            }
            if reference in wide.columns:
                ref, oth = _paired(wide, reference, recipe)
                diff = oth - ref
                row.update(
                    mean_gain=float(diff.mean()),
                    frac_improved=float((diff > 0).mean()),
                    **ranking_summary(ref, oth),
                    paper_mean_gain=PAPER_NB201_GAIN.get(ds, math.nan) if recipe == "principled" else math.nan,
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
        if reference not in wide.columns or other not in wide.columns:
            continue
        both = wide[[reference, other]].dropna()
        k = kendall_top_k(both[reference], both[other])
        k.insert(0, "dataset", ds)
        k.insert(1, "comparison", f"{other} vs {reference}")
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


def init_signal_table(*, family: str, n_dags: int, width: int, batch: int, seed: int) -> pd.DataFrame:
    """Signal propagation of eq. 4 over ``n_dags`` random DAGs with a path (seeded): one row
    per (DAG, convention) with mean squared output / input of the DAG body."""
    import torch

    from archscale.graphs import sample_space

    dags = sample_space(family, n_dags, seed=seed)
    shape = (batch, width) if family == "mlp" else (batch, width, 8, 8)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
    rows = []
    for i, dag in enumerate(dags):
        for label, init, deg in (("kaiming", "kaiming", "source"), ("source", "arch_aware", "source"),
                                 ("target", "arch_aware", "target")):  # fmt: skip
            ratio = node_signal(family, dag, x, width=width, init=init, in_degree=deg, seed=seed + i)[-1]
            rows.append({"dag": dag, "convention": label, "ratio": ratio, "width": width})
    return pd.DataFrame(rows)
