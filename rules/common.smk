# The workflow's Python: config checks beyond the schema, target lists, input functions,
# wildcard constraints. Other .smk files hold only rules; the science is in src/archscale.

import functools
import math
import sys
from pathlib import Path

from archscale.code_hash import code_hashes
from archscale.figures import TABLES, figure, figures_of
from archscale.untracked import Untracked
from archscale.graphs import base_arch, chain_of_depth, sample_space
from archscale.graphs import parse as parse_arch
from archscale.residual_arch import RESIDUAL_BASE, is_residual, parse_residual

ROOT = Path(workflow.basedir)
SEEDS = [int(s) for s in config["seeds"]]
EXPERIMENTS = config["lr_experiments"]
NB201 = config["nb201"]


def config_error(msg):
    """Stop before any job is planned, with one line naming the config key."""
    sys.exit(f"archscale: config key {msg}")


wildcard_constraints:
    exp=r"fig[0-9]+_[a-z0-9_]+",
    dataset=r"[a-z0-9\-]+",
    family=r"mlp|cnn|nb201|resmlp|rescnn",
    act=r"relu|gelu",
    width=r"\d+",
    kernel=r"\d+",
    seed=r"\d+",
    shard=r"\d+",
    recipe=r"principled_init|principled_lr|principled|standard|mup",


# Content hash of the library code each script runs (its archscale imports, transitively, read
# from this checkout's src/: the editable install `make` sets up): a rule whose params carry
# CODE[script] re-runs when, and only when, that code changes.
LIB = ROOT / "src" / "archscale"
CODE = code_hashes(sorted((ROOT / "workflow" / "scripts").glob("[!_]*.py")), LIB)


ANALYSIS = config["analysis"]


def criteria_settings():
    """The rate-choice criteria applied at aggregation (reading tier: no grid job sees them)."""
    return {k: ANALYSIS[k] for k in ("criteria", "ratio", "speed_level")}


def boot_settings():
    """Bootstrap settings of every confidence interval (tables, figure titles, README)."""
    return {"n_boot": ANALYSIS["n_boot"], "seed": ANALYSIS["boot_seed"]}


def run_settings():
    """Settings every training job shares that can change its numbers (the device)."""
    return {"device": config["device"]}


#: Where datasets live changes no number: not a re-run trigger (archscale.untracked), so moving
#: the data re-runs nothing. (A Path inside the run dict would count: a dict's repr includes it.)
DATA_ROOT = Untracked(config["data_root"])
DOWNLOADABLE = ("cifar10", "cifar100")


def data_ready(wc):
    """No input file, but with download: true a job of a downloadable dataset waits for its
    fetch_dataset checkpoint (rules/data.smk). Asking the checkpoint, instead of taking its
    marker as input, keeps every job's inputs the same whatever download says: Snakemake
    re-runs a job whose set of input files changed."""
    if config["download"] and wc.dataset in DOWNLOADABLE:
        checkpoints.fetch_dataset.get(dataset=wc.dataset)
    return []


def fetch_targets():
    """With download: true, the fetch markers of the downloadable datasets the config uses.
    They are targets so that a missing marker is always made: a job waiting on a checkpoint
    that nothing else asks for is not checked for re-runs at all."""
    if not config["download"]:
        return []
    used = set(NB201["datasets"]) | {ds for e in EXPERIMENTS.values() for ds in e["datasets"]}
    return [f"results/data/{ds}.verified" for ds in sorted(used) if ds in DOWNLOADABLE]


# ---------------------------------------------------------------------------------------------
# Learning-rate experiments
# ---------------------------------------------------------------------------------------------


@functools.cache
def exp_archs(exp):
    """The target architectures of experiment ``exp`` (checked: a bad code names its key)."""
    e = EXPERIMENTS[exp]
    archs = e["archs"]  # every key has its schema default here (validate fills them in)
    if archs == "sample":
        return sample_space(e["family"], e["n_archs"], seed=e["sample_seed"], n_nodes=e["n_nodes"])
    if archs == "chains":
        return [chain_of_depth(d) for d in e["depths"]]
    parse = parse_residual if is_residual(e["family"]) else functools.partial(parse_arch, e["family"])
    for i, a in enumerate(archs):
        try:
            parse(a)
        except ValueError as err:
            config_error(f"lr_experiments.{exp}.archs[{i}]: {err}")
    return list(archs)


