"""SLURM: the shipped profile (profiles/slurm) on a real single-node SLURM cluster.

A session fixture runs tests/slurm/start_cluster.sh (installs Debian's SLURM 22.05 + munge
when missing, starts munged, slurmctld and slurmd, two fake GPUs as GRES) and, at the end,
stop_cluster.sh, which stops exactly those daemons by PID. Everything is skipped, with the
reason, where that cannot work: not root, no apt and no SLURM, ports 6817/6818 taken, a
foreign /etc/slurm/slurm.conf, ... or ARCHSCALE_SKIP_SLURM=1 is set.

The workflow runs in a copy of the repository with config/tiny.yaml + tests/slurm/small.yaml
(tiny's DAG, every rule and output, with less work per job and gpus_per_job: 1) through
`--profile profiles/slurm --profile profiles/slurm-test`: the shipped profile, then the test
cluster's settings (tests/slurm/profile: squeue status, 2 s status checks, partition
"debug") on top; profiles/default is loaded last, as for any user.

Each snakemake runs under `timeout` in its own process group: a hang fails the test instead
of the suite, and whatever SLURM jobs are left are cancelled after every test.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from workflow_copy import copy_workflow

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
STATE = Path(os.environ.get("ARCHSCALE_SLURM_STATE", "/tmp/archscale-slurm"))
PARTITION = "debug"  # start_cluster.sh's only partition
ACCOUNT = "archscale-test"  # any string works without slurmdbd accounting
TEST_PROFILE = "profiles/slurm-test"
CONFIGS = ("config/tiny.yaml", "slurm-small.yaml")
RUN_TIMEOUT = 900  # one snakemake call; a healthy one takes 0.5-4 min
TIMED_OUT = (124, 137)  # timeout(1): TERM, then KILL

# start_cluster.sh exit codes that mean "this machine cannot host the test cluster"
SKIP_CODES = {2: "not root", 3: "ports busy", 4: "already running", 5: "foreign slurm.conf", 6: "cannot install"}

pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.xdist_group("slurm")]


# ---------------------------------------------------------------------------------------------
# The cluster
# ---------------------------------------------------------------------------------------------


def cannot_run_reason() -> str | None:
    if os.environ.get("ARCHSCALE_SKIP_SLURM"):
        return "ARCHSCALE_SKIP_SLURM is set"
    if not sys.platform.startswith("linux"):
        return "the test cluster needs Linux"
    if os.geteuid() != 0:
        return "the test cluster needs root (apt-get, /etc/slurm, daemons): run as root to include it"
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return "snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')"
    if not shutil.which("sbatch") and not shutil.which("apt-get"):
        return "SLURM is not installed and there is no apt-get to install it"
    return None


def clean_env() -> dict[str, str]:
    """This environment minus anything that would point SLURM or Snakemake elsewhere."""
    drop = ("SLURM_", "SBATCH_", "SRUN_", "SQUEUE_", "SALLOC_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.pop("SNAKEMAKE_PROFILE", None)
    return env


@pytest.fixture(scope="session")
def cluster():
    reason = cannot_run_reason()
    if reason:
        pytest.skip(reason)
    started = time.monotonic()
    proc = subprocess.run(
        [str(HERE / "start_cluster.sh"), str(STATE)], capture_output=True, text=True, timeout=1200, env=clean_env()
    )
    if proc.returncode in SKIP_CODES:
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else SKIP_CODES[proc.returncode]
        pytest.skip(f"no SLURM test cluster ({SKIP_CODES[proc.returncode]}): {last}")
    if proc.returncode != 0:
        pytest.fail(f"start_cluster.sh failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    print(f"\nSLURM test cluster up in {time.monotonic() - started:.0f} s")
    try:
        yield STATE
    finally:
        subprocess.run([str(HERE / "stop_cluster.sh"), str(STATE)], timeout=300, env=clean_env())


def queue(states: str = "PENDING,RUNNING,COMPLETING") -> list[str]:
    out = subprocess.run(["squeue", "-h", "-t", states, "-o", "%i"], capture_output=True, text=True, env=clean_env())
    return out.stdout.split()


def cancel_everything() -> None:
    """Cancel every queued or running job of the test cluster (all of them are ours)."""
    if queue():
        subprocess.run(["scancel", "--full", "--state=PENDING"], env=clean_env())
        subprocess.run(["scancel", "--full", "--state=RUNNING"], env=clean_env())
        deadline = time.monotonic() + 60
        while queue() and time.monotonic() < deadline:
            time.sleep(1)


@pytest.fixture(autouse=True)
def no_jobs_left_behind(cluster):
    yield
    cancel_everything()


def scontrol(jobid: str) -> dict[str, str]:
    out = subprocess.run(["scontrol", "-o", "show", "job", jobid], capture_output=True, text=True, env=clean_env())
    assert out.returncode == 0, f"scontrol show job {jobid}: {out.stderr}"
    return dict(re.findall(r"(\S+?)=(\S*)", out.stdout))


# ---------------------------------------------------------------------------------------------
# The workflow copy and Snakemake
# ---------------------------------------------------------------------------------------------


def write_test_profile(work: Path) -> None:
    """profiles/slurm-test = tests/slurm/profile + the shipped default-resources with the test
    cluster's partition and account (a later profile replaces a whole top-level key)."""
    shipped = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    profile = yaml.safe_load((HERE / "profile/config.yaml").read_text())
    resources = dict(shipped.get("default-resources") or {})
    resources.update(slurm_partition=PARTITION, slurm_account=ACCOUNT)
    profile["default-resources"] = resources
    (work / TEST_PROFILE).mkdir(parents=True, exist_ok=True)
    (work / TEST_PROFILE / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))


