"""Group 6: every config problem stops the workflow before any job starts, with one line that
names the key path: ``config key <dotted.path>: <what is wrong>; <how to fix>``.

Each row is a YAML overlay on the small config (as a user's ``--configfile`` would be). It is
checked twice: in-process against archscale.config_check (the schema through
snakemake.utils.validate + format_schema_error, then check_config), and by a real
``snakemake -n`` in a copy of the repository (exit code, the line, no job ran)."""

from __future__ import annotations

import concurrent.futures
import subprocess
from pathlib import Path

import pytest
import yaml

from archscale.config_check import ConfigError, check_config, format_schema_error

from .helpers import REPO, copy_repo, deep_merge, faults_config, snakemake_cmd

EXP = "lr_experiments.fig2_mlp_topology"
NO_PATH_CELL = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|"

#: (id, YAML overlay, key path named, caught by: schema | check | today). ``today``: rules/common.smk
#: would stop these too, were check_config (which the Snakefile runs first) to miss them.
#: ``{tmp}``: a scratch folder.
CASES = [
    ("unknown-key", "sedes: [0, 1]", "sedes", "schema"),
    ("unknown-nested-key", "nb201: {epoch: 2}", "nb201.epoch", "schema"),
    ("wrong-type", "shard_size: two", "shard_size", "schema"),
    ("wrong-type-bool", "nb201: {augment: maybe}", "nb201.augment", "schema"),
    ("negative-epochs", "nb201: {epochs: -1}", "nb201.epochs", "schema"),
    ("zero-grid-epochs", "lr_search: {epochs: 0}", "lr_search.epochs", "schema"),
    ("empty-seed-list", "seeds: []", "seeds", "schema"),
    ("empty-arch-list", "lr_experiments: {fig2_mlp_topology: {archs: []}}", f"{EXP}.archs", "schema"),
    ("unknown-dataset", "nb201: {datasets: [mnist]}", "nb201.datasets[0]", "schema"),
    ("unknown-family", "lr_experiments: {fig2_mlp_topology: {family: rnn}}", f"{EXP}.family", "schema"),
    ("bad-experiment-name", "lr_experiments: {figure2: {family: mlp, datasets: [digits], width: 8}}",
     "lr_experiments.figure2", "schema"),
    ("unquoted-dag-code", "lr_experiments: {fig2_mlp_topology: {archs: [2_02_002]}}", f"{EXP}.archs[0]", "schema"),
    ("dag-code-bad-digit", "lr_experiments: {fig2_mlp_topology: {archs: ['3_02_002']}}", f"{EXP}.archs[0]", "schema"),
    ("dag-code-bad-groups", "lr_experiments: {fig2_mlp_topology: {archs: ['2_0_002']}}", f"{EXP}.archs[0]", "today"),
    ("dag-without-path", "lr_experiments: {fig2_mlp_topology: {archs: ['0_00_000']}}", f"{EXP}.archs[0]", "check"),
    ("too-many-archs", "lr_experiments: {fig2_mlp_topology: {n_archs: 100000}}", f"{EXP}.n_archs", "check"),
    ("bad-nb201-cell", "nb201: {cells: ['|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|']}", "nb201.cells[0]",
     "today"),
    ("nb201-cell-without-path", f"nb201: {{cells: ['{NO_PATH_CELL}']}}", "nb201.cells[0]", "today"),
    ("empty-lr-grid", "lr_search: {min_exp: 2, max_exp: -2}", "lr_search.max_exp", "check"),
    ("nats-path-not-a-benchmark", "nats_bench_path: '{tmp}/NATS-tss-v1_0-3ffb9-simple'", "nats_bench_path", "today"),
    ("nb201-batch-larger-than-split", "nb201: {batch_size: 100000}", "nb201.batch_size", "check"),
    ("grid-batch-larger-than-split", "lr_search: {batch_size: 5000}", "lr_search.batch_size", "check"),
    ("cifar-files-missing", "{nb201: {datasets: [cifar10]}, data_root: '{tmp}/data'}", "nb201.datasets[0]", "check"),
    ("cifar100-files-missing", "{lr_experiments: {fig2_mlp_topology: {datasets: [digits, cifar100]}}, "
     "data_root: '{tmp}/data'}", f"{EXP}.datasets[1]", "check"),
    ("imagenet16-missing-despite-download", "{nb201: {datasets: [imagenet16-120]}, download: true, "
     "data_root: '{tmp}/data'}", "nb201.datasets[0]", "check"),
]  # fmt: skip

def overlay(text: str, tmp: Path) -> dict:
    (tmp / "NATS-tss-v1_0-3ffb9-simple").mkdir(parents=True, exist_ok=True)  # a folder, but not the benchmark
    return yaml.safe_load(text.replace("{tmp}", str(tmp)))


