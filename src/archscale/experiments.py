"""The learning-rate experiments as functions of plain settings, so a grid-search job (or a
Python shell) is one call: measure the maximal rate of one architecture at one seed. NB201
trainings live in :mod:`archscale.recipes`, so an edit of either re-runs only its own jobs."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd

from archscale.data import TensorData
from archscale.lr_search import lr_grid, search_max_lr
from archscale.models import build_model
from archscale.train import TrainConfig

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
    engine: str = "auto",
) -> pd.DataFrame:
    """Grid-search the maximal rate of one architecture at one seed (weights and data order
    from ``seed``). ``model``: family, width, kernel_size, activation, cells_per_stage, init
    (default ``release``).
    ``search['chunk']`` (optional): rates per pass, see :func:`archscale.lr_search.batched_sweep`.
    Returns one row per rate with ``max_lr`` (NaN if no rate qualified),
    ``chosen``, and the ``criterion`` and ``ratio`` it was chosen by."""
    net = build_model(
        model["family"],
        arch,
        width=model["width"],
        num_classes=train_data.num_classes,
        in_shape=train_data.in_shape,
        kernel_size=model.get("kernel_size", 3),
        activation=model.get("activation", "relu"),
        cells_per_stage=model.get("cells_per_stage", 1),
        init=model.get("init", "release"),
        in_degree=model.get("in_degree", "source"),
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
        engine=engine,
        chunk=search.get("chunk"),
    )
    table.insert(0, "arch", arch)
    table.insert(1, "seed", seed)
    table["max_lr"] = best
    table["criterion"] = search["criterion"]
    table["ratio"] = search["ratio"]
    table["search_seconds"] = time.perf_counter() - t0
    return table