def copy_repo(dest: Path) -> Path:
    copy_workflow(dest)
    shutil.copy2(HERE / "small.yaml", dest / "slurm-small.yaml")
    write_test_profile(dest)
    return dest


def smk_cmd(*args: str, targets=(), profiles=("profiles/slurm", TEST_PROFILE), timeout: int = RUN_TIMEOUT) -> list[str]:
    cmd = ["timeout", "-k", "30", str(timeout), SNAKEMAKE, *map(str, targets)]
    for p in profiles:
        flag, _, value = p.partition(" ") if p.startswith("--") else ("--profile", "", p)
        cmd += [flag, value]
    return cmd + ["--configfile", *CONFIGS, *args]


class Run:
    """One snakemake in its own process group (so that a kill reaches its children too);
    stdout+stderr go to a file in the work folder."""

    count = 0

    def __init__(self, work: Path, cmd: list[str]):
        Run.count += 1
        self.work, self.cmd = work, cmd
        self.log = work / f"snakemake-{Run.count}.out"
        self._fh = open(self.log, "w")  # noqa: SIM115 (closed by wait/kill)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            cmd, cwd=work, stdout=self._fh, stderr=subprocess.STDOUT, env=clean_env(), start_new_session=True
        )

    def wait(self, timeout: float = RUN_TIMEOUT + 60) -> int:
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"snakemake still running after {timeout} s:\n{self.tail()}") from None
        self.seconds = time.monotonic() - self.started
        self._fh.close()
        return rc

    def kill(self) -> None:
        """SIGKILL to the whole group: Snakemake gets no chance to clean up (an outage)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)
        self._fh.close()

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def tail(self, n: int = 6000) -> str:
        return f"$ {shlex.join(self.cmd)}\n...{self.output[-n:]}"


def run(work: Path, *args: str, check: bool = True, **kw) -> Run:
    r = Run(work, smk_cmd(*args, **kw))
    rc = r.wait()
    r.rc = rc
    assert rc not in TIMED_OUT, f"snakemake timed out:\n{r.tail()}"
    if check:
        assert rc == 0, f"snakemake failed ({rc}):\n{r.tail()}"
    return r


SUBMITTED = re.compile(r"Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")


def submissions(text: str) -> list[tuple[str, str, str]]:
    """(snakemake job id, SLURM job id, SLURM log path) of every sbatch."""
    return SUBMITTED.findall(text)


def log_kind(slurm_log: str) -> str:
    """'rule_train_nb201' or 'group_lr_grid_<rules>': the plugin's log folder under slurm_logs."""
    return Path(slurm_log).as_posix().split("/slurm_logs/")[1].split("/")[0]


