"""figures/README.md: every figure with its caption and its numbers beside the paper's.

Built by the workflow from the tables it has just written, so the text cannot drift from the
figures. Each figure's caption and summary function come from its :mod:`archscale.figures`
entry; a summary function takes the figure's spec, the tables and the figure's dataset (lr
figures) and returns Markdown list lines.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from archscale.analysis import primary_criterion
from archscale.figures import FIGURES, TABLES, FigureSpec


def _fmt(x: float, spec: str = ".3f") -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _ci(value: float | None, low: float | None, high: float | None, spec: str = ".2f") -> str:
    """``0.80 [0.55, 0.93]``: a number with its bootstrap 95% interval."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{format(value, spec)} [{_fmt(low, spec)}, {_fmt(high, spec)}]"


def _r(r: pd.Series) -> str:
    return _ci(r["pearson_r"], r["ci_low"], r["ci_high"])


def _panel(r: pd.Series) -> str:
    return f"{r['experiment']} q={r['kernel_size']}"


def lr_summary(spec: FigureSpec, tables: dict[str, pd.DataFrame], dataset: str | None) -> list[str]:
    """Per panel: r with its interval under the drawn (first) criterion beside the paper's,
    then r under the other criteria and the best law (table_lr_laws)."""
    lr = tables["lr"]
    main = primary_criterion(lr)
    rows = lr[(lr["figure"] == spec.name) & (lr["dataset"] == dataset)]
    laws = tables.get("laws")
    out = []
    for _, r in rows[rows["criterion"] == main].iterrows():
        same = (rows["experiment"] == r["experiment"]) & (rows["kernel_size"] == r["kernel_size"])
        others = rows[same & (rows["criterion"] != main)]
        others = "; ".join(f"{o['criterion']} r = {_r(o)}" for _, o in others.iterrows())
        line = (
            f"- {_panel(r)} ({main}): Pearson r = {_r(r)} (paper {_fmt(r['paper_r'])}), "
            f"n = {r['n']} architectures x {r['n_seeds']} seeds, Spearman rho = {_fmt(r['spearman_rho'], '.2f')}, "
            f"median |log2(measured/predicted)| = {_fmt(r['median_abs_log2_ratio'], '.2f')}, "
            f"base LR {_fmt(r['base_lr'], '.3g')}"
        )
        if others:
            line += f"; other criteria: {others}"
        if laws is not None:
            best = laws[
                (laws["experiment"] == r["experiment"]) & (laws["dataset"] == dataset)
                & (laws["kernel_size"] == r["kernel_size"]) & (laws["criterion"] == main) & laws["best"].astype(bool)
            ]  # fmt: skip
            line += f"; best law: {', '.join(best['law']) or 'n/a'}"
        out.append(line)
    return out


def criteria_summary(spec: FigureSpec, tables: dict[str, pd.DataFrame], dataset: str | None) -> list[str]:
    """Per criterion: median r over the experiment panels, and in how many the interval lies
    above 0 (the prediction carries information) or contains the paper's r."""
    lr = tables["lr"]
    out = []
    for crit, g in lr.groupby("criterion", sort=False):
        ok = g[g["pearson_r"].notna()]
        above = int((ok["ci_low"] > 0).sum())
        paper = ok[ok["paper_r"].notna()]
        covers = int(((paper["ci_low"] <= paper["paper_r"]) & (paper["paper_r"] <= paper["ci_high"])).sum())
        out.append(
            f"- {crit}: median r = {_fmt(ok['pearson_r'].median(), '.2f')} over {len(ok)} panels; "
            f"95% interval above 0 in {above} of {len(ok)}, containing the paper's r in {covers} of {len(paper)}"
        )
    return out


def laws_summary(spec: FigureSpec, tables: dict[str, pd.DataFrame], dataset: str | None) -> list[str]:
    """How often each law fits best at the drawn criterion, then each panel's r per law."""
    laws = tables["laws"]
    main = primary_criterion(laws)
    t = laws[laws["criterion"] == main]
    best = t[t["best"].astype(bool)]
    panels = t.drop_duplicates(["experiment", "dataset", "kernel_size"])
    out = [
        f"- criterion {main}: best law "
        + ", ".join(f"{law} in {int((best['law'] == law).sum())}" for law in dict.fromkeys(t["law"]))
        + f" of {len(panels)} panels (ties count for each)"
    ]
    for _, p in panels.iterrows():
        keys = ("experiment", "dataset", "kernel_size")
        g = t[np.logical_and.reduce([t[k] == p[k] for k in keys])]
        out.append(f"- {_panel(p)} ({p['dataset']}): " + "; ".join(f"{r['law']} r = {_r(r)}" for _, r in g.iterrows()))
    return out


