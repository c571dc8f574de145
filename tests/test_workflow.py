"""End-to-end: the real Snakemake workflow on config/tiny.yaml, in a copy of the repository.

One session-scoped run produces every output; the other tests read it, or dry-run edits of
it (a config value, a library module) and parse which jobs Snakemake would re-run.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from workflow_copy import copy_workflow

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))

pytestmark = pytest.mark.slow


def snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess:
    cmd = [SNAKEMAKE, "--cores", "2", "--configfile", "config/tiny.yaml", "--workflow-profile", "none", *args]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        tail = f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{tail}")
    return proc


def planned_jobs(proc: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a dry run."""
    text = proc.stdout + proc.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:")[1].split("Reasons:")[0] if "Job stats:" in text else ""
    jobs = {}
    for line in table.splitlines():
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if m and m.group(1) != "total":
            jobs[m.group(1)] = int(m.group(2))
    return jobs


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    work = copy_workflow(tmp_path_factory.mktemp("wf"))
    snakemake(work)
    return work


def tiny_config() -> dict:
    return yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())


def expected_outputs() -> list[str]:
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    tiny = tiny_config()
    exps = {exp: {**e, **tiny["lr_experiments"].get(exp, {})} for exp, e in cfg["lr_experiments"].items()}
    out = []
    figs = {(e.get("figure", exp), ds) for exp, e in exps.items() for ds in e["datasets"]}
    for fig, ds in sorted(figs):
        out += [f"figures/{fig}_{ds}.pdf", f"figures/{fig}_{ds}.png"]
    for fig in ("fig4_nb201", "fig8_mup_nb201", "fig9_kendall_seeds", "fig_init_signal"):
        out += [f"figures/{fig}.pdf", f"figures/{fig}.png"]
    out.append("figures/README.md")
    for t in ("table_lr_correlation", "table_nb201", "table_nb201_top"):
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
        "experiment", "figure", "dataset", "kernel_size", "n_archs", "n_seeds", "pearson_r", "spearman_rho",
        "median_abs_log2_ratio", "paper_r", "base_lr", "n",
    },
    "table_nb201": {
        "dataset", "recipe", "n_cells", "mean_acc", "median_acc", "mean_gain", "frac_improved", "kendall_tau",
        "spearman_rho", "top10_overlap",
    },
    "table_nb201_top": {"dataset", "comparison", "top_percent", "n", "kendall_tau"},
}  # fmt: skip


@pytest.mark.parametrize("table", sorted(TABLE_COLUMNS))
def test_tables_have_columns_and_finite_numbers(tiny_run: Path, table: str) -> None:
    df = pd.read_csv(tiny_run / "figures" / f"{table}.csv")
    assert TABLE_COLUMNS[table] <= set(df.columns)
    assert len(df) > 0
    key = {"table_lr_correlation": ["n", "base_lr"], "table_nb201": ["mean_acc"], "table_nb201_top": ["n"]}[table]
    for col in key:
        assert df[col].map(math.isfinite).all(), (table, col)


def test_lr_table_is_tidy_and_consistent(tiny_run: Path) -> None:
    df = pd.read_csv(tiny_run / "results/tables/lr_fig3_cnn_topology_digits.csv")
    tiny = tiny_config()
    exp = tiny["lr_experiments"]["fig3_cnn_topology"]
    assert set(df["kernel_size"]) == set(exp["kernel_sizes"])
    assert set(df["arch"]) == set(exp["archs"])
    assert set(df["seed"]) == set(tiny["seeds"])
    # eq. 9: at one architecture, predicted rates scale as 3 / q across kernel sizes
    for _, g in df.groupby("arch"):
        per_k = g.groupby("kernel_size")["predicted_lr"].first()
        assert per_k[5] / per_k[3] == pytest.approx(3 / 5, rel=1e-9)


def test_completed_run_has_nothing_to_do(tiny_run: Path) -> None:
    assert planned_jobs(snakemake(tiny_run, "-n")) == {}


def test_touching_a_library_module_reruns_nothing(tiny_run: Path) -> None:
    (tiny_run / "src/archscale/plots.py").touch()
    assert planned_jobs(snakemake(tiny_run, "-n")) == {}


def test_editing_plots_reruns_only_figure_jobs(tiny_run: Path, tmp_path: Path) -> None:
    work = tmp_path / "edit"
    shutil.copytree(tiny_run, work, symlinks=True)
    with open(work / "src/archscale/plots.py", "a") as fh:
        fh.write("\n# an edit\n")
    jobs = planned_jobs(snakemake(work, "-n"))
    assert jobs and set(jobs) <= {"plot_lr_figure", "plot_nb201", "plot_init_signal", "figures_readme", "all"}, jobs


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