def rule_resources(text: str) -> dict[str, dict[str, int]]:
    """Rule -> its integer resources, from the job blocks Snakemake prints."""
    out, rule = {}, None
    for line in text.splitlines():
        m = re.match(r"^\s*(?:local)?rule (\w+):$", line)
        if m:
            rule = m.group(1)
            continue
        m = re.match(r"^\s*resources: (.*)$", line)
        if m and rule:
            out[rule] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)(?:,|$)", m.group(1))}
            rule = None
    return out


def sbatch_calls(text: str) -> list[str]:
    return re.findall(r"sbatch call: (sbatch .*)", text)


def option(call: str, pattern: str) -> int | None:
    m = re.search(pattern, call)
    return int(m.group(1)) if m else None


def wait_for_running_job(seconds: float, run_: Run, timeout: float = 600) -> str:
    """A SLURM job that has been RUNNING for `seconds` (by our clock): mid-run, not starting."""
    seen: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert run_.proc.poll() is None, f"snakemake ended before a job ran:\n{run_.tail()}"
        now = time.monotonic()
        for jid in queue("RUNNING"):
            seen.setdefault(jid, now)
            if now - seen[jid] >= seconds:
                return jid
        time.sleep(0.5)
    raise AssertionError(f"no SLURM job ran for {seconds} s within {timeout} s:\n{run_.tail()}")


TIMING = re.compile(r"seconds|wall_time|elapsed|duration")


def assert_same_tables(a: Path, b: Path) -> None:
    """Identical results: every column equal, exactly, except wall-clock timings."""
    if a.read_bytes() == b.read_bytes():
        return
    da, db = pd.read_csv(a), pd.read_csv(b)
    assert list(da.columns) == list(db.columns), (a, list(da.columns), list(db.columns))
    keep = [c for c in da.columns if not TIMING.search(c)]
    pd.testing.assert_frame_equal(da[keep], db[keep], check_exact=True, obj=str(a))


# ---------------------------------------------------------------------------------------------
# 1. the tiny chain under SLURM through the shipped profile
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory) -> tuple[Path, Run]:
    work = copy_repo(tmp_path_factory.mktemp("slurm_wf"))
    r = run(work, "--verbose")
    print(f"\nthe tiny chain under SLURM: {r.seconds:.0f} s")
    return work, r


def test_whole_chain_runs_under_slurm(slurm_run) -> None:
    work, r = slurm_run
    text = r.output
    assert "Using profiles profiles/slurm and profiles/slurm-test and workflow specific profile" in text
    assert re.search(r"(\d+) of \1 steps \(100%\) done", text), r.tail()

    # every output of the DAG exists and is up to date
    summary = subprocess.run(
        smk_cmd("--summary", timeout=300), cwd=work, capture_output=True, text=True, env=clean_env()
    )
    assert summary.returncode == 0, summary.stderr[-3000:]
    rows = [line.split("\t") for line in summary.stdout.strip().splitlines()[1:]]
    assert len(rows) > 20, summary.stdout
    for output, _date, rule, _log, status, plan in rows:
        assert status == "ok" and plan == "no update", (output, rule, status, plan)
        assert (work / output).exists() and (work / output).stat().st_size > 0, output
    assert list((work / "figures").glob("*.pdf")), "no figure"

    # the compute jobs ran as SLURM jobs: submitted, COMPLETED, their logs kept
    subs = submissions(text)
    assert subs, r.tail()
    for _, jid, slurm_log in subs:
        assert scontrol(jid)["JobState"] == "COMPLETED", jid
        assert Path(slurm_log).is_file(), slurm_log
    kinds = {log_kind(log) for _, _, log in subs}
    assert "rule_train_nb201" in kinds, kinds


