"""The paper's experiments as functions of plain settings, so a workflow job (or a Python
shell) is one call: measure a maximal rate, train a cell with a recipe, combine seeds."""

from __future__ import annotations

import math
import time
from typing import Any

import pandas as pd

from archscale.analysis import combine_base_lr  # noqa: F401  (re-exported: the workflow's name for it)
from archscale.data import TensorData
from archscale.lr_search import lr_grid, search_max_lr
from archscale.models import build_model
from archscale.scaling import scaled_lr
from archscale.train import TrainConfig, train

#: NAS-Bench-201 training recipes (paper figs. 4 and 8).
RECIPES = ("standard", "principled", "mup")
#: Grid-search keys that configure the optimiser (the rest choose the grid and criterion).
_OPTIM_KEYS = ("epochs", "batch_size", "momentum", "weight_decay", "nesterov")


def search_config(search: dict[str, Any], seed: int) -> TrainConfig:
    """The optimiser of a grid search: constant rate, as in the paper's one-epoch criterion."""
    opts = {k: search[k] for k in _OPTIM_KEYS if k in search}
    opts.setdefault("nesterov", False)
    opts["nesterov"] = bool(opts["nesterov"] and opts.get("momentum", 0) > 0)
    return TrainConfig(lr=1.0, schedule="constant", seed=seed, **opts)


def measure_max_lr(
    arch: str,
    train_data: TensorData,
    *,
    model: dict[str, Any],
    search: dict[str, Any],
    seed: int,
) -> pd.DataFrame:
    """Grid-search the maximal rate of one architecture at one seed (weights and data order
    from ``seed``). ``model``: family, width, kernel_size, activation, cells_per_stage.
    ``search['chunk']`` (optional): rates per pass, see :func:`archscale.lr_search.batched_sweep`.
    Returns one row per rate with ``max_lr`` (NaN if every rate diverged) and ``chosen``."""
    net = build_model(
        model["family"],
        arch,
        width=model["width"],
        num_classes=train_data.num_classes,
        in_shape=train_data.in_shape,
        kernel_size=model.get("kernel_size", 3),
        activation=model.get("activation", "relu"),
        cells_per_stage=model.get("cells_per_stage", 1),
        init=model.get("init", "arch_aware"),
        seed=seed,
    )
    t0 = time.perf_counter()
    table, best = search_max_lr(
        net,
        train_data,
        lr_grid(search["min_exp"], search["max_exp"], search["step"]),
        search_config(search, seed),
        criterion=search["criterion"],
        ratio=search["ratio"],
        tail_frac=search["tail_frac"],
        refine=search["refine"],
        chunk=search.get("chunk"),
    )
    table.insert(0, "arch", arch)
    table.insert(1, "seed", seed)
    table["max_lr"] = best
    table["search_seconds"] = time.perf_counter() - t0
    return table


def train_cell(
    cell: str,
    train_data: TensorData,
    test_data: TensorData,
    *,
    recipe: str,
    settings: dict[str, Any],
    C: int,
    N: int,
    seed: int,
    base_lr: float | None = None,
    checkpoint_path: str | None = None,
) -> dict[str, Any]:
    """Train one NAS-Bench-201 cell with a recipe; one tidy row.

    ``standard``: Kaiming init, the recipe's fixed ``lr``. ``principled``: eq. 4 init and the
    eq. 8 rate from ``base_lr`` (the base cell's measured maximal rate). ``mup``: μP through
    microsoft's ``mup`` (MuReadout, base shapes at ``settings['mup_base_C']``, MuSGD at ``lr``;
    see :mod:`archscale.mup_recipe`)."""
    if recipe in ("standard", "mup"):
        init, lr = ("kaiming" if recipe == "standard" else "mup"), settings["lr"]
    elif recipe == "principled":
        if base_lr is None:
            raise ValueError("the principled recipe needs the base cell's maximal rate (base_lr)")
        init, lr = "arch_aware", scaled_lr(base_lr, cell)
    else:
        raise ValueError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    cfg = TrainConfig(
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        lr=lr,
        momentum=settings["momentum"],
        nesterov=settings["nesterov"],
        weight_decay=settings["weight_decay"],
        augment=settings["augment"],
        checkpoint_every=settings.get("checkpoint_every", 0),
        seed=seed,
    )
    make_optimizer = None
    if recipe == "mup":
        from archscale.mup_recipe import BASE_C, build_mup_nb201, mup_optimizer

        net = build_mup_nb201(
            cell, C=C, N=N, num_classes=train_data.num_classes, in_channels=train_data.in_shape[0],
            base_C=settings.get("mup_base_C", BASE_C), seed=seed,
        )  # fmt: skip
        make_optimizer = lambda m: mup_optimizer(m, cfg.lr, cfg.momentum, cfg.nesterov, cfg.weight_decay)
    else:
        net = build_model(
            "nb201", cell, width=C, cells_per_stage=N, num_classes=train_data.num_classes,
            in_shape=train_data.in_shape, init=init, seed=seed,
        )  # fmt: skip
    record = train(net, train_data, test_data, cfg, checkpoint_path=checkpoint_path, make_optimizer=make_optimizer)
    final = record["final"]
    return {
        "arch": cell,
        "recipe": recipe,
        "seed": seed,
        "init": init,
        "lr": lr,
        "base_lr": base_lr if base_lr is not None else math.nan,
        "epochs": cfg.epochs,
        "train_loss": final["train_loss"],
        "train_acc": final["train_acc"],
        "test_loss": final["test_loss"],
        "test_acc": 100.0 * final["test_acc"],
        "diverged": record["diverged"],
        "diverged_step": record["diverged_step"],
        "wall_time_s": record["wall_time_s"],
    }
