"""End-to-end: the real Snakemake workflow on config/tiny.yaml, in a copy of the repository.

One session-scoped run produces every output; the other tests read it, or dry-run edits of
it (a config value, a library module) and parse which jobs Snakemake would re-run.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from workflow_copy import SNAKEMAKE, WORKFLOW_FILES, copy_workflow, planned_jobs, snakemake

from archscale.figures import figures_of

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def tiny_config() -> dict:
    return yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())


def tiny_experiments() -> dict[str, dict]:
    """config.yaml's lr_experiments with tiny.yaml's values over them (Snakemake's merge)."""
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    tiny = tiny_config()
    return {exp: {**e, **tiny["lr_experiments"].get(exp, {})} for exp, e in cfg["lr_experiments"].items()}


def expected_outputs() -> list[str]:
    """One PDF + PNG per registry figure (archscale.figures) and dataset of its experiments."""
    exps = tiny_experiments()
    out = []
    for f in figures_of("lr"):
        for ds in sorted({ds for e in f.experiments if e in exps for ds in exps[e]["datasets"]}):
            out += [f"figures/{f.name}_{ds}.pdf", f"figures/{f.name}_{ds}.png"]
    for fig in ("fig4_nb201", "fig8_mup_nb201", "fig9_kendall_seeds", "fig_init_signal", "fig_criteria", "fig_laws"):
        out += [f"figures/{fig}.pdf", f"figures/{fig}.png"]
    out.append("figures/README.md")
    for t in ("table_lr_correlation", "table_lr_laws", "table_nb201", "table_nb201_top"):
        out += [f"figures/{t}.{ext}" for ext in ("csv", "tex", "md")]
    return out


def test_every_output_exists(tiny_run: Path) -> None:
    for rel in expected_outputs():
        path = tiny_run / rel
        assert path.exists() and path.stat().st_size > 0, rel
    assert (tiny_run / "figures/fig4_nb201.png").read_bytes()[:4] == b"\x89PNG"
    assert (tiny_run / "figures/fig2_mlp_topology_digits.pdf").read_bytes()[:4] == b"%PDF"


TABLE_COLUMNS = {
    "table_lr_correlation": {
        "experiment", "figure", "dataset", "kernel_size", "criterion", "law", "n_archs", "n_seeds", "pearson_r",
        "ci_low", "ci_high", "spearman_rho", "median_abs_log2_ratio", "paper_r", "base_lr", "n",
    },
    "table_lr_laws": {
        "experiment", "dataset", "kernel_size", "criterion", "law", "n", "n_seeds", "pearson_r", "ci_low", "ci_high",
        "best",
    },
    "table_nb201": {
        "dataset", "recipe", "n_cells", "mean_acc", "median_acc", "mean_gain", "gain_ci_low", "gain_ci_high",
        "frac_improved", "kendall_tau", "spearman_rho", "top10_overlap",
    },
    "table_nb201_top": {"dataset", "comparison", "top_percent", "n", "kendall_tau"},
}  # fmt: skip


@pytest.mark.parametrize("table", sorted(TABLE_COLUMNS))
def test_tables_have_columns_and_finite_numbers(tiny_run: Path, table: str) -> None:
    df = pd.read_csv(tiny_run / "figures" / f"{table}.csv")
    assert TABLE_COLUMNS[table] <= set(df.columns)
    assert len(df) > 0
    key = {"table_lr_correlation": ["n"], "table_lr_laws": ["n"], "table_nb201": ["mean_acc"], "table_nb201_top": ["n"]}
    for col in key[table]:
        assert df[col].map(math.isfinite).all(), (table, col)


def test_lr_tables_have_every_criterion_and_law(tiny_run: Path) -> None:
    from archscale.criteria import CRITERIA
    from archscale.laws import LAWS

    corr = pd.read_csv(tiny_run / "figures/table_lr_correlation.csv")
    laws = pd.read_csv(tiny_run / "figures/table_lr_laws.csv")
    panels = corr.drop_duplicates(["experiment", "dataset", "kernel_size"])
    assert list(corr["criterion"].unique()) == list(CRITERIA) and len(corr) == len(panels) * len(CRITERIA)
    assert len(laws) == len(corr) * len(LAWS) and set(laws["law"]) == set(LAWS)
    paper = corr[corr["criterion"] == "min_loss"]
    assert paper["base_lr"].map(math.isfinite).all()  # the paper's criterion always finds a base rate
    ok = corr["pearson_r"].notna()
    assert ((corr.loc[ok, "ci_low"] <= corr.loc[ok, "ci_high"]) & (corr.loc[ok, "ci_high"] <= 1)).all()


def test_lr_table_is_tidy_and_consistent(tiny_run: Path) -> None:
    df = pd.read_csv(tiny_run / "results/tables/lr_fig3_cnn_topology_digits.csv")
    tiny = tiny_config()
    exp = tiny["lr_experiments"]["fig3_cnn_topology"]
    assert set(df["kernel_size"]) == set(exp["kernel_sizes"])
    assert set(df["arch"]) == set(exp["archs"])
    assert set(df["seed"]) == set(tiny["seeds"])
    # eq. 9: at one architecture, predicted rates scale as 3 / q across kernel sizes, under every
    # criterion and law
    for _, g in df[df["base_lr"].notna()].groupby(["arch", "criterion"]):
        for col in ("predicted_lr", "predicted_lr_shortest", "predicted_lr_longest", "predicted_lr_paths"):
            per_k = g.groupby("kernel_size")[col].first()
            assert per_k[5] / per_k[3] == pytest.approx(3 / 5, rel=1e-9), col
    # the paper's criterion at aggregation is the grid job's own pick (lr_search.criterion is
    # min_loss here), and its prediction the scaled_lrs job's
    paper = df[df["criterion"] == "min_loss"].set_index(["arch", "kernel_size", "seed"]).sort_index()
    grids = pd.concat(
        [pd.read_csv(f) for f in tiny_run.glob("results/lr/fig3_cnn_topology/digits/k*/measured_shard*.csv")]
    )
    picks = grids.groupby(["arch", "kernel_size", "seed"])["max_lr"].first().sort_index()
    assert paper["measured_lr"].to_numpy() == pytest.approx(picks.to_numpy())
    for k in exp["kernel_sizes"]:
        pred = pd.read_csv(tiny_run / f"results/lr/fig3_cnn_topology/digits/k{k}/predicted.csv").set_index("arch")
        mine = paper.xs(k, level="kernel_size").groupby("arch")["predicted_lr"].first()
        assert mine.to_numpy() == pytest.approx(pred.loc[mine.index, "predicted_lr"].to_numpy(), rel=1e-9)


def test_residual_experiments_are_traced_and_measured(tiny_run: Path) -> None:
    """fig. 10: every residual architecture x seed measured, predicted from its traced depths
    (b2d, by hand: depths 3, 4, 5, 6 against the base b0's 2: factor 54^-1/2)."""
    exps = tiny_experiments()
    for exp in ("fig10_resmlp", "fig10_rescnn"):
        df = pd.read_csv(tiny_run / f"results/tables/lr_{exp}_digits.csv", dtype={"arch": str})
        df = df[df["criterion"] == "min_loss"]  # the paper's criterion (others may find no rate)
        assert set(df["arch"]) == set(exps[exp]["archs"]) and set(df["seed"]) == set(tiny_config()["seeds"])
        assert (df["measured_lr"] > 0).all() and (df["kernel_size"] == 3).all()
        b2d = df[df["arch"] == "b2d"].iloc[0]
        assert b2d["depths"] == "3:1 4:1 5:1 6:1" and b2d["n_paths"] == 4
        assert b2d["predicted_lr"] == pytest.approx(b2d["base_lr"] * 54**-0.5, rel=1e-9)
    assert (tiny_run / "figures/fig10_residual_digits.png").exists()


def test_cnn_depth_chains_scale_by_depth_and_kernel(tiny_run: Path) -> None:
    df = pd.read_csv(tiny_run / "results/tables/lr_fig11_cnn_depth_digits.csv", dtype={"arch": str})
    df = df[df["criterion"] == "min_loss"]
    exp = tiny_experiments()["fig11_cnn_depth"]
    assert set(df["kernel_size"]) == set(exp["kernel_sizes"]) and df["arch"].nunique() == len(exp["depths"])
    pred = df.groupby(["arch", "kernel_size"])["predicted_lr"].first().unstack()
    assert (pred[5] / pred[3]).to_numpy() == pytest.approx(3 / 5, rel=1e-9)
    depth = df.groupby("arch")["depths"].first().astype(int).sort_values()
    assert list(depth) == sorted(exp["depths"])  # release counting: one path of depth L per chain
    k3 = pred[3][depth.index]
    assert k3.to_numpy() == pytest.approx(k3.iloc[0] * (depth.iloc[0] / depth.to_numpy()) ** 1.5, rel=1e-9)


def test_ablation_recipes_have_table_rows(tiny_run: Path) -> None:
    t = pd.read_csv(tiny_run / "figures/table_nb201.csv")
    recipes = set(yaml.safe_load((REPO / "config" / "config.yaml").read_text())["nb201"]["recipes"])
    assert {"principled_init", "principled_lr"} <= recipes and set(t["recipe"]) == recipes
    lr = pd.read_csv(tiny_run / "figures/table_lr_correlation.csv")
    assert {"fig10_resmlp", "fig10_rescnn", "fig11_cnn_depth"} <= set(lr["experiment"])


def test_completed_run_has_nothing_to_do(tiny_run: Path) -> None:
    assert planned_jobs(snakemake(tiny_run, "-n")) == {}


def test_a_fresh_clone_regenerates_the_committed_figures(tmp_path: Path) -> None:
    """A fresh clone has figures/ (committed) but no results/ and no Snakemake metadata; its
    first ``make run`` must still plan the whole workflow, not find the figures present and stop."""
    cmd = [SNAKEMAKE, "-n", "--cores", "2"]  # the default config, as make run runs it
    jobs = {}
    for name, extra in (("clone", ("figures",)), ("bare", ())):
        work = copy_workflow(tmp_path / name, (*WORKFLOW_FILES, *extra))
        proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        jobs[name] = planned_jobs(proc)
    assert (tmp_path / "clone/figures/fig2_mlp_topology_digits.png").exists()
    assert {"base_lr_search", "true_max_lr", "train_nb201", "plot_lr_figure", "tables"} <= set(jobs["clone"])
    assert jobs["clone"] == jobs["bare"]


def test_touching_a_library_module_reruns_nothing(tiny_run: Path) -> None:
    (tiny_run / "src/archscale/plots.py").touch()
    assert planned_jobs(snakemake(tiny_run, "-n")) == {}


def test_editing_plots_reruns_only_figure_jobs(tiny_run: Path, tmp_path: Path) -> None:
    work = tmp_path / "edit"
    shutil.copytree(tiny_run, work, symlinks=True)
    with open(work / "src/archscale/plots.py", "a") as fh:
        fh.write("\n# an edit\n")
    jobs = planned_jobs(snakemake(work, "-n"))
    figure_jobs = {"plot_lr_figure", "plot_nb201", "plot_init_signal", "plot_evidence", "figures_readme", "all"}
    assert jobs and set(jobs) <= figure_jobs, jobs


def test_changing_the_criteria_reruns_only_aggregation_tables_and_plots(tiny_run: Path, tmp_path: Path) -> None:
    work = tmp_path / "criteria"
    shutil.copytree(tiny_run, work, symlinks=True)
    cfg = tiny_config()
    cfg["analysis"] = {"criteria": ["loss_ratio", "min_loss"], "speed_level": 0.4}
    (work / "config/tiny.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    jobs = planned_jobs(snakemake(work, "-n"))
    reading = {"aggregate_lr", "tables", "plot_lr_figure", "plot_evidence", "plot_nb201", "figures_readme", "all"}
    assert {"aggregate_lr", "tables", "plot_lr_figure"} <= set(jobs) <= reading, jobs
    # the bootstrap changes the intervals only: tables and plots, not aggregation
    cfg["analysis"] = {"n_boot": 500}
    (work / "config/tiny.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    jobs = planned_jobs(snakemake(work, "-n"))
    assert "tables" in jobs and not {"aggregate_lr", "true_max_lr", "base_lr_search"} & set(jobs), jobs


def test_changing_nb201_epochs_reruns_no_mlp_or_cnn_job(tiny_run: Path, tmp_path: Path) -> None:
    work = tmp_path / "cfg"
    shutil.copytree(tiny_run, work, symlinks=True)
    cfg = tiny_config()
    cfg["nb201"]["epochs"] = 2
    (work / "config/tiny.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    jobs = planned_jobs(snakemake(work, "-n"))
    assert "train_nb201" in jobs, jobs
    assert not {"true_max_lr", "scaled_lrs", "base_lr_search", "plot_lr_figure", "aggregate_lr"} & set(jobs), jobs


def test_changing_one_lr_experiment_leaves_the_other(tiny_run: Path, tmp_path: Path) -> None:
    work = tmp_path / "exp"
    shutil.copytree(tiny_run, work, symlinks=True)
    cfg = tiny_config()
    cfg["lr_experiments"]["fig3_cnn_topology"]["archs"] = ["2_02_002", "1_12_112"]
    (work / "config/tiny.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    jobs = planned_jobs(snakemake(work, "-n"))
    # only the shard holding the changed architecture re-runs, at each of the 2 kernel sizes;
    # fig. 2's grid searches and every NB201 job are untouched
    assert jobs.get("true_max_lr") == 2 and jobs.get("scaled_lrs") == 2, jobs
    assert jobs.get("plot_lr_figure") == 1 and "train_nb201" not in jobs, jobs


def test_html_report_contains_every_figure_and_table(tiny_run: Path) -> None:
    snakemake(tiny_run, "--report", "report.html")
    html = (tiny_run / "report.html").read_text(errors="replace")
    for rel in expected_outputs():
        if rel.endswith(".pdf") or (rel.startswith("figures/table_") and rel.endswith(".csv")):
            assert Path(rel).name in html, f"{rel} missing from the report"
    assert "fig_init_signal.pdf" in html and "Learning rates" in html and "NAS-Bench-201" in html


def test_figures_readme_lists_every_figure_with_numbers(tiny_run: Path) -> None:
    text = (tiny_run / "figures/README.md").read_text()
    for rel in expected_outputs():
        if rel.endswith(".png"):
            assert f"]({Path(rel).name})" in text, rel
    assert "Pearson r =" in text and "(paper 0.838)" in text
    assert re.search(r"Pearson r = -?\d\.\d\d \[-?\d\.\d\d, -?\d\.\d\d\] \(paper 0\.838\), n = \d+ architectures", text)


THROWAWAY_SPEC = '''
FIGURES = (*FIGURES, FigureSpec(
    name="fig_throwaway", kind="nb201", title="A throwaway figure", caption="Mean accuracy per recipe.",
    plot="fig_throwaway", summary="mup_summary", table="table_nb201",
))
BY_NAME = {f.name: f for f in FIGURES}
'''
THROWAWAY_PLOT = '''

def fig_throwaway(tables, *, title=""):
    fig, ax = plt.subplots()
    for dataset, table in tables.items():
        means = table.groupby("recipe")["test_acc"].mean()
        ax.bar([f"{dataset} {r}" for r in means.index], means.to_numpy())
    fig.suptitle(title)
    return fig
'''


def test_adding_a_figure_is_one_registry_entry_and_one_plot_function(tiny_run: Path, tmp_path: Path) -> None:
    """The README's "Adding a figure" steps, followed literally on a copy of a complete run."""
    work = tmp_path / "fig"
    shutil.copytree(tiny_run, work, symlinks=True)
    registry = work / "src/archscale/figures.py"
    text = registry.read_text()
    anchor = "\n#: The workflow's tables"
    registry.write_text(text.replace(anchor, THROWAWAY_SPEC + anchor, 1))
    with open(work / "src/archscale/plots.py", "a") as fh:
        fh.write(THROWAWAY_PLOT)
    jobs = planned_jobs(snakemake(work, "-n"))
    # the new figure, figures/README.md (it lists it) and the figures whose code changed
    assert jobs.get("plot_nb201", 0) >= 1 and "figures_readme" in jobs, jobs
    # (tables do re-run: analysis reads the registry's figure names and paper numbers, as the
    # README's rerun table says for figures.py)
    assert not {"base_lr_search", "true_max_lr", "train_nb201", "aggregate_lr", "aggregate_nb201"} & set(jobs)
    snakemake(work)
    assert (work / "figures/fig_throwaway.png").read_bytes()[:4] == b"\x89PNG"
    readme = (work / "figures/README.md").read_text()
    assert "## fig_throwaway" in readme and "Mean accuracy per recipe." in readme


def test_mup_on_a_sample_of_cells_retrains_only_mup(tiny_run: Path, tmp_path: Path) -> None:
    """nb201.mup_cells: fig. 8's μP runs on a seeded sample; the other recipes keep every cell."""
    work = tmp_path / "mup"
    shutil.copytree(tiny_run, work, symlinks=True)
    cfg = tiny_config()
    cfg["nb201"]["mup_cells"] = 2
    (work / "config/tiny.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    proc = snakemake(work, "-n")
    jobs = planned_jobs(proc)
    # 4 cells in shards of 2: the 2-cell sample is one shard, which differs from the old shard 0
    assert jobs.get("train_nb201") == 1 and "/mup/shard0.csv" in proc.stdout, jobs


def test_plan_estimates_the_runs_job_time(tiny_run: Path) -> None:
    """archscale plan's total for config/tiny.yaml against what the run's jobs took: the sum
    of their benchmark TSVs' wall seconds ``s``. On a machine busy with other work a job's wall
    time is mostly waiting for a core (the plan counts CPU seconds on CPU, which that load does
    not inflate), so when the jobs got less than 70% of a core on average their ``cpu_time`` is
    compared instead."""
    from archscale.plan import make_plan

    tsvs = [pd.read_csv(p, sep="\t") for p in sorted(tiny_run.glob("benchmarks/**/*.tsv"))]
    wall = sum(float(t["s"].iloc[-1]) for t in tsvs)
    cpu = sum(float(t["cpu_time"].iloc[-1]) for t in tsvs)
    plan = make_plan(tiny_run, [tiny_run / "config" / "tiny.yaml"])
    assert len(tsvs) == len(plan.jobs) - 1  # every job but `all` has a benchmark
    measured, what = (wall, "s") if cpu >= 0.7 * wall else (cpu, "cpu_time")
    ratio = measured / plan.total_seconds
    print(f"plan {plan.total_seconds:.0f} s; run: s {wall:.0f}, cpu_time {cpu:.0f}; ratio ({what}) {ratio:.2f}")
    assert 0.4 <= ratio <= 2.5, (what, measured, plan.total_seconds)


def test_training_jobs_ask_for_the_time_their_work_needs(tiny_run: Path, tmp_path: Path) -> None:
    """walltime: a job's SLURM time limit is ceil(trainings / concurrent) x epochs x
    train_epoch_s x margin (training) or sweeps x grid_sweep_s x margin (grids), in minutes."""
    work = tmp_path / "wall"
    shutil.copytree(tiny_run, work, symlinks=True)
    cfg = tiny_config()
    cfg["walltime"] = {"train_epoch_s": 600, "grid_sweep_s": 300, "margin": 2}
    (work / "config/tiny.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    proc = snakemake(work, "-n", "--forceall")
    out = proc.stdout + proc.stderr
    blocks = re.split(r"\n\s*rule ", out)  # grid jobs are printed indented, inside their group
    train = next(b for b in blocks if b.startswith("train_nb201:"))
    grid = next(b for b in blocks if b.startswith("true_max_lr:") and "fig5_mlp_depth" in b)
    # tiny: 2 cells x 2 seeds, one at a time, 1 epoch: 4 x 600 s x 2 = 80 min
    assert re.search(r"runtime=80\b", train), train
    # fig. 5's tiny shard: 3 chains x 2 seeds sweeps: 6 x 300 s x 2 = 60 min
    assert re.search(r"runtime=60\b", grid), grid