def n_shards(items, size):
    return max(1, math.ceil(len(items) / size))


def shard(items, i, size):
    return items[i * size : (i + 1) * size]


def walltime_minutes(units, unit_seconds):
    """A job's time limit: ``units`` of work (sweeps, or training epochs in sequence) of
    ``unit_seconds`` each, times walltime.margin, at least walltime.min_minutes."""
    w = config["walltime"]
    return max(w["min_minutes"], math.ceil(units * unit_seconds * w["margin"] / 60))


def grid_runtime(n_archs):
    """true_max_lr / base_lr_search: one sweep per architecture and seed, in sequence."""
    return walltime_minutes(n_archs * len(SEEDS), config["walltime"]["grid_sweep_s"])


def search_settings():
    """The grid search's settings, less ``chunk``: how many rates share a pass changes no number
    (archscale.lr_search.batched_sweep), so it is a resource (GRID_CHUNK), not a rerun trigger."""
    return {k: v for k, v in config["lr_search"].items() if k != "chunk"}


#: lr_search.chunk as an integer resource (0 = auto: as many rates as fit in the device's memory);
#: a grid script passes it on as search["chunk"] (grid_chunk)
GRID_CHUNK = 0 if config["lr_search"].get("chunk", "auto") == "auto" else int(config["lr_search"]["chunk"])


def base_key(family, act, width, kernel):
    return f"{family}_{act}_w{width}_k{kernel}"


def exp_base(exp, kernel):
    """Base network of an experiment at one kernel size: CNN bases are measured at q = 3 (the
    paper's base, eq. 9 scales from it); MLPs ignore the kernel. Residual families' base is
    their 0-block network (base_params), at their only kernel size 3."""
    e = EXPERIMENTS[exp]
    base_kernel = 3
    return base_key(e["family"], e["activation"], e["width"], base_kernel)


#: figure name -> its experiments present in the config (panels), in the registry's order
#: (archscale.figures: one declaration per figure)
LR_FIGURES = {
    f.name: [e for e in f.experiments if e in EXPERIMENTS] for f in figures_of("lr") if set(f.experiments) & set(EXPERIMENTS)
}


def figure_datasets(fig):
    return sorted({ds for exp in LR_FIGURES[fig] for ds in EXPERIMENTS[exp]["datasets"]})


def figure_tables(wc):
    """The tidy LR tables drawn in figure ``wc.fig`` for ``wc.dataset``."""
    return [
        f"results/tables/lr_{exp}_{wc.dataset}.csv"
        for exp in LR_FIGURES[wc.fig]
        if wc.dataset in EXPERIMENTS[exp]["datasets"]
    ]


def lr_figure_targets():
    return [
        f"figures/{fig}_{ds}.{ext}" for fig in LR_FIGURES for ds in figure_datasets(fig) for ext in ("pdf", "png")
    ]


def lr_tables():
    return [f"results/tables/lr_{exp}_{ds}.csv" for exp, e in EXPERIMENTS.items() for ds in e["datasets"]]


# ---------------------------------------------------------------------------------------------
# NAS-Bench-201
# ---------------------------------------------------------------------------------------------


def nb201_cells():
    if "cells" in NB201:
        for i, c in enumerate(NB201["cells"]):
            try:
                g = parse_arch("nb201", c)
            except ValueError as err:
                config_error(f"nb201.cells[{i}]: {err}")
            if g.n_paths == 0:
                config_error(f"nb201.cells[{i}]: cell {c!r} has no input->output path, so it cannot learn")
        return list(NB201["cells"])
    return sample_space("nb201", NB201["n_cells"], seed=NB201["sample_seed"])


NB201_CELLS = nb201_cells()


def recipe_cells(recipe):
    """The cells a recipe trains: all of them, except μP on a seeded random sample of
    ``nb201.mup_cells`` cells when that is a number (fig. 8 compares on that sample)."""
    n = NB201["mup_cells"]
    if recipe != "mup" or n == "all" or n >= len(NB201_CELLS):
        return NB201_CELLS
    import random

    return sorted(random.Random(NB201["sample_seed"]).sample(NB201_CELLS, n), key=NB201_CELLS.index)


def recipe_shards(recipe):
    return n_shards(recipe_cells(recipe), NB201["shard_size"])
NB201_BASE = base_key("nb201", "relu", NB201["C"], 3)
#: Recipes whose rate is eq. 8 from the base cell's measured rate (archscale.recipes.RECIPES).
BASE_LR_RECIPES = ("principled", "principled_lr")


