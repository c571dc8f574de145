"""profiles/default and profiles/slurm: what they promise, checked without a cluster.

Snakemake loads profiles/default (the workflow profile) on top of `--profile profiles/slurm`
and it wins key by key, so the two must agree on every key they share (but `cores`), and
profiles/default must leave the SLURM-only keys alone. Dry runs check that Snakemake 9 and
the SLURM plugin accept both profiles in each documented invocation. No SLURM needed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from workflow_copy import copy_workflow

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def profile(name: str) -> dict:
    return yaml.safe_load((REPO / "profiles" / name / "config.yaml").read_text())


def test_slurm_profile_settings() -> None:
    p = profile("slurm")
    assert p["executor"] == "slurm"
    assert 50 <= p["jobs"] <= 500
    res = p["default-resources"]
    # documented placeholders: sbatch refuses the partition at once, so nothing runs by accident
    assert res["slurm_partition"].startswith("<") and res["slurm_account"].startswith("<")
    assert isinstance(res["runtime"], int) and isinstance(res["mem_mb"], int)
    # group jobs run their members one after another: ask for one member's CPUs/GPUs and the
    # sum of their runtimes (tests/slurm/test_slurm.py checks the resulting sbatch calls)
    assert res["serial_slot"] == 1 and p["resources"] == {"serial_slot": 1}
    assert p["set-resource-scopes"] == {"serial_slot": "local"}
    assert p["group-components"]["lr_grid"] >= 2
    assert p["retries"] == 2 and p["latency-wait"] == 60
    assert p["rerun-incomplete"] is True and p["scheduler"] == "greedy" and p["printshellcmds"] is True
    # sacct (the plugin's default) stays the status command on real clusters
    assert "slurm-status-command" not in p


def test_default_profile_does_not_undo_the_slurm_profile() -> None:
    default, slurm = profile("default"), profile("slurm")
    assert default["cores"] == "all" and default["scheduler"] == "greedy" and default["rerun-incomplete"] is True
    slurm_only = {"executor", "jobs", "default-resources", "resources", "set-resource-scopes", "group-components",
                  "groups", "set-resources", "retries", "latency-wait"}  # fmt: skip
    assert not slurm_only & set(default), slurm_only & set(default)
    for key in set(default) & set(slurm):
        assert default[key] == slurm[key], key


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("profiles_wf"))


# fmt: off
@pytest.mark.parametrize(
    "args, using",
    [
        ([], "Using workflow specific profile profiles/default"),
        (["--profile", "profiles/slurm"], "Using profiles profiles/slurm and workflow specific profile"),
        (["--workflow-profile", "profiles/slurm"], "Using workflow specific profile profiles/slurm"),
    ],
    ids=["local", "profile", "workflow-profile"],
)
# fmt: on
def test_profiles_load_in_a_dry_run(work: Path, args: list[str], using: str) -> None:
    cmd = [SNAKEMAKE, "-n", *args, "--configfile", "config/tiny.yaml"]
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=300)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 0, text[-4000:]
    assert using in text, text[:2000]
    if args:
        assert "slurm_partition=<your-partition>" in text and "serial_slot=1" in text, text[-4000:]
