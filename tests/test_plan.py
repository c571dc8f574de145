"""archscale plan: Snakemake's own job list with each job's work and estimated device-seconds.

The job counts are checked against a separate Snakemake dry run; the work (trainings, steps)
against the configs; the estimate's accuracy against a real run in tests/test_workflow.py."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from archscale.cli import main as cli_main
from archscale.plan import make_plan

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def snakemake_counts(*configfiles: str) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a plain dry run of the whole workflow."""
    cmd = [sys.executable, "-m", "snakemake", "-n", "--forceall", "--cores", "2", "--quiet", "rules"]
    cmd += ["--configfile", *configfiles] if configfiles else []
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True)
    table = (proc.stdout + proc.stderr).split("Job stats:")[1]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m[1] != "total"}


@pytest.fixture(scope="module")
def tiny():
    return make_plan(REPO, [REPO / "config" / "tiny.yaml"])


@pytest.mark.parametrize("configfiles", [[], ["config/tiny.yaml"]], ids=["config", "tiny"])
def test_job_counts_are_snakemakes(tiny, configfiles):
    plan = tiny if configfiles else make_plan(REPO, [])
    counts = {rule: int(r["jobs"]) for rule, r in plan.by_rule().items()}
    assert counts == snakemake_counts(*configfiles)
    assert len(plan.jobs) == sum(counts.values())


def test_work_follows_the_config(tiny):
    rules = tiny.by_rule()
    # tiny: 4 cells x 2 seeds x 5 recipes (the default's, with both ablations), 1 epoch of
    # 1347 // 128 steps on digits
    assert rules["train_nb201"]["trainings"] == 4 * 2 * 5
    assert rules["train_nb201"]["steps"] == 40 * (1347 // 128)
    # the grid 2^-6 .. 2^2 in octaves: 9 rates; every target at every seed, one epoch at batch 64
    k, steps = 9, 1347 // 64
    # per experiment, x 2 kernel sizes for figs. 3 and 11; figs. 10's two residual experiments
    targets = 4 + 2 * 2 + 3 + 2 + 3 + 2 + 3 + 2 + 3 + 3 + 3 * 2
    assert rules["true_max_lr"]["trainings"] == 2 * targets * k
    assert rules["true_max_lr"]["steps"] == 2 * targets * steps
    for rule in ("true_max_lr", "base_lr_search", "train_nb201"):
        assert rules[rule]["seconds"] > 0 and rules[rule]["peak"] > 0, rule
    assert rules["all"]["seconds"] == 0  # no script, no job to run
    assert all(j.seconds > 0 for j in tiny.jobs if j.rule != "all")


def test_concurrent_trainings_share_the_job(tiny, tmp_path):
    conc = tmp_path / "concurrent.yaml"
    conc.write_text("nb201: {concurrent: 2}\n")
    plan = make_plan(REPO, [REPO / "config" / "tiny.yaml", conc])  # the same shapes: no new calibration
    one, two = tiny.by_rule()["train_nb201"], plan.by_rule()["train_nb201"]
    assert two["trainings"] == one["trainings"] and two["steps"] == one["steps"]
    assert two["peak"] == 2 * one["peak"]  # two trainings, each with its model and dataset

    def train_jobs(p):
        return sorted((j for j in p.jobs if j.rule == "train_nb201"), key=lambda j: sorted(j.wildcards.items()))

    pairs = zip(train_jobs(tiny), train_jobs(plan), strict=True)
    for a, b in pairs:  # 4 trainings per job, 2 at a time: half the time, after twice the start-up
        assert b.wildcards == a.wildcards and b.startup == 2 * a.startup
        assert b.seconds - b.startup == pytest.approx((a.seconds - a.startup) / 2, rel=1e-9)
    others = {r: v["seconds"] for r, v in plan.by_rule().items() if r != "train_nb201"}
    assert others == pytest.approx({r: v["seconds"] for r, v in tiny.by_rule().items() if r != "train_nb201"})


def test_cli_prints_every_rule_then_the_total(tiny, capsys):
    assert cli_main(["plan", "--directory", str(REPO), "--configfile", str(REPO / "config" / "tiny.yaml")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    for rule in tiny.by_rule():
        assert any(line.split()[:1] == [rule] for line in out), rule
    assert re.fullmatch(rf"total \d+ device-seconds \({len(tiny.jobs)} jobs\)", out[-1]), out[-1]
    assert int(out[-1].split()[1]) == round(tiny.total_seconds)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--configfile", "no/such.yaml"], "config file"),
        (["--directory", "/"], "no Snakefile"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(argv, needle, capsys):
    assert cli_main(["plan", "--directory", str(REPO), *argv]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("archscale: error: ") and needle in lines[0]


def test_cli_bad_config_value_names_the_key(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("lr_search: {chunk: 0}\n")
    assert cli_main(["plan", "--directory", str(REPO), "--configfile", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("archscale: error: config key lr_search.chunk") and len(err.splitlines()) == 1


def test_bill_per_figure_adds_up_to_the_total(tiny):
    per_fig = tiny.by_figure()
    assert sum(r["jobs"] for r in per_fig.values()) == len(tiny.jobs)
    assert sum(r["seconds"] for r in per_fig.values()) == pytest.approx(tiny.total_seconds)
    assert {"fig2_mlp_topology", "fig3_cnn_topology", "bases (shared)", "fig_init_signal"} <= set(per_fig)
    nb201 = next(k for k in per_fig if k.startswith("fig4_nb201"))
    assert per_fig[nb201]["seconds"] == pytest.approx(
        sum(j.seconds for j in tiny.jobs if j.rule in ("train_nb201", "aggregate_nb201"))
    )