def nb201_recipe(recipe):
    """The training settings of a recipe (all but the rate and init are the benchmark's)."""
    keys = ("epochs", "batch_size", "lr", "momentum", "nesterov", "weight_decay", "augment", "checkpoint_every")
    out = {k: NB201[k] for k in keys}
    if recipe == "mup":
        out["mup_base_C"] = NB201["mup_base_C"]
    return out


NATS_PATH = config["nats_bench_path"]
NATS_DATASETS = ("cifar10", "cifar100", "imagenet16-120")
if NATS_PATH:
    from archscale.nats import check_path as check_nats_path

    try:
        check_nats_path(NATS_PATH)
    except ValueError as err:
        config_error(f"nats_bench_path: {err}")


def trained_recipes(dataset):
    """The NB201 recipes trained on a dataset: the config's, less ``standard`` where the
    benchmark's published 200-epoch accuracies (its own training, its seeds) stand in for it:
    ``nats_bench_path`` set and ``nb201.standard_from_nats`` (the paper compares with those)."""
    recipes = list(NB201["recipes"])
    if NATS_PATH and dataset in NATS_DATASETS and NB201["standard_from_nats"] and "standard" in recipes:
        recipes.remove("standard")
    return recipes


def nb201_runs(wc):
    """Every training shard of a dataset, over the recipes trained there."""
    return [
        f"results/nb201/{wc.dataset}/{recipe}/shard{i}.csv"
        for recipe in trained_recipes(wc.dataset)
        for i in range(recipe_shards(recipe))
    ]


def nats_inputs(wc):
    """The benchmark's published accuracies for a dataset, when a NATS-Bench folder is set."""
    if NATS_PATH and wc.dataset in NATS_DATASETS:
        return [f"results/nats/{wc.dataset}.csv"]
    return []


#: the NB201 figures this config draws (a figure needing a recipe the config lacks is skipped)
NB201_FIGURES = [f.name for f in figures_of("nb201") if set(f.needs_recipes) <= set(NB201["recipes"])]
SIGNAL_FIGURES = [f.name for f in figures_of("signal")]
#: figures drawn from a workflow table (archscale.figures kind "evidence"); LR tables only
EVIDENCE_FIGURES = [f.name for f in figures_of("evidence")] if EXPERIMENTS else []


def nb201_targets():
    return [f"figures/{f}.{ext}" for f in NB201_FIGURES for ext in ("pdf", "png")]


def table_targets():
    return expand("figures/{table}.{ext}", table=TABLES, ext=("csv", "tex", "md"))


def result_targets():
    """The aggregated results behind every figure and table. figures/ is committed, results/ is
    not: asking for these makes a fresh clone's first run regenerate every figure (its jobs run,
    so every figure's input is updated) instead of finding figures/ present and stopping."""
    return lr_tables() + expand("results/tables/nb201_{dataset}.csv", dataset=NB201["datasets"]) + [
        "results/init_signal/signal.csv"
    ]


def all_targets():
    return (
        result_targets()
        + lr_figure_targets()
        + nb201_targets()
        + table_targets()
        + [f"figures/{f}.{ext}" for f in SIGNAL_FIGURES + EVIDENCE_FIGURES for ext in ("pdf", "png")]
        + ["figures/README.md"]
        + fetch_targets()
    )


# ---------------------------------------------------------------------------------------------
# Base networks: what base_lr_search trains for a wildcard set
# ---------------------------------------------------------------------------------------------


def base_params(wc):
    """Model and optimiser settings of a base network. NB201's base is searched with the
    NB201 recipe's optimiser (the rate it yields is used with that optimiser); MLP/CNN bases
    with the grid-search settings, like their targets."""
    search = search_settings()
    model = {
        "family": wc.family,
        "arch": RESIDUAL_BASE if is_residual(wc.family) else base_arch(wc.family),
        "width": int(wc.width),
        "kernel_size": int(wc.kernel),
        "activation": wc.act,
        "cells_per_stage": NB201["N"] if wc.family == "nb201" else 1,
    }
    if wc.family == "nb201":
        for k in ("batch_size", "momentum", "weight_decay"):
            search[k] = NB201[k]
        search["nesterov"] = NB201["nesterov"]
        search["epochs"] = NB201["base_epochs"] or search["epochs"]
    return {"model": model, "search": search}
