"""``archscale plan``: the workflow's bill before it runs (docs/plan.md).

The job list is Snakemake's own: a dry run (``snakemake -n --forceall``, or only what is left
with ``remaining``) of the workflow with the given config files, parsed for each job's rule and
wildcards. What a job does comes from the merged config, as rules/common.smk computes it
(its shard of architectures or cells, the seeds, the grid). What it costs comes from a short
calibration on this machine's device, with random tensors of each dataset's shape (no files):

- grid jobs (base_lr_search, true_max_lr): the real batched sweep (lr_search.batched_sweep) of
  the real model with K copies, timed over a few steps; per model group, the architectures
  with the fewest and the most parameterised edges, interpolated linearly in that count;
- train_nb201: the real train() loop, per (shape, C, N, batch) on four cells (all skip, all
  conv3x3, all conv1x1, all avg_pool), a cell's step time linear in its counts of those ops;
  the test-set evaluation after each epoch at a third of a step's per-sample time;
  nb201.concurrent trainings share the job (its wall time is the trainings' sum / N);
- every job: its script's start-up (a subprocess importing what the script imports, plus a
  figure rendered to PDF and PNG for plotting scripts, plus loading the dataset where it
  needs no files).

A step whose estimate exceeds ``budget_s`` is timed with fewer copies and a smaller batch and
scaled linearly up (said in the output). On CPU the times are CPU seconds of one thread (the
rules' threads), which a busy machine does not inflate; on CUDA, synchronised wall time.
"""

from __future__ import annotations

import ast
import copy
import functools
import json
import math
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