def test_grid_searches_are_grouped_and_sized_for_serial_members(slurm_run) -> None:
    """group lr_grid: many grid-search jobs per sbatch job; the plugin runs a group's members
    one after another, so the request must be 1 job's CPUs/GPUs/memory and the sum of their
    runtimes (profiles/slurm's serial_slot), not N GPUs for the runtime of one."""
    _, r = slurm_run
    text = r.output
    resources = rule_resources(text)
    groups = [c for c in sbatch_calls(text) if "/slurm_logs/group_lr_grid" in c]
    assert groups, "no lr_grid group job was submitted"
    group_components = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())["group-components"]["lr_grid"]
    n_members = []
    for call in groups:
        members = re.findall(r"'(\w+):", call.split("--target-jobs", 1)[1].split("--allowed-rules", 1)[0])
        assert members and set(members) <= {"base_lr_search", "true_max_lr"}, members
        n_members.append(len(members))
        assert len(members) <= group_components
        assert option(call, r"--cpus-per-task=(\d+)") == 1, call
        assert option(call, r"--gpus=(\d+)") == 1, call
        assert option(call, r" -t (\d+)") == sum(resources[m]["runtime"] for m in members), call
        assert option(call, r"--mem (\d+)") == max(resources[m]["mem_mb"] for m in members), call
    assert max(n_members) > 1, n_members


def test_training_job_gets_a_gpu_and_runs(slurm_run) -> None:
    """gpus_per_job: 1 -> resources gpu=1 -> sbatch --gpus=1; the node's fake GPUs (GRES) let
    SLURM schedule it, and the job runs on the CPU (no CUDA here)."""
    work, r = slurm_run
    train = [(jid, log) for _, jid, log in submissions(r.output) if log_kind(log) == "rule_train_nb201"]
    assert train
    for jid, _ in train:
        job = scontrol(jid)
        assert job["JobState"] == "COMPLETED"
        assert "gpu:1" in job.get("TresPerJob", ""), job
    for call in sbatch_calls(r.output):
        if "/slurm_logs/rule_train_nb201/" in call:
            assert "--gpus=1" in call, call
    assert list((work / "results/nb201").rglob("*.csv"))


def test_more_gpus_than_the_cluster_has_fail_cleanly(slurm_run, tmp_path) -> None:
    """sbatch rejects --gpus=3 on a 2-GPU node at once: reported, no hang, no job queued."""
    base, _ = slurm_run
    work = tmp_path / "gpu3"
    shutil.copytree(base, work, symlinks=True)
    r = run(work, "--forcerun", "train_nb201", "--until", "train_nb201", "--config", "gpus_per_job=3", check=False)
    assert r.rc not in (0, *TIMED_OUT), r.tail()
    assert "Requested node configuration is not available" in r.output, r.tail()
    assert "--gpus=3" in r.output
    assert not queue()


# ---------------------------------------------------------------------------------------------
# 3. faults: a cancelled job, an outage, a failing job
# ---------------------------------------------------------------------------------------------