def message(config: dict) -> tuple[str, str]:
    """(stage, one-line message) of the first problem of ``config``, as the Snakefile runs them."""
    from snakemake.utils import validate

    try:
        validate(config, str(REPO / "src" / "archscale" / "schema.yaml"))
    except Exception as err:  # noqa: BLE001 - WorkflowError carrying a jsonschema ValidationError
        return "schema", format_schema_error(err)
    try:
        check_config(config)
    except ConfigError as err:
        return "check", str(err)
    return "ok", ""


def test_the_small_config_passes():
    assert message(faults_config()) == ("ok", "")
    default = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for name in ("config.yaml", "tiny.yaml"):
        assert message(deep_merge(default, yaml.safe_load((REPO / "config" / name).read_text()))) == ("ok", ""), name


@pytest.mark.parametrize(("text", "path", "stage"), [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_config_check_message_names_the_key(tmp_path, text, path, stage):
    got_stage, msg = message(deep_merge(faults_config(), overlay(text, tmp_path)))
    assert got_stage == ("check" if stage == "today" else stage), msg
    assert msg.startswith(f"config key {path}: "), msg
    assert "\n" not in msg and msg.count("; ") >= 1, msg  # what is wrong; how to fix


def test_data_errors_name_the_fix_and_download_true_fetches_cifar(tmp_path):
    """Missing files: the fix is the fetch command or download: true (CIFAR), the NAS-Bench-201
    README (ImageNet16, which download: true cannot fetch); with download: true, CIFAR passes
    (the workflow's fetch_dataset job will get it); present files pass whatever download says."""
    root = tmp_path / "data"
    cifar = deep_merge(faults_config(), {"nb201": {"datasets": ["cifar10"]}, "data_root": str(root)})
    stage, msg = message(cifar)
    assert msg == (
        f"config key nb201.datasets[0]: cifar10 files missing under {root}/ (expected "
        f"{root}/cifar-10-batches-py/data_batch_1 and 6 more); run `archscale data fetch cifar10 --root {root}` "
        "or set download: true"
    )
    assert message({**cifar, "download": True}) == ("ok", "")
    imagenet = deep_merge(cifar, {"nb201": {"datasets": ["imagenet16-120"]}, "download": True})
    assert "get the ImageNet16 files from the NAS-Bench-201 README" in message(imagenet)[1]
    from archscale.dataset_info import DATASETS

    for f in DATASETS["cifar10"].files:  # present (their md5s are checked when a job reads them)
        (root / "cifar-10-batches-py").mkdir(parents=True, exist_ok=True)
        (root / "cifar-10-batches-py" / f).touch()
    assert message(cifar) == ("ok", "")
    big = deep_merge(cifar, {"nb201": {"batch_size": 50_001}})
    assert message(big)[1] == (
        "config key nb201.batch_size: 50001 is larger than the train split of cifar10 (50000 images), "
        "so an epoch has no batch; use at most 50000"
    )
    assert message(deep_merge(cifar, {"nb201": {"batch_size": 50_000}})) == ("ok", "")


def test_format_schema_error_without_a_validation_error():
    """A WorkflowError whose cause is lost still becomes one line with the key path."""
    text = "Error validating config file.\nFailed validating 'minimum'\nOn instance['nb201']['epochs']:\n    -1"
    assert format_schema_error(RuntimeError(text)).startswith("config key nb201.epochs: Error validating config file.")


# --------------------------------------------------------------------------- real snakemake -n


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory):
    """Every row's `snakemake -n`, two at a time (each is a Python start-up), in its own copy."""
    base = tmp_path_factory.mktemp("config-errors")

    def run(case):
        name, text = case[0], case[1]
        work = copy_repo(base / name)
        (work / "config" / "bad.yaml").write_text(text.replace("{tmp}", str(base / name / "scratch")))
        (base / name / "scratch" / "NATS-tss-v1_0-3ffb9-simple").mkdir(parents=True)
        cmd = snakemake_cmd("-n", "--configfile", "config/bad.yaml")
        return work, subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=300)

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
    futures = {c[0]: pool.submit(run, c) for c in CASES}
    yield futures
    pool.shutdown(cancel_futures=True)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "path"), [pytest.param(c[0], c[2], id=c[0]) for c in CASES]
)
def test_snakemake_stops_before_any_job(dry_runs, case, path):
    work, proc = dry_runs[case].result()
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    lines = [ln for ln in out.splitlines() if f"{path}:" in ln]
    assert lines, out[-3000:]
    assert f"config key {path}: " in lines[0] or "config error" in lines[0], lines[0]
    assert "Traceback" not in out and "Failed validating" not in out, out[-3000:]  # one line, not a dump
    assert not any((work / d).exists() for d in ("results", "logs", "benchmarks")), "a job ran"
