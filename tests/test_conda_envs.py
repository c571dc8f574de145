"""`snakemake --use-conda`: envs/ deployed the way Snakemake and conda deploy them, minus conda.

Under ``--use-conda`` Snakemake copies ``envs/X.yaml`` to ``<conda-prefix>/<hash>.yaml`` and runs
``conda env create --file`` on that copy. Conda makes python and pip from conda-forge (no conda
channel is reachable here, so that half cannot run), then writes the ``pip:`` list to a
``condaenv.*.requirements.txt`` beside the copy and runs ``python -m pip install -U -r <file>
--exists-action=b`` with that folder as working directory: a relative path in the list (the old
``-e ..``) resolves against ``.snakemake/conda/``. This module does that pip half exactly, into a
fresh virtual environment, then re-runs one real job of every rule of the tiny config with the
env's Python: the script Snakemake generated for the job (preamble included, kept with
``--skip-script-cleanup`` by the shared ``tiny_run`` fixture), as Snakemake runs it in a conda
env, with no PYTHONPATH. In the light
env torch is blocked (the host's site-packages, which Snakemake's preamble appends to sys.path,
has it), so a table or plot job that imported torch would fail here.
"""

from __future__ import annotations

import ast
import hashlib
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from test_envs import rule_blocks

REPO = Path(__file__).resolve().parents[1]
BASE_PYTHON = getattr(sys, "_base_executable", sys.executable)

pytestmark = pytest.mark.slow

#: Installed into the light env's site-packages: torch is absent there, as for a user whose
#: Snakemake env has no torch either.
BLOCK_TORCH = """
import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision"):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: the light env has no torch)")
sys.meta_path.insert(0, _NoTorch())
"""


def deploy_pip_half(env_file: Path, prefix: Path) -> Path:
    """Create ``env_file``'s environment as Snakemake + conda would, with a venv standing in for
    conda's python/pip; returns the env's Python."""
    prefix.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(env_file.read_bytes()).hexdigest()[:8]
    copy = prefix / f"{digest}.yaml"  # Snakemake: <prefix>/<hash>.yaml beside the env <prefix>/<hash>
    shutil.copy(env_file, copy)
    spec = yaml.safe_load(copy.read_text())
    (pip_deps,) = [d["pip"] for d in spec["dependencies"] if isinstance(d, dict)]
    conda_pins = dict(d.split("=", 1) for d in spec["dependencies"] if isinstance(d, str))
    env = prefix / digest
    subprocess.run([BASE_PYTHON, "-m", "venv", str(env)], check=True)
    python = env / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", f"pip=={conda_pins['pip']}"], check=True)
    with tempfile.NamedTemporaryFile(
        "w", prefix="condaenv.", suffix=".requirements.txt", dir=prefix, delete=False
    ) as req:
        req.write("\n".join(pip_deps))
    proc = subprocess.run(
        [python, "-m", "pip", "install", "-q", "-U", "-r", req.name, "--exists-action=b"],
        cwd=prefix,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, f"pip half of {env_file.name} failed:\n{proc.stderr[-3000:]}"
    return python


def job_of_script(path: Path):
    """The pickled ``snakemake`` object in a script Snakemake generated for a job."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "snakemake":
            return pickle.loads(ast.literal_eval(node.value.args[0]))
    raise AssertionError(f"{path} has no snakemake preamble")


def rule_envs() -> dict[str, str]:
    """Rule -> the env file it names (``envs/X.yaml``)."""
    out = {}
    for name, body in rule_blocks().items():
        for line in body.splitlines():
            if line.strip().startswith('"../envs/'):
                out[name] = line.strip().strip('"').removeprefix("../")
    return out


@pytest.fixture(scope="module")
def envs(tmp_path_factory) -> dict[str, Path]:
    """Each env of envs/, deployed under one conda prefix (a shared folder, as on a cluster)."""
    prefix = tmp_path_factory.mktemp("conda-prefix")
    pythons = {}
    for env_file in sorted((REPO / "envs").glob("*.yaml")):
        pythons[f"envs/{env_file.name}"] = deploy_pip_half(env_file, prefix)
    site = subprocess.run(
        [pythons["envs/plot.yaml"], "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "sitecustomize.py").write_text(BLOCK_TORCH)
    return pythons


def test_envs_hold_no_path_into_the_checkout() -> None:
    for env_file in (REPO / "envs").glob("*.yaml"):
        spec = yaml.safe_load(env_file.read_text())
        pip = [d for dep in spec["dependencies"] if isinstance(dep, dict) for d in dep["pip"]]
        assert all("==" in d and not d.startswith(("-", ".", "/")) for d in pip), f"{env_file.name}: {pip}"


def test_light_env_has_no_torch() -> None:
    spec = yaml.safe_load((REPO / "envs" / "plot.yaml").read_text())
    pip = [d for dep in spec["dependencies"] if isinstance(dep, dict) for d in dep["pip"]]
    assert not [d for d in pip if d.startswith("torch")]


def test_library_and_analysis_modules_import_without_torch() -> None:
    """``import archscale`` and the modules the light env's scripts use never import torch."""
    code = BLOCK_TORCH + (
        "import archscale, archscale.analysis, archscale.plots, archscale.report, archscale.atomic, "
        "archscale.graphs, archscale.scaling, archscale.config_check, archscale.code_hash, archscale.criteria, "
        "archscale.laws\n"
        "assert 'torch' not in sys.modules"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr


def test_one_job_of_every_rule_runs_in_its_deployed_env(envs, tiny_run, tmp_path) -> None:
    # a copy: the jobs re-run here rewrite outputs behind Snakemake's back, which must not leak
    # into the shared run the other end-to-end tests dry-run
    work = tmp_path / "run"
    shutil.copytree(tiny_run, work, symlinks=True)
    wanted = rule_envs()
    jobs = {}
    for script in sorted((work / ".snakemake" / "scripts").glob("tmp*.py")):
        job = job_of_script(script)
        jobs.setdefault(job.rule, (script, job))
    # nats_published needs a NATS-Bench folder and fetch_dataset a download (the tiny config
    # sets neither): their envs are the torch env, proven by the grid and training jobs
    assert set(jobs) == set(wanted) - {"nats_published", "fetch_dataset"}, sorted(set(wanted) ^ set(jobs))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    for rule, (script, job) in sorted(jobs.items()):
        outputs = [work / f for f in job.output]
        for f in outputs:
            f.unlink()
        proc = subprocess.run(
            [envs[wanted[rule]], script], cwd=work, capture_output=True, text=True, env=env, timeout=600
        )
        log = (work / job.log[0]).read_text() if job.log else ""
        assert proc.returncode == 0, f"rule {rule} in {wanted[rule]}:\n{proc.stderr[-2000:]}\n{log[-3000:]}"
        missing = [str(f) for f in outputs if not f.exists()]
        assert not missing, f"rule {rule} in {wanted[rule]} did not write {missing}"