def nb201_summary(spec: FigureSpec, tables: dict[str, pd.DataFrame], dataset: str | None) -> list[str]:
    nb201, top = tables["nb201"], tables["top"]
    out = []
    for _, r in nb201[nb201["recipe"] == "principled"].iterrows():
        paper = spec.paper.get(r["dataset"], math.nan)
        gain = _ci(r.get("mean_gain"), r.get("gain_ci_low"), r.get("gain_ci_high"), "+.2f")
        out.append(
            f"- {r['dataset']}: {r['n_cells']} cells, mean accuracy {_fmt(r['mean_acc'], '.2f')}%, "
            f"mean gain over standard {gain} pts "
            f"(paper {_fmt(paper, '+.2f')}), "
            f"improved {_fmt(100 * r.get('frac_improved', math.nan), '.0f')}% of cells, "
            f"Kendall tau {_fmt(r.get('kendall_tau'))}"
        )
    ablations = nb201[nb201["recipe"].isin(["principled_init", "principled_lr"])]
    for ds, g in ablations.groupby("dataset", sort=False):
        gains = ", ".join(f"{r['recipe']} {_fmt(r.get('mean_gain'), '+.2f')}" for _, r in g.iterrows())
        out.append(f"- {ds}: ablations, mean gain over standard: {gains} pts (one half of the principled recipe each)")
    for ds, g in top.groupby("dataset"):
        k1 = g[g["top_percent"] == g["top_percent"].min()]["kendall_tau"]
        k100 = g[g["top_percent"] == 100]["kendall_tau"]
        out.append(
            f"- {ds}: Kendall tau {_fmt(k100.iloc[0] if len(k100) else math.nan)} over all cells, "
            f"{_fmt(k1.iloc[0] if len(k1) else math.nan)} in the top {g['top_percent'].min():g}% "
            "(paper: about 0.85-0.9 overall, 0.1-0.35 in the top 1%)"
        )
    return out


def mup_summary(spec: FigureSpec, tables: dict[str, pd.DataFrame], dataset: str | None) -> list[str]:
    return [
        f"- {r['dataset']} {r['recipe']}: mean accuracy {_fmt(r['mean_acc'], '.2f')}%"
        for _, r in tables["nb201"].iterrows()
    ]


def kendall_seeds_summary(spec: FigureSpec, tables: dict[str, pd.DataFrame], dataset: str | None) -> list[str]:
    return []  # the curves are the figure; table_nb201_top holds the principled-vs-reference taus


def signal_summary(spec: FigureSpec, tables: dict[str, pd.DataFrame], dataset: str | None) -> list[str]:
    out = []
    for conv, g in tables["signal"].groupby("convention", sort=False):
        r = g["ratio"]
        inside = float(((r >= 0.5) & (r <= 2)).mean())
        out.append(
            f"- {conv}: median E[out^2]/E[in^2] = {r.median():.2f} (10th-90th percentile "
            f"{r.quantile(0.1):.2f}-{r.quantile(0.9):.2f}), {100 * inside:.0f}% of DAGs within [0.5, 2]"
        )
    return out


def spec_of_output(stem: str) -> tuple[FigureSpec, str | None]:
    """The registry entry of a figure file's stem, and its dataset (lr figures: ``<name>_<dataset>``)."""
    for spec in FIGURES:
        if stem == spec.name:
            return spec, None
        if spec.kind == "lr" and stem.startswith(spec.name + "_"):
            return spec, stem.removeprefix(spec.name + "_")
    raise KeyError(f"figure file {stem!r} matches no entry of archscale.figures")


def figures_readme(tables: dict[str, pd.DataFrame], figures: list[str]) -> str:
    """Markdown for figures/README.md. ``tables``: ``lr``, ``laws``, ``nb201``, ``top``, ``signal``;
    ``figures``: the PNG paths, relative to the repo."""
    out = [
        "# Figures and tables",
        "",
        "Regenerated by the workflow (`rule figures_readme`); every number below is read from the tables",
        "beside this file. Each figure has a PDF twin. The paper's numbers are quoted for comparison.",
        "",
    ]
    for png in figures:
        name = Path(png).stem
        spec, dataset = spec_of_output(name)
        out += [f"## {name}", "", f"![{name}]({Path(png).name})", "", spec.caption]
        out += globals()[spec.summary](spec, tables, dataset)
        out.append("")
    out += ["## Tables", ""]
    for t, caption in TABLES.items():
        out.append(f"- [{t}.csv]({t}.csv) ([LaTeX]({t}.tex), [Markdown]({t}.md)): {caption}")
    return "\n".join(out) + "\n"