#: (train, test) samples of each dataset (imagenet16-120: NAS-Bench-201's train and val_data).
SPLIT_SIZES = {
    "digits": (1347, 450),
    "digits16": (1347, 450),
    "cifar10": (50_000, 10_000),
    "cifar100": (50_000, 10_000),
    "imagenet16-120": (151_700, 6_000),
    "fake-cifar10": (50_000, 10_000),
}
#: Datasets the start-up probe can load (no files needed).
_LOADABLE = ("digits", "digits16")
GRID_RULES = ("base_lr_search", "true_max_lr")
_NB201_OPS = ("nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
_PLOT_PROBE = """
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt, tempfile, os
fig, axes = plt.subplots(1, 2, figsize=(8, 3.5))
for ax in axes:
    ax.scatter(range(200), range(200)); ax.set_xscale("log"); ax.set_title("probe")
d = tempfile.mkdtemp()
fig.savefig(os.path.join(d, "p.pdf")); fig.savefig(os.path.join(d, "p.png"), dpi=110)
"""


@dataclass
class Job:
    """One job of the dry run, with what it does and costs."""

    rule: str
    wildcards: dict[str, str]
    trainings: int = 0
    steps: int = 0
    seconds: float = 0.0  # start-up included
    startup: float = 0.0
    peak_bytes: int = 0


@dataclass
class Plan:
    jobs: list[Job]
    device: str
    calibration_s: float
    scaled: list[str] = field(default_factory=list)
    snakemake_counts: dict[str, int] = field(default_factory=dict)

    def by_rule(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for j in self.jobs:
            r = out.setdefault(j.rule, {"jobs": 0, "trainings": 0, "steps": 0, "seconds": 0.0, "peak": 0})
            r["jobs"] += 1
            r["trainings"] += j.trainings
            r["steps"] += j.steps
            r["seconds"] += j.seconds
            r["peak"] = max(r["peak"], j.peak_bytes)
        return out

    def by_figure(self) -> dict[str, dict[str, float]]:
        """Device-seconds and jobs per figure of the registry (``archscale.figures``): a
        learning-rate experiment's jobs go to the figure that draws it; the NB201 trainings to
        figs. 4/8/9 (they share them); base networks, which several figures share, to ``bases``;
        tables, plots and the report to ``figures and tables``."""
        from archscale.figures import figure_of_experiment, figures_of

        nb201 = "/".join(f.name for f in figures_of("nb201"))
        out: dict[str, dict[str, float]] = {}
        for j in self.jobs:
            if "exp" in j.wildcards:
                key = figure_of_experiment(j.wildcards["exp"]).name
            elif j.rule in ("train_nb201", "nats_published", "aggregate_nb201"):
                key = nb201
            elif j.rule == "base_lr_search":
                key = "bases (shared)"
            elif j.rule == "init_signal":
                key = figures_of("signal")[0].name
            elif j.rule == "fetch_dataset":
                key = "datasets"
            else:
                key = "figures and tables"
            r = out.setdefault(key, {"jobs": 0, "seconds": 0.0})
            r["jobs"] += 1
            r["seconds"] += j.seconds
        return out

    @property
    def total_seconds(self) -> float:
        return sum(j.seconds for j in self.jobs)


# --------------------------------------------------------------------------- config and jobs


def deep_update(base: dict, over: dict) -> dict:
    """Snakemake's merge of config files: nested mappings key by key, anything else replaced."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = deep_update(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def load_config(root: Path, configfiles: Sequence[str | Path]) -> dict[str, Any]:
    """config/config.yaml (the Snakefile's ``configfile:``), each file deep-updating it in
    order, with the schema's defaults filled in as the Snakefile's ``validate`` does."""
    from snakemake.utils import validate

    config: dict[str, Any] = {}
    for path in [root / "config" / "config.yaml", *map(Path, configfiles)]:
        if not path.is_file():
            raise ValueError(f"config file {path} not found; give an existing --configfile")
        config = deep_update(config, yaml.safe_load(path.read_text()) or {})
    try:
        validate(config, str(root / "src" / "archscale" / "schema.yaml"))
    except Exception as err:  # noqa: BLE001 - the schema's own message, reduced to one line
        from archscale.config_check import format_schema_error

        raise ValueError(format_schema_error(err)) from None
    return config


_RULE = re.compile(r"^\s*(?:local)?rule (\w+):\s*$")
_WILDCARDS = re.compile(r"^\s*wildcards: (.*)$")


def dry_run(root: Path, configfiles: Sequence[str | Path], *, remaining: bool = False) -> tuple[list[Job], dict]:
    """The jobs of Snakemake's dry run (every job, or with ``remaining`` those left to run) and
    its own per-rule counts (its 'Job stats' table)."""
    # the workflow profile stays on: --remaining must see its re-run triggers, as a run would;
    # no dataset need be on this machine to plan (check_data: false)
    cmd = [sys.executable, "-m", "snakemake", "-n", "--cores", "1"]
    cmd += [] if remaining else ["--forceall"]
    if configfiles:
        cmd += ["--configfile", *(str(Path(c).resolve()) for c in configfiles)]
    cmd += ["--config", "check_data=False"]
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    text = proc.stdout + proc.stderr
    if proc.returncode != 0:
        last = [ln for ln in text.splitlines() if ln.strip()][-1:] or ["(no output)"]
        raise ValueError(f"snakemake's dry run failed in {root}: {last[0].strip()}")
    jobs: list[Job] = []
    for line in text.splitlines():
        if m := _RULE.match(line):
            jobs.append(Job(m.group(1), {}))
        elif (m := _WILDCARDS.match(line)) and jobs:
            jobs[-1].wildcards = dict(kv.split("=", 1) for kv in m.group(1).split(", "))
    counts = {}
    if "Job stats:" in text:
        for line in text.split("Job stats:")[1].split("Reasons:")[0].splitlines():
            if (m := re.match(r"^(\w+)\s+(\d+)$", line.strip())) and m.group(1) != "total":
                counts[m.group(1)] = int(m.group(2))
    return jobs, counts


def exp_archs(e: dict[str, Any]) -> list[str]:
    """An experiment's targets, as rules/common.smk's exp_archs."""
    return list(_exp_archs(json.dumps(e, sort_keys=True)))  # a hashable cache key


@functools.cache
def _exp_archs(key: str) -> tuple[str, ...]:
    return tuple(_exp_archs_of(json.loads(key)))


def _exp_archs_of(e: dict[str, Any]) -> list[str]:
    from archscale.graphs import chain_of_depth, sample_space

    archs = e["archs"]  # load_config has filled in the schema's defaults
    if archs == "sample":
        return sample_space(e["family"], e["n_archs"], seed=e["sample_seed"], n_nodes=e["n_nodes"])
    if archs == "chains":
        return [chain_of_depth(d) for d in e["depths"]]
    return list(archs)


def nb201_cells(nb: dict[str, Any]) -> list[str]:
    """The config's NB201 cells, as rules/common.smk's nb201_cells."""
    if "cells" in nb:
        return list(nb["cells"])
    return list(_sampled_cells(nb["n_cells"], nb["sample_seed"]))


@functools.cache
def _sampled_cells(n: int, seed: int) -> tuple[str, ...]:
    from archscale.graphs import sample_space

    return tuple(sample_space("nb201", n, seed=seed))


def _shard(items: list, i: int, size: int) -> list:
    return items[i * size : (i + 1) * size]


def n_param_edges(family: str, arch: str) -> int:
    """Parameterised edges of an MLP/CNN DAG code (digit 2); a residual net's layers in its
    blocks (two each, plus the projection shortcut of a downsampling block)."""
    from archscale.residual_arch import is_residual, parse_residual

    if is_residual(family):
        a = parse_residual(arch)
        return 2 * a.blocks + int(a.downsample)
    return arch.replace("_", "").count("2")


def base_of(family: str) -> str:
    """The base network a family's rates are scaled from (as rules/common.smk's)."""
    from archscale.graphs import base_arch
    from archscale.residual_arch import RESIDUAL_BASE, is_residual

    return RESIDUAL_BASE if is_residual(family) else base_arch(family)


def nb201_op_counts(cell: str) -> tuple[int, int, int]:
    return tuple(cell.count(op) for op in _NB201_OPS)  # type: ignore[return-value]


# --------------------------------------------------------------------------- calibration


def _random_data(in_shape: tuple[int, ...], classes: int, n: int, device):
    import torch

    from archscale.data import TensorData

    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, *in_shape, generator=g).to(device)
    y = torch.randint(0, classes, (n,), generator=g).to(device)
    return TensorData(x=x, y=y, num_classes=classes, name="random")


#: Calibrations of this process, per device: a second plan (another config) re-times nothing.
_CACHES: dict[str, dict[tuple, Any]] = {}


class Calibrator:
    """Timed steps of the real code on the current device, cached per distinct shape (for the
    life of the process)."""

    def __init__(self, device: str = "auto", budget_s: float = 0.1):
        import torch

        from archscale.data import resolve_device

        self.device = resolve_device(device)
        self.budget_s = budget_s
        self.cache = _CACHES.setdefault(str(self.device), {})
        self.scaled: list[str] = []
        self.seconds = 0.0
        torch.set_num_threads(1)  # the rules' threads: 1

    def _timed(self, fn) -> float:
        """Seconds of ``fn()``: on CUDA wall time (synchronised), on CPU the CPU time of this
        process and its finished children, which other processes' load does not inflate."""
        if self.device.type == "cuda":
            import torch

            t0 = time.perf_counter()
            fn()
            torch.cuda.synchronize(self.device)
            return time.perf_counter() - t0
        c0 = _cpu_seconds()
        fn()
        return _cpu_seconds() - c0

    def _step_rate(self, run, k: int, batch: int, label: str) -> tuple[float, float, str | None]:
        """(setup, per-step) seconds of ``run(k, batch, steps)`` at (k, batch), timed directly
        when cheap, else at a smaller (k, batch) and scaled linearly (then with a note)."""
        t0 = time.perf_counter()

        def measure(kk: int, bb: int) -> tuple[float, float]:
            run(kk, bb, 1)  # warm-up: allocator, kernels
            one = self._timed(lambda: run(kk, bb, 1))
            two = self._timed(lambda: run(kk, bb, 2))
            step = max(two - one, 1e-6)
            return max(one - step, 0.0), step

        k0, b0 = min(k, 2), min(batch, 4)
        setup0, step0 = measure(k0, b0)
        predicted = step0 * (k / k0) * (batch / b0)
        note = None
        if (k0, b0) == (k, batch):
            out = (setup0, step0)
        else:
            if predicted <= self.budget_s:
                k1, b1 = k, batch
            else:
                k1 = max(k0, min(k, int(k * self.budget_s / predicted)))
                rest = self.budget_s / (step0 * (k1 / k0) * (batch / b0))
                b1 = max(b0, min(batch, int(batch * rest)))
            setup1, step1 = (setup0, step0) if (k1, b1) == (k0, b0) else measure(k1, b1)
            if (k1, b1) != (k, batch):
                note = f"{label}: timed at {k1} copies x batch {b1}, scaled to {k} x {batch}"
            out = (setup1 * k / k1, step1 * (k / k1) * (batch / b1))
        self.seconds += time.perf_counter() - t0
        return (*out, note)

    def _rate(self, key: tuple) -> tuple[float, float]:
        setup, step, note = self.cache[key]
        if note:
            self.scaled.append(note)
        return setup, step

    def grid(self, model_spec: dict[str, Any], in_shape, classes: int, batch: int, k: int, search: dict) -> tuple:
        """(setup, per-step) seconds of a K-copy grid sweep of one architecture."""
        key = (
            "grid",
            tuple(sorted(model_spec.items())),
            tuple(in_shape),
            classes,
            batch,
            k,
            tuple(sorted(search.items())),
        )
        if key in self.cache:
            return self._rate(key)
        from archscale.experiments import search_config
        from archscale.lr_search import batched_sweep
        from archscale.models import build_model

        spec = dict(model_spec)
        arch = spec.pop("arch")
        model = build_model(spec.pop("family"), arch, num_classes=classes, in_shape=tuple(in_shape), **spec)
        cfg = search_config(search, 0)

        def run(kk: int, bb: int, steps: int) -> None:
            data = _random_data(in_shape, classes, bb * 4, self.device)
            lrs = [1e-3 * 1.1**i for i in range(kk)]
            batched_sweep(model, data, lrs, _with_batch(cfg, bb), steps=steps)

        label = f"grid {model_spec['family']} w{model_spec['width']} {arch} {tuple(in_shape)}"
        self.cache[key] = self._step_rate(run, k, batch, label)
        return self._rate(key)

    def train(self, cell: str, C: int, N: int, in_shape, classes: int, batch: int, recipe: dict) -> tuple:
        """(setup, per-step) seconds of train() on one NB201 cell."""
        key = ("train", cell, C, N, tuple(in_shape), batch, tuple(sorted(recipe.items())))
        if key in self.cache:
            return self._rate(key)
        from archscale.models import build_model
        from archscale.train import TrainConfig, train

        def run(_k: int, bb: int, steps: int) -> None:
            model = build_model(
                "nb201", cell, width=C, cells_per_stage=N, num_classes=classes, in_shape=tuple(in_shape)
            )
            cfg = TrainConfig(epochs=1, batch_size=bb, lr=0.01, momentum=recipe["momentum"],
                              nesterov=recipe["nesterov"], weight_decay=recipe["weight_decay"],
                              augment=recipe["augment"])  # fmt: skip
            train(model, _random_data(in_shape, classes, bb * steps, self.device), None, cfg, progress=False)

        label = f"train nb201 C{C} N{N} {cell} {tuple(in_shape)}"
        self.cache[key] = self._step_rate(run, 1, batch, label)
        return self._rate(key)

    def call(self, key: tuple, fn) -> float:
        """Seconds of ``fn()`` (cached under ``key``)."""
        if key not in self.cache:
            t = self._timed(fn)
            self.seconds += t
            self.cache[key] = t
        return self.cache[key]


def _cpu_seconds() -> float:
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _with_batch(cfg, batch: int):
    from dataclasses import replace

    return replace(cfg, batch_size=batch)


@functools.cache
def script_imports(script: Path) -> list[str]:
    """The import statements of a workflow script (every one, also under ``if __main__``)."""
    tree = ast.parse(script.read_text())
    return [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]


def startup_seconds(cal: Calibrator, root: Path, rule: str, dataset: str | None) -> float:
    """A job's start-up: a fresh interpreter importing Snakemake's script support and what the
    script imports (and rendering a figure for plotting scripts, loading a file-less dataset
    for data scripts), timed as a subprocess."""
    script = root / "workflow" / "scripts" / f"{rule}.py"
    if not script.is_file():
        return 0.0
    imports = script_imports(script)
    # the script's folder is on sys.path in a job (Snakemake puts it there): _src_path is found
    code = ["from snakemake import script", f"import sys; sys.path.append({str(script.parent)!r})", *imports]
    if any("archscale.plots" in i for i in imports):
        code.append(_PLOT_PROBE)
    loads = dataset in _LOADABLE and any("experiments" in i or "trainpool" in i for i in imports)
    if loads:
        code.append(f"from archscale.data import load_dataset; load_dataset({dataset!r}, split='train')")
    key = ("startup", tuple(code))

    def run() -> None:
        subprocess.run([sys.executable, "-c", "\n".join(code)], cwd=root, check=True, capture_output=True)

    return cal.call(key, run)


# --------------------------------------------------------------------------- costing


def _grid_job(job: Job, cfg: dict, cal: Calibrator) -> None:
    from archscale.lr_search import lr_grid

    wc = job.wildcards
    search = {k: v for k, v in cfg["lr_search"].items() if k != "chunk"}
    nb = cfg["nb201"]
    if job.rule == "base_lr_search":
        family = wc["family"]
        archs = [base_of(family)]
        spec = {"family": family, "width": int(wc["width"]), "kernel_size": int(wc["kernel"]),
                "activation": wc["act"], "cells_per_stage": nb["N"] if family == "nb201" else 1}  # fmt: skip
        if family == "nb201":
            search.update({k: nb[k] for k in ("batch_size", "momentum", "weight_decay", "nesterov")})
    else:
        e = cfg["lr_experiments"][wc["exp"]]
        family = e["family"]
        archs = _shard(exp_archs(e), int(wc["shard"]), cfg["shard_size"])
        spec = {"family": family, "width": e["width"], "kernel_size": int(wc["kernel"]),
                "activation": e.get("activation", "relu"), "cells_per_stage": 1}  # fmt: skip
    dataset = wc["dataset"]
    n_train, _ = SPLIT_SIZES[dataset]
    from archscale.data import DATASETS

    info = DATASETS[dataset]
    batch = search["batch_size"]
    k = len(lr_grid(search["min_exp"], search["max_exp"], search["step"]))
    steps = search["epochs"] * (n_train // batch)
    seeds = len(cfg["seeds"])
    sizes = [(k, steps)] + ([(search["refine"], steps)] if search.get("refine") else [])
    # the architectures with the fewest and the most parameterised edges, interpolated between
    # two architectures timed per model group, the others interpolated in their parameterised
    # edges: the family's extremes (the base, no edge; every edge of the N5 space), so every
    # shard of a group shares them; a base network's search times the base alone
    if set(archs) == {base_of(family)}:
        ends = [archs[0], archs[0]]
    elif family in ("mlp", "cnn"):
        ends = [base_of(family), "_".join("2" * t for t in range(1, 5))]
    else:  # residual: the shard's deepest network is the far end
        ends = [base_of(family), max(archs, key=lambda a: n_param_edges(family, a))]
    seconds = 0.0
    for kk, st in sizes:
        rates = {a: cal.grid({**spec, "arch": a}, info.in_shape, info.num_classes, batch, kk, search) for a in ends}
        lo, hi = (n_param_edges(family, a) for a in ends)
        for a in archs:
            w = 0.0 if hi == lo else (n_param_edges(family, a) - lo) / (hi - lo)
            setup, step = (rates[ends[0]][i] * (1 - w) + rates[ends[1]][i] * w for i in range(2))
            seconds += seeds * (setup + st * step)
        job.trainings += seeds * len(archs) * kk
        job.steps += seeds * len(archs) * st
    chunk = cfg["lr_search"].get("chunk", "auto")
    copies = k if chunk == "auto" else min(k, int(chunk))
    job.peak_bytes = copies * _copy_bytes(cal, {**spec, "arch": ends[-1]}, dataset, batch) + _data_bytes(dataset)
    job.seconds += seconds


def _copy_bytes(cal: Calibrator, spec: dict[str, Any], dataset: str, batch: int) -> int:
    """archscale.memory.copy_bytes of one model (cached: thousands of jobs share few shapes)."""
    from archscale.data import DATASETS
    from archscale.memory import copy_bytes
    from archscale.models import build_model

    key = ("bytes", tuple(sorted(spec.items())), dataset, batch)
    if key not in cal.cache:
        info = DATASETS[dataset]
        rest = {k: v for k, v in spec.items() if k not in ("family", "arch")}
        model = build_model(spec["family"], spec["arch"], num_classes=info.num_classes, in_shape=info.in_shape, **rest)
        cal.cache[key] = copy_bytes(model, info.in_shape, batch)
    return cal.cache[key]


def _data_bytes(dataset: str) -> int:
    from archscale.data import DATASETS

    n = sum(SPLIT_SIZES[dataset])
    return n * math.prod(DATASETS[dataset].in_shape) * 4


#: one cell per NB201 op, the other five edges of the same op: the calibration points
_PURE_CELLS = {op: f"|{op}~0|+|{op}~0|{op}~1|+|{op}~0|{op}~1|{op}~2|" for op in ("skip_connect", *_NB201_OPS)}


def _train_job(job: Job, cfg: dict, cal: Calibrator) -> None:
    from archscale.data import DATASETS

    nb = cfg["nb201"]
    wc = job.wildcards
    dataset = wc["dataset"]
    info = DATASETS[dataset]
    n_train, n_test = SPLIT_SIZES[dataset]
    cells = _shard(nb201_cells(nb), int(wc["shard"]), nb["shard_size"])
    batch = nb["batch_size"]
    recipe = {k: nb[k] for k in ("momentum", "nesterov", "weight_decay", "augment")}
    rates = {
        op: cal.train(cell, nb["C"], nb["N"], info.in_shape, info.num_classes, batch, recipe)
        for op, cell in _PURE_CELLS.items()
    }
    base_setup, base_step = rates["skip_connect"]
    per_op = [(rates[op][1] - base_step) / 6 for op in _NB201_OPS]
    steps = nb["epochs"] * (n_train // batch)
    seeds = len(cfg["seeds"])
    total = 0.0
    for cell in cells:
        step = base_step + sum(n * c for n, c in zip(nb201_op_counts(cell), per_op, strict=True))
        evaluation = nb["epochs"] * n_test * step / batch / 3  # a forward is about a third of a step
        total += seeds * (base_setup + steps * step + evaluation)
    concurrent = nb.get("concurrent", 1)
    trainings = seeds * len(cells)
    job.trainings, job.steps = trainings, trainings * steps
    job.seconds += total / min(concurrent, trainings)
    spec = {"family": "nb201", "arch": _PURE_CELLS["nor_conv_3x3"], "width": nb["C"], "cells_per_stage": nb["N"]}
    job.peak_bytes = min(concurrent, trainings) * (_copy_bytes(cal, spec, dataset, batch) + _data_bytes(dataset))


def _init_signal_job(job: Job, cfg: dict, cal: Calibrator) -> None:
    from archscale.signal import init_signal_table

    s = cfg["init_signal"]
    probe = {**s, "n_dags": 2}
    t = cal.call(("init_signal", tuple(sorted(probe.items()))), lambda: init_signal_table(**probe))
    job.seconds += t * s["n_dags"] / 2


def make_plan(
    root: str | Path,
    configfiles: Sequence[str | Path] = (),
    *,
    remaining: bool = False,
    device: str = "auto",
    calibrator: Calibrator | None = None,
) -> Plan:
    """The workflow's jobs for these config files, each with its estimated device-seconds."""
    root = Path(root).resolve()
    if not (root / "Snakefile").is_file():
        raise ValueError(f"no Snakefile in {root}; run archscale plan in the workflow's folder (or give --directory)")
    cfg = load_config(root, configfiles)
    jobs, counts = dry_run(root, configfiles, remaining=remaining)
    cal = calibrator if calibrator is not None else Calibrator(device)
    costers = {"base_lr_search": _grid_job, "true_max_lr": _grid_job, "train_nb201": _train_job,
               "init_signal": _init_signal_job}  # fmt: skip
    t0 = cal.seconds
    for job in jobs:
        job.startup = startup_seconds(cal, root, job.rule, job.wildcards.get("dataset"))
        if job.rule == "train_nb201" and cfg["nb201"].get("concurrent", 1) > 1:
            job.startup *= 2  # the spawned workers start (in parallel) after the job itself
        job.seconds = job.startup
        if job.rule in costers:
            costers[job.rule](job, cfg, cal)
    return Plan(jobs, str(cal.device), cal.seconds - t0, list(dict.fromkeys(cal.scaled)), counts)


def _size(n: float) -> str:
    if n <= 0:
        return "-"
    for unit, scale in (("GB", 1e9), ("MB", 1e6)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n / 1e3:.0f} kB"


_KIND = {True: "CPU seconds of one thread: other processes' load does not count", False: "wall seconds"}


def format_plan(plan: Plan, configfiles: Sequence[str | Path]) -> str:
    names = " + ".join(["config/config.yaml", *map(str, configfiles)])
    lines = [
        f"archscale plan: {names}",
        f"device-seconds on {plan.device} ({_KIND[plan.device == 'cpu']}), measured now: steps of the real code "
        f"on random tensors of each dataset's shape ({plan.calibration_s:.0f} s of calibration); "
        "for another device see docs/plan.md",
    ]
    lines += [f"  ({s})" for s in plan.scaled]
    header = f"{'rule':<18}{'jobs':>7}{'trainings':>12}{'steps':>18}{'device-s':>18}{'peak mem':>11}"
    lines += [header, "-" * len(header)]
    for rule, r in plan.by_rule().items():
        lines.append(
            f"{rule:<18}{r['jobs']:>7,}{r['trainings']:>12,}{r['steps']:>18,}{r['seconds']:>18,.0f}{_size(r['peak']):>11}"
        )
    lines += ["", f"{'figure':<50}{'jobs':>7}{'device-s':>18}", "-" * 75]
    for fig, r in plan.by_figure().items():
        lines.append(f"{fig:<50}{r['jobs']:>7,}{r['seconds']:>18,.0f}")
    lines.append(f"total {round(plan.total_seconds)} device-seconds ({len(plan.jobs)} jobs)")
    return "\n".join(lines)
