"""analysis / plots / report on hand-made tables: the numbers every figure and table shows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from archscale.analysis import (
    TOP_K_PERCENTS,
    bootstrap_mean_ci,
    bootstrap_pearson_ci,
    kendall_top_k,
    lr_correlation,
    lr_correlation_table,
    lr_laws_table,
    nb201_table,
    nb201_top_table,
    pairwise_gaps,
    seed_agreement,
)
from archscale.criteria import base_rate, choose_rate, measured_vs_predicted, rates_by_criterion
from archscale.laws import LAWS, column, law_factors, law_value
from archscale.plots import draw, fig_criteria, fig_kendall_seeds, fig_laws, fig_lr_scaling, fig_mup_nb201, fig_nb201
from archscale.predict import lr_table
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


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_pearson_ci_contains_r_and_is_deterministic() -> None:
    rng = np.random.default_rng(1)
    x = np.linspace(0, 1, 20)
    y = x + rng.normal(0, 0.2, x.size)
    r = stats.pearsonr(x, y).statistic
    lo, hi = bootstrap_pearson_ci(x, y, n_boot=2000, seed=0)
    assert -1 <= lo < r < hi <= 1
    assert bootstrap_pearson_ci(x, y, n_boot=2000, seed=0) == (lo, hi)  # a fixed seed: same table every run
    assert bootstrap_pearson_ci(x, y, n_boot=2000, seed=1) != (lo, hi)  # the seed is the only randomness
    # more noise, a wider interval; fewer than 3 pairs, none
    lo2, hi2 = bootstrap_pearson_ci(x, x + rng.normal(0, 1.0, x.size), seed=0)
    assert hi2 - lo2 > hi - lo
    assert all(math.isnan(v) for v in bootstrap_pearson_ci([1, 2], [1, 2]))


def test_bootstrap_pearson_ci_skips_degenerate_resamples() -> None:
    # 3 points: many resamples repeat one point (r undefined); the rest give r = 1 exactly
    lo, hi = bootstrap_pearson_ci([0.0, 1.0, 2.0], [0.0, 1.0, 2.0], n_boot=500)
    assert lo == pytest.approx(1.0) and hi == pytest.approx(1.0)


def test_bootstrap_mean_ci_contains_the_mean() -> None:
    v = np.array([0.5, 1.0, 1.5, -0.2, 0.8, 1.1, 0.3, np.nan])
    lo, hi = bootstrap_mean_ci(v, seed=0)
    assert lo < np.nanmean(v) < hi and (lo, hi) == bootstrap_mean_ci(v, seed=0)


def test_lr_correlation_has_the_interval_of_its_r() -> None:
    predicted = np.geomspace(0.05, 1.0, 10)
    measured = predicted * np.exp(np.random.default_rng(0).normal(0, 0.3, 10))
    out = lr_correlation(measured, predicted, n_boot=1000, seed=3)
    ci = bootstrap_pearson_ci(np.log(measured), np.log(predicted), n_boot=1000, seed=3)
    assert (out["ci_low"], out["ci_high"]) == ci
    assert out["ci_low"] < out["pearson_r"] < out["ci_high"]


# --------------------------------------------------------------------------- criteria


def grid(lrs, final, *, initial=2.3, diverged=None, num_classes=10) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lr": lrs,
            "initial_loss": initial,
            "final_loss": final,
            "diverged": diverged if diverged is not None else [False] * len(lrs),
            "num_classes": num_classes,
        }
    )


def test_each_criterion_picks_the_hand_computed_rate() -> None:
    #            lr:  1/16  1/8   1/4   1/2   1     2     4
    g = grid([2.0**e for e in range(-4, 3)], [2.2, 1.6, 0.9, 0.5, 0.7, 2.0, np.nan],
             diverged=[False] * 6 + [True])  # fmt: skip
    assert choose_rate(g, "min_loss") == 0.5
    assert choose_rate(g, "loss_ratio") == 2.0  # 2.0 < 0.9 x 2.3 = 2.07
    assert choose_rate(g, "loss_ratio", ratio=0.5) == 1.0  # 0.7 < 1.15; 2.0 is not
    # speed at 0.5 ln 10 = 1.1513: crosses between 1/8 (1.6) and 1/4 (0.9), log2-interpolated
    level = 0.5 * math.log(10)
    frac = (1.6 - level) / (1.6 - 0.9)
    assert choose_rate(g, "speed") == pytest.approx(2.0 ** (-3 + frac))
    # the level scales with ln(num_classes): 100 classes, level 2.3026, first below it at 1/16
    assert math.isnan(choose_rate(grid(list(g["lr"]), list(g["final_loss"]), num_classes=100), "speed"))
    assert choose_rate(g, "speed", speed_level=0.9) == pytest.approx(2.0 ** (-4 + (2.2 - 0.9 * math.log(10)) / 0.6))
    assert math.isnan(choose_rate(g, "speed", speed_level=0.1))  # never reached: no rate
    # row order is irrelevant; all diverged: no rate under any criterion
    for c in ("min_loss", "loss_ratio", "speed"):
        assert choose_rate(g.iloc[::-1], c) == choose_rate(g, c)
        assert math.isnan(choose_rate(grid([0.1, 0.2], [np.nan, np.nan], diverged=[True, True]), c))


def test_criterion_errors_are_one_line() -> None:
    msg = r"^unknown max-lr criterion 'steepest'; choose one of min_loss, loss_ratio, speed$"
    with pytest.raises(ValueError, match=msg):
        choose_rate(grid([0.1], [1.0]), "steepest")
    with pytest.raises(ValueError, match="num_classes column.*re-run the grid searches"):
        choose_rate(grid([0.1, 0.2], [2.2, 1.0]).drop(columns="num_classes"), "speed")


def test_base_rate_is_the_geometric_mean_of_the_seeds_picks() -> None:
    g = pd.concat([grid([0.25, 0.5, 1.0], [1.0, 0.5, 0.9]).assign(seed=0),
                   grid([0.25, 0.5, 1.0], [1.0, 0.9, 0.4]).assign(seed=1)])  # fmt: skip
    assert base_rate(g, "min_loss") == pytest.approx(math.sqrt(0.5 * 1.0))
    assert base_rate(g, "loss_ratio") == 1.0
    none = grid([0.25, 0.5], [np.nan, np.nan], diverged=[True, True]).assign(seed=0)
    assert math.isnan(base_rate(none, "min_loss"))


# --------------------------------------------------------------------------- laws


def test_each_law_on_hand_computed_depths() -> None:
    d = [1, 2, 2, 3]  # the NB201 example cell's path depths
    assert law_value(d, 4, "eq8") == pytest.approx(44**-0.5)
    assert law_value(d, 4, "shortest") == pytest.approx(1.0)
    assert law_value(d, 4, "longest") == pytest.approx(3**-1.5)
    assert law_value(d, 4, "paths") == pytest.approx(4**-0.5)
    assert math.isnan(law_value([], 0, "eq8")) and math.isnan(law_value([3], 0, "paths"))
    with pytest.raises(ValueError, match="unknown law 'steepest'"):
        law_value(d, 4, "steepest")


def test_law_factors_match_eq8_and_apply_the_kernel_factor_to_every_law() -> None:
    archs = ["2_02_002", "1_12_112", "1_01_001"]
    mlp = lr_table("mlp", 1.0, archs=archs)
    f = law_factors(mlp)
    np.testing.assert_allclose(f["factor_eq8"], mlp["lr_factor"], rtol=1e-12)  # the workflow's eq. 8
    assert (f["kernel_factor"] == 1.0).all()
    # 2_02_002: one path of 3 layers, L = 6 (release: + 3); base L = 3
    row = f.iloc[0]
    assert row["factor_shortest"] == pytest.approx((6 / 3) ** -1.5) == row["factor_longest"]
    assert row["factor_paths"] == 1.0
    # 1_12_112 has paths of several depths: shortest > eq8 and longest <= shortest
    one = mlp.iloc[1]
    depths = [int(x) for x in one["depths"].split()]
    assert f.iloc[1]["factor_shortest"] == pytest.approx((min(depths) / 3) ** -1.5)
    assert f.iloc[1]["factor_longest"] == pytest.approx((max(depths) / 3) ** -1.5)
    assert f.iloc[1]["factor_paths"] == pytest.approx(one["n_paths"] ** -0.5)
    # chains of depth 3 and 4 are the codes "1" and "2", which pandas reads as numbers
    chains = lr_table("mlp", 1.0, archs=["1", "2"]).assign(arch=[1, 2])
    assert law_factors(chains)["factor_longest"].tolist() == pytest.approx([1.0, (4 / 3) ** -1.5])
    # CNN at q = 5: eq. 9's 3 / 5 multiplies every law
    cnn = law_factors(lr_table("cnn", 1.0, archs=archs, kernel_size=5))
    assert cnn["kernel_factor"].tolist() == [0.6] * 3
    for law in LAWS:
        np.testing.assert_allclose(cnn[f"factor_{law}"], 0.6 * f[f"factor_{law}"], rtol=1e-12)


# --------------------------------------------------------------------------- aggregation


def test_measured_vs_predicted_is_tidy_per_criterion() -> None:
    archs = ["2_02_002", "1_12_112"]
    pred = lr_table("mlp", 0.123, archs=archs).assign(kernel_size=3)  # the predicted table's own rate is unused
    grids = pd.concat(
        [grid([0.25, 0.5, 1.0], [1.5, 0.6, 0.8]).assign(arch=a, seed=s, kernel_size=3) for a in archs for s in (0, 1)]
    )
    base = pd.concat([grid([0.5, 1.0, 2.0], [1.5, 0.4, 1.9]).assign(seed=s) for s in (0, 1)])
    t = measured_vs_predicted(pred, grids, {3: base}, ["min_loss", "loss_ratio"])
    assert len(t) == 2 * 2 * 2 and list(t["criterion"].unique()) == ["min_loss", "loss_ratio"]
    m = t[t["criterion"] == "min_loss"]
    assert (m["measured_lr"] == 0.5).all() and (m["base_lr"] == 1.0).all()
    r = t[t["criterion"] == "loss_ratio"]
    assert (r["measured_lr"] == 1.0).all() and (r["base_lr"] == 2.0).all()  # the base follows the criterion
    for law in LAWS:
        assert column(law) in t
    f = law_factors(pred).set_index(pred["arch"])
    for _, row in t.iterrows():
        assert row["predicted_lr"] == pytest.approx(row["base_lr"] * f.loc[row["arch"], "factor_eq8"])
        assert row["predicted_lr_paths"] == pytest.approx(row["base_lr"] * f.loc[row["arch"], "factor_paths"])
    counts = rates_by_criterion(grids, ["speed"])
    assert len(counts) == 4 and (counts["n_rates"] == 3).all()


# --------------------------------------------------------------------------- tables and figures


def lr_rows() -> pd.DataFrame:
    """A tidy aggregate table: 4 CNN architectures x 2 kernel sizes x 2 seeds x 2 criteria."""
    rows = []
    for crit, scale in (("min_loss", 1.0), ("loss_ratio", 2.0)):
        for exp, k in (("fig3_cnn_topology", 3), ("fig3_cnn_topology", 5)):
            for i, pred in enumerate((0.1, 0.2, 0.4, 0.8)):
                for seed in (0, 1):
                    noise = (1.2 if seed else 0.9) * (1.0 + 0.3 * (i % 2) * (crit == "loss_ratio"))
                    rows.append({"experiment": exp, "dataset": "digits", "criterion": crit, "arch": f"a{i}",
                                 "kernel_size": k, "seed": seed, "measured_lr": scale * pred * noise,
                                 "predicted_lr": pred, "predicted_lr_shortest": pred * (2.0 if i == 1 else 1.0),
                                 "predicted_lr_longest": 0.3 / pred, "predicted_lr_paths": 0.5,
                                 "base_lr": scale, "n_paths": 1, "depths": "4"})  # fmt: skip
    return pd.DataFrame(rows)


def test_lr_correlation_table_per_kernel_and_criterion() -> None:
    t = lr_correlation_table([lr_rows()], n_boot=500)
    assert list(zip(t["criterion"], t["kernel_size"], strict=True)) == [
        ("min_loss", 3), ("min_loss", 5), ("loss_ratio", 3), ("loss_ratio", 5)
    ]  # fmt: skip
    assert (t["law"] == "eq8").all() and (t["n"] == 4).all() and (t["n_seeds"] == 2).all()
    assert (t["paper_r"] == 0.856).all() and (t["n_archs"] == 4).all()
    assert (t["pearson_r"] > 0.99).all() and (t["ci_low"] <= t["pearson_r"]).all() and (t["ci_high"] <= 1).all()


def test_lr_laws_table_marks_the_best_law() -> None:
    t = lr_laws_table([lr_rows()], n_boot=500)
    assert len(t) == 4 * len(LAWS)
    best = t[t["best"]]
    assert set(best["law"]) == {"eq8"} and len(best) == 4
    longest = t[t["law"] == "longest"]
    assert (longest["pearson_r"] < -0.99).all()  # 0.3 / pred: perfectly anti-correlated
    assert t.loc[t["law"] == "paths", "pearson_r"].isna().all()  # a constant prediction has no r
    assert (t.loc[t["law"] == "shortest", "pearson_r"] < t.loc[t["law"] == "eq8", "pearson_r"].max()).all()
    # lr_stats is the one function: the laws table's eq8 rows are table_lr_correlation's rows
    corr = lr_correlation_table([lr_rows()], n_boot=500)
    pd.testing.assert_frame_equal(t[t["law"] == "eq8"].drop(columns="best").reset_index(drop=True), corr)


def test_every_figure_function_draws() -> None:
    fig = fig_lr_scaling(lr_rows(), title="Fig. 3", dataset="digits", n_boot=500)
    assert len(fig.axes) == 2 and "(criterion min_loss)" in fig.texts[0].get_text()
    # each panel's r and interval are the table's (one function, analysis.lr_stats, serves both)
    table = lr_correlation_table([lr_rows()], n_boot=500)
    for ax, (_, r) in zip(fig.axes, table[table["criterion"] == "min_loss"].iterrows(), strict=True):
        title = f"r={r['pearson_r']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}] (paper 0.856)"
        assert title in ax.get_title() and f"n={r['n']}" in ax.get_title()
    fig = fig_lr_scaling(lr_rows(), title="Fig. 3", dataset="digits", criterion="loss_ratio", n_boot=500)
    assert "(criterion loss_ratio)" in fig.texts[0].get_text()
    tables = {"cifar10": nb201_runs(nats=True)}
    assert len(fig_nb201(tables).axes) == 3
    assert len(fig_mup_nb201(tables).axes) == 2
    assert len(fig_kendall_seeds(tables).axes) == 1
    assert len(fig_criteria(table).axes) == 1
    fig = fig_laws(lr_laws_table([lr_rows()], n_boot=500))
    assert "best: eq8" in fig.axes[0].get_yticklabels()[0].get_text()


def test_nb201_gain_interval_is_in_table_and_figure() -> None:
    runs = {"cifar10": nb201_runs()}
    t = nb201_table(runs, n_boot=500, seed=0).set_index("recipe")
    row = t.loc["principled"]
    assert row["gain_ci_low"] < row["mean_gain"] < row["gain_ci_high"]
    ax = fig_nb201(runs, n_boot=500, seed=0).axes[0]
    assert f"[{row['gain_ci_low']:+.2f}, {row['gain_ci_high']:+.2f}] pts" in ax.get_title()


def test_draw_passes_only_the_settings_a_plot_function_names() -> None:
    tables = {"cifar10": nb201_runs()}
    boot = {"n_boot": 500, "seed": 0}
    # fig_nb201 quotes an interval and takes them; fig_mup_nb201 does not and is called without
    ax = draw("fig_nb201", tables, title="t", optional=boot).axes[0]
    assert ax.get_title() == fig_nb201(tables, title="t", n_boot=500, seed=0).axes[0].get_title()
    assert len(draw("fig_mup_nb201", tables, title="t", optional=boot).axes) == 2


def test_figures_readme_quotes_ours_beside_the_papers() -> None:
    lr = lr_correlation_table([lr_rows()])
    laws = lr_laws_table([lr_rows()])
    runs = {"cifar10": nb201_runs()}
    signal = pd.DataFrame({"dag": ["a", "a"], "convention": ["kaiming", "target"], "ratio": [4.0, 1.0], "width": 8})
    tables = {"lr": lr, "laws": laws, "nb201": nb201_table(runs), "top": nb201_top_table(runs), "signal": signal}
    text = figures_readme(tables, ["figures/fig3_cnn_topology_digits.png", "figures/fig4_nb201.png",
                                   "figures/fig_init_signal.png", "figures/fig_criteria.png",
                                   "figures/fig_laws.png"])  # fmt: skip
    assert "![fig3_cnn_topology_digits](fig3_cnn_topology_digits.png)" in text
    assert "(paper 0.856)" in text and "(paper +0.44)" in text
    assert "target: median E[out^2]/E[in^2] = 1.00" in text
    r = lr.iloc[0]
    ci = f"{r['pearson_r']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}]"
    assert f"- fig3_cnn_topology q=3 (min_loss): Pearson r = {ci}" in text
    assert "n = 4 architectures x 2 seeds" in text and "other criteria: loss_ratio r = " in text
    assert "best law: eq8" in text
    assert "- loss_ratio: median r = " in text  # fig_criteria
    assert "- criterion min_loss: best law eq8 in 2, shortest in 0, longest in 0, paths in 0 of 2 panels" in text


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


def test_laws_read_residual_depth_counts_and_base() -> None:
    """Residual predicted tables write depth:count pairs and scale from b0 (one path of 2)."""
    from archscale.laws import base_depths, law_factor, parse_depths

    assert parse_depths("3:1 4:2") == [3, 4, 4] and parse_depths("6") == [6] and parse_depths(float("nan")) == []
    assert base_depths("b2d") == [2] and base_depths("2_02_002") == [3]
    assert law_factor(parse_depths("3:1 4:1 5:1 6:1"), 4, "eq8", [2]) == pytest.approx(54**-0.5)
    assert law_factor(parse_depths("3:1 4:1 5:1 6:1"), 4, "shortest", [2]) == pytest.approx(1.5**-1.5)