def test_cancelled_job_and_outage_then_rerun_gives_identical_results(slurm_run, tmp_path) -> None:
    base, _ = slurm_run
    tables = sorted(p.relative_to(base) for p in (base / "results/tables").glob("lr_*.csv"))
    first, second = tables[0], tables[1]  # two lr experiments: each needs its own grid searches
    work = copy_repo(tmp_path / "wf")

    # (a) scancel mid-run: Snakemake reports the job failed (retries off, to see it) and stops
    r = Run(work, smk_cmd("--retries", "0", targets=[first]))
    jid = wait_for_running_job(4, r)
    subprocess.run(["scancel", jid], check=True, env=clean_env())
    rc = r.wait()
    assert rc not in (0, *TIMED_OUT), r.tail()
    assert scontrol(jid)["JobState"] == "CANCELLED"
    # a group job's error names the group, its SLURM log and each member's log
    assert re.search(r"Error in (group|rule) \w+", r.output), r.tail()
    assert re.search(rf"log: .*/slurm_logs/\S+/{jid}\.log", r.output), r.tail()

    # (a') the same command again, cancelled again: the profile's retries resubmit the job
    r = Run(work, smk_cmd(targets=[first]))
    jid = wait_for_running_job(4, r)
    subprocess.run(["scancel", jid], check=True, env=clean_env())
    assert r.wait() == 0, r.tail()
    assert scontrol(jid)["JobState"] == "CANCELLED"
    restarted = re.findall(r"Trying to restart job (\S+)\.", r.output)
    assert restarted, r.tail()
    resubmitted = [job for job, _, _ in submissions(r.output)]
    assert all(resubmitted.count(job) == 2 for job in restarted), resubmitted

    # (b) an outage: Snakemake dies mid-run (SIGKILL, no clean-up) and its job is lost
    r = Run(work, smk_cmd(targets=[second]))
    jid = wait_for_running_job(4, r)
    r.kill()
    subprocess.run(["scancel", jid], check=True, env=clean_env())
    locked = run(work, targets=[second], check=False)
    assert locked.rc != 0 and "LockException" in locked.output, locked.tail()

    # (c) resume: unlock, then the same command; rerun-incomplete (profile) redoes what was cut off
    run(work, "--unlock")
    r = run(work, targets=[second])
    assert submissions(r.output), r.tail()

    # results equal those of the undisturbed run
    produced = sorted(p.relative_to(work) for p in (work / "results").rglob("*.csv"))
    assert first in produced and second in produced
    for rel in produced:
        assert_same_tables(work / rel, base / rel)


def test_failing_job_is_reported_with_its_log_and_retried(slurm_run, tmp_path) -> None:
    """A training job whose input is broken fails under SLURM: Snakemake resubmits it as often
    as its retries say, then reports it with the rule's log and the SLURM log and exits
    non-zero, without hanging."""
    base, _ = slurm_run
    work = tmp_path / "broken"
    shutil.copytree(base, work, symlinks=True)
    for table in (work / "results/base_lr").rglob("*.csv"):
        table.write_text("this is not a table\n")
    r = run(work, "--until", "train_nb201", check=False)
    assert r.rc not in (0, *TIMED_OUT), r.tail()
    subs = submissions(r.output)
    assert subs, r.tail()
    attempts: dict[str, int] = {}
    for job, _jid, log in subs:
        assert log_kind(log) == "rule_train_nb201", log
        attempts[job] = attempts.get(job, 0) + 1
    # every retry Snakemake announces is a new sbatch that fails again (train_nb201 sets its
    # own `retries:` from nb201.oom_retries, which beats the profile's retries: 2)
    for job, n in attempts.items():
        assert n == 1 + r.output.count(f"Trying to restart job {job}."), (job, n)
    failed = re.findall(r"SLURM-job '(\d+)' failed, SLURM status is: '(\w+)'", r.output)
    assert failed and {s for _, s in failed} == {"FAILED"}, r.tail()
    # each failure names the rule's log (the script's traceback) and the job's SLURM log
    reported = re.findall(r"^\s*log: ([^\s,]+), (\S+/slurm_logs/\S+\.log) \(check log", r.output, flags=re.M)
    assert len(reported) == len(subs), r.tail()
    for rule_log, slurm_log in reported:
        assert "Traceback" in (work / rule_log).read_text(), rule_log
        assert Path(slurm_log).is_file(), slurm_log


# ---------------------------------------------------------------------------------------------
# 4. the shipped placeholders
# ---------------------------------------------------------------------------------------------


def test_shipped_placeholders_fail_clearly(tmp_path) -> None:
    """profiles/slurm unedited: every sbatch names the placeholder partition and is refused at
    once; Snakemake says so and exits instead of waiting. (test_profiles.py dry-runs the
    `--workflow-profile profiles/slurm` form.)"""
    work = copy_repo(tmp_path / "wf")
    # (after its last failure Snakemake exits only at its next status check: 40 s by default)
    quick = ("--slurm-init-seconds-before-status-checks", "2")
    r = run(work, *quick, profiles=("profiles/slurm",), check=False, timeout=300)
    assert r.rc not in (0, *TIMED_OUT), r.tail()
    assert "invalid partition specified: <your-partition>" in r.output, r.tail()
    assert not queue()
