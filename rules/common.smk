# The workflow's Python: config checks beyond the schema, target lists, input functions,
# wildcard constraints. Other .smk files hold only rules; the science is in src/archscale.

import functools
import math
import sys
from pathlib import Path

from archscale.code_hash import code_hashes
from archscale.graphs import base_arch, chain_dag, sample_space
from archscale.graphs import parse as parse_arch

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
    family=r"mlp|cnn|nb201",
    act=r"relu|gelu",
    width=r"\d+",
    kernel=r"\d+",
    seed=r"\d+",
    shard=r"\d+",
    recipe=r"standard|principled|mup",


# Content hash of the library code each script runs (its archscale imports, transitively, read
# from this checkout's src/: the editable install `make` sets up): a rule whose params carry
# CODE[script] re-runs when, and only when, that code changes.
LIB = ROOT / "src" / "archscale"
CODE = code_hashes(sorted((ROOT / "workflow" / "scripts").glob("*.py")), LIB)


def run_settings():
    """Settings every training job shares (device, data location)."""
    return {"device": config["device"], "data_root": config["data_root"], "download": config["download"]}


# ---------------------------------------------------------------------------------------------
# Learning-rate experiments
# ---------------------------------------------------------------------------------------------


@functools.cache
def exp_archs(exp):
    """The target architectures of experiment ``exp`` (checked: a bad code names its key)."""
    e = EXPERIMENTS[exp]
    n_nodes = e.get("n_nodes", 5)
    archs = e.get("archs", "sample")
    if archs == "sample":
        return sample_space(e["family"], e.get("n_archs", 24), seed=e.get("sample_seed", 0), n_nodes=n_nodes)
    if archs == "chains":  # release counting: L = parameterised layers + 3, so L = 3 is the base
        return [chain_dag(d - 3, n_nodes=max(d - 2, 2)) for d in e.get("depths", [3, 4, 5, 6, 7, 8, 9, 10])]
    for i, a in enumerate(archs):
        try:
            parse_arch(e["family"], a)
        except ValueError as err:
            config_error(f"lr_experiments.{exp}.archs[{i}]: {err}")
    return list(archs)


def n_shards(items, size):
    return max(1, math.ceil(len(items) / size))


def shard(items, i, size):
    return items[i * size : (i + 1) * size]


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
    paper's base, eq. 9 scales from it); MLPs ignore the kernel."""
    e = EXPERIMENTS[exp]
    base_kernel = 3
    return base_key(e["family"], e.get("activation", "relu"), e["width"], base_kernel)


def exp_figure(exp):
    return EXPERIMENTS[exp].get("figure", exp)


#: figure name -> its experiments (panels), in config order
LR_FIGURES = {}
for _exp in EXPERIMENTS:
    LR_FIGURES.setdefault(exp_figure(_exp), []).append(_exp)


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
NB201_SHARDS = n_shards(NB201_CELLS, NB201["shard_size"])
NB201_BASE = base_key("nb201", "relu", NB201["C"], 3)


def nb201_recipe(recipe):
    """The training settings of a recipe (all but the rate and init are the benchmark's)."""
    keys = ("epochs", "batch_size", "lr", "momentum", "nesterov", "weight_decay", "augment", "checkpoint_every")
    out = {k: NB201[k] for k in keys}
    if recipe == "mup":
        out["mup_base_C"] = NB201["mup_base_C"]
    return out


NATS_PATH = config.get("nats_bench_path")
NATS_DATASETS = ("cifar10", "cifar100", "imagenet16-120")
if NATS_PATH:
    from archscale.nats import check_path as check_nats_path

    try:
        check_nats_path(NATS_PATH)
    except ValueError as err:
        config_error(f"nats_bench_path: {err}")


def nats_inputs(wc):
    """The benchmark's published accuracies for a dataset, when a NATS-Bench folder is set."""
    if NATS_PATH and wc.dataset in NATS_DATASETS:
        return [f"results/nats/{wc.dataset}.csv"]
    return []


def nb201_targets():
    figs = ["fig4_nb201", "fig9_kendall_seeds"] + (["fig8_mup_nb201"] if "mup" in NB201["recipes"] else [])
    return [f"figures/{f}.{ext}" for f in figs for ext in ("pdf", "png")]


def table_targets():
    return expand("figures/{table}.{ext}", table=("table_lr_correlation", "table_nb201", "table_nb201_top"), ext=("csv", "tex", "md"))


def all_targets():
    return (
        lr_figure_targets()
        + nb201_targets()
        + table_targets()
        + ["figures/fig_init_signal.pdf", "figures/fig_init_signal.png", "figures/README.md"]
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
        "arch": base_arch(wc.family),
        "width": int(wc.width),
        "kernel_size": int(wc.kernel),
        "activation": wc.act,
        "cells_per_stage": NB201["N"] if wc.family == "nb201" else 1,
    }
    if wc.family == "nb201":
        for k in ("batch_size", "momentum", "weight_decay"):
            search[k] = NB201[k]
        search["nesterov"] = NB201["nesterov"]
    return {"model": model, "search": search}
