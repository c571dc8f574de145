"""analysis / plots / report on hand-made tables: the numbers every figure and table shows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from archscale.analysis import (
    TOP_K_PERCENTS,
    kendall_top_k,
    lr_correlation,
    lr_correlation_table,
    nb201_table,
    nb201_top_table,
    pairwise_gaps,
    seed_agreement,
)
from archscale.plots import fig_kendall_seeds, fig_lr_scaling, fig_mup_nb201, fig_nb201
from archscale.report import figures_readme


def test_lr_correlation_on_log_rates() -> None:
    predicted = np.array([0.1, 0.2, 0.4, 0.8])
    measured = predicted * np.array([1.0, 2.0, 1.0, 2.0])
    out = lr_correlation(measured, predicted)
    assert out["n"] == 4
    assert out["pearson_r"] == pytest.approx(stats.pearsonr(np.log(measured), np.log(predicted)).statistic)
    assert out["median_abs_log2_ratio"] == pytest.approx(0.5)
    # non-finite and non-positive pairs are dropped, not propagated
    assert lr_correlation([np.nan, 0.2, 0.4, 0.8, 1.6], [0.1, 0.2, 0.4, 0.8, 1.6])["n"] == 4
    assert math.isnan(lr_correlation([0.1, 0.2], [0.1, 0.2])["pearson_r"])


def test_kendall_top_k_restricts_to_the_reference_best() -> None:
    ref = np.arange(100, dtype=float)
    other = ref.copy()
    other[-10:] = other[-10:][::-1]  # the top 10% is fully reversed, the rest agrees
    k = kendall_top_k(ref, other).set_index("top_percent")
    assert list(k.index) == list(TOP_K_PERCENTS)
    assert k.loc[10, "kendall_tau"] == pytest.approx(-1.0)
    assert k.loc[100, "kendall_tau"] > 0.9 and k.loc[100, "n"] == 100 and k.loc[1, "n"] == 1
    assert math.isnan(k.loc[1, "kendall_tau"])


def test_pairwise_gaps_count() -> None:
    assert len(pairwise_gaps([1, 2, 3, 4], [1, 2, 3, 4])) == 6


def nb201_runs(nats: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(12):
        base = 60 + i
        for seed in (0, 1, 2):
            rows.append({"arch": f"c{i}", "recipe": "standard", "seed": seed, "test_acc": base + rng.normal(0, 0.3)})
            rows.append(
                {"arch": f"c{i}", "recipe": "principled", "seed": seed, "test_acc": base + 1 + rng.normal(0, 0.3)}
            )
        if nats:
            for seed in ("777", "888", "999"):
                rows.append({"arch": f"c{i}", "recipe": "nats", "seed": seed, "test_acc": base + 0.5})
            rows.append({"arch": f"c{i}", "recipe": "nats", "seed": "mean", "test_acc": 1000.0})  # must be ignored
    df = pd.DataFrame(rows)
    df["lr"] = 0.1
    df["diverged"] = False
    return df


def test_nb201_table_gain_and_rankings() -> None:
    t = nb201_table({"cifar10": nb201_runs()}).set_index("recipe")
    assert t.loc["principled", "mean_gain"] == pytest.approx(1.0, abs=0.3)
    assert t.loc["principled", "frac_improved"] > 0.9
    assert t.loc["principled", "kendall_tau"] > 0.8 and t.loc["standard", "mean_gain"] == 0
    assert t.loc["principled", "paper_mean_gain"] == 0.44 and t.loc["principled", "n_cells"] == 12


def test_nb201_table_gains_nats_columns_and_ignores_mean_rows() -> None:
    t = nb201_table({"cifar100": nb201_runs(nats=True)}).set_index("recipe")
    assert t.loc["nats", "mean_acc"] == pytest.approx(60 + 5.5 + 0.5)
    assert t.loc["principled", "mean_gain_vs_nats"] == pytest.approx(0.5, abs=0.3)
    assert t.loc["principled", "kendall_tau_vs_nats"] > 0.8


def test_seed_agreement_has_every_seed_pair_and_the_comparison() -> None:
    curves = seed_agreement(nb201_runs(nats=True), reference="nats")
    comparisons = set(curves["comparison"])
    assert "principled vs nats" in comparisons
    assert {"nats seed 777 vs 888", "nats seed 777 vs 999", "nats seed 888 vs 999"} <= comparisons


def lr_rows() -> pd.DataFrame:
    rows = []
    for exp, k in (("fig3_cnn_topology", 3), ("fig3_cnn_topology", 5)):
        for i, pred in enumerate((0.1, 0.2, 0.4, 0.8)):
            for seed in (0, 1):
                rows.append({"experiment": exp, "dataset": "digits", "arch": f"a{i}", "kernel_size": k, "seed": seed,
                             "measured_lr": pred * (1.2 if seed else 0.9), "predicted_lr": pred, "base_lr": 1.0,
                             "n_paths": 1, "depths": "4"})  # fmt: skip
    return pd.DataFrame(rows)


def test_lr_correlation_table_per_kernel() -> None:
    t = lr_correlation_table([lr_rows()])
    assert list(t["kernel_size"]) == [3, 5]
    assert (t["pearson_r"] > 0.99).all() and (t["paper_r"] == 0.856).all() and (t["n_archs"] == 4).all()


def test_every_figure_function_draws() -> None:
    fig = fig_lr_scaling(lr_rows(), title="Fig. 3", dataset="digits")
    assert len(fig.axes) == 2
    # each panel's r is the table's r (one function, analysis.lr_stats, serves both)
    table = lr_correlation_table([lr_rows()])
    for ax, r in zip(fig.axes, table["pearson_r"], strict=True):
        assert f"r={r:.3f} (paper 0.856)" in ax.get_title()
    tables = {"cifar10": nb201_runs(nats=True)}
    assert len(fig_nb201(tables).axes) == 3
    assert len(fig_mup_nb201(tables).axes) == 2
    assert len(fig_kendall_seeds(tables).axes) == 1


def test_figures_readme_quotes_ours_beside_the_papers() -> None:
    lr = lr_correlation_table([lr_rows()])
    runs = {"cifar10": nb201_runs()}
    signal = pd.DataFrame({"dag": ["a", "a"], "convention": ["kaiming", "target"], "ratio": [4.0, 1.0], "width": 8})
    tables = {"lr": lr, "nb201": nb201_table(runs), "top": nb201_top_table(runs), "signal": signal}
    text = figures_readme(tables, ["figures/fig3_cnn_topology_digits.png", "figures/fig4_nb201.png",
                                   "figures/fig_init_signal.png"])  # fmt: skip
    assert "![fig3_cnn_topology_digits](fig3_cnn_topology_digits.png)" in text
    assert "(paper 0.856)" in text and "(paper +0.44)" in text
    assert "target: median E[out^2]/E[in^2] = 1.00" in text


def test_nb201_reference_is_the_benchmark_where_standard_was_not_retrained() -> None:
    runs = nb201_runs(nats=True)
    without_standard = runs[runs["recipe"] != "standard"]
    t = nb201_table({"cifar10": without_standard})
    principled = t[t["recipe"] == "principled"].iloc[0]
    assert principled["reference"] == "nats"
    assert principled["mean_gain"] == pytest.approx(principled["mean_gain_vs_nats"])
    top = nb201_top_table({"cifar10": without_standard})
    assert set(top["comparison"]) == {"principled vs nats"}
    # with standard trained, it stays the reference
    assert set(nb201_table({"cifar10": runs})["reference"]) == {"standard"}



def test_ablation_recipes_get_table_rows_a_fig4_panel_and_a_summary_line() -> None:
    """principled_init / principled_lr: one table_nb201 row each, fig. 4's (d) panel of every
    recipe's gain over the reference, fig. 8's boxes, and their gains in figures/README.md."""
    runs = nb201_runs()
    extra = []
    for recipe, gain in (("principled_init", 0.25), ("principled_lr", 0.75)):
        r = runs[runs["recipe"] == "principled"].copy()
        r["recipe"] = recipe
        r["test_acc"] += gain - 1  # principled is standard + 1
        extra.append(r)
    runs = pd.concat([runs, *extra], ignore_index=True)
    t = nb201_table({"cifar10": runs}).set_index("recipe")
    assert set(t.index) == {"standard", "principled", "principled_init", "principled_lr"}
    assert t.loc["principled_init", "mean_gain"] == pytest.approx(0.25, abs=0.3)
    assert t.loc["principled_lr", "mean_gain"] == pytest.approx(0.75, abs=0.3)
    fig = fig_nb201({"cifar10": runs})
    assert len(fig.axes) == 4 and "(d) recipes and ablations" in fig.axes[3].get_title()
    labels = [x.get_text() for x in fig.axes[3].get_xticklabels()]
    assert labels == ["principled", "principled_init", "principled_lr"]
    heights = [p.get_height() for p in fig.axes[3].patches]
    assert heights == pytest.approx([t.loc[r, "mean_gain"] for r in labels])
    boxes = fig_mup_nb201({"cifar10": runs}).axes[0]
    assert [x.get_text() for x in boxes.get_xticklabels()] == ["standard", *labels]
    tables = {"lr": lr_correlation_table([lr_rows()]), "nb201": nb201_table({"cifar10": runs}),
              "top": nb201_top_table({"cifar10": runs})}  # fmt: skip
    text = figures_readme(tables, ["figures/fig4_nb201.png"])
    gains = ", ".join(f"{r} {t.loc[r, 'mean_gain']:+.2f}" for r in ("principled_init", "principled_lr"))
    assert f"cifar10: ablations, mean gain over standard: {gains} pts" in text
