"""Does eq. 8 hold beyond the paper's DAG spaces? Measured vs traced-predicted maximal rates of
residual MLPs/CNNs (:mod:`archscale.models.resnet`), one tidy row per configuration x seed.

The grid search is the workflow's (:func:`archscale.lr_search.search_max_lr` with
:func:`archscale.experiments.search_config`), on a model instead of a DAG code.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pandas as pd
from torch import nn

from archscale.data import TensorData
from archscale.experiments import search_config
from archscale.lr_search import lr_grid, search_max_lr
from archscale.models.resnet import ResidualConfig, build_residual, residual_lr_factor


def search_model_max_lr(net: nn.Module, train_data: TensorData, *, search: dict[str, Any], seed: int):
    """Grid-search the maximal rate of any module with the workflow's ``search`` settings
    (min_exp, max_exp, step, criterion, ratio, tail_frac, refine and the optimiser keys).
    Returns (table, max_lr); engine ``auto`` (vmap for modules the grouped engine lacks)."""
    return search_max_lr(
        net,
        train_data,
        lr_grid(search["min_exp"], search["max_exp"], search["step"]),
        search_config(search, seed),
        criterion=search["criterion"],
        ratio=search.get("ratio", 0.9),
        tail_frac=search.get("tail_frac", 0.1),
        refine=search.get("refine", 0),
        engine=search.get("engine", "auto"),
    )


def measure_residual_max_lrs(
    configs: Sequence[ResidualConfig],
    train_data: TensorData,
    *,
    search: dict[str, Any],
    seeds: Sequence[int],
    init: str = "arch_aware",
) -> pd.DataFrame:
    """Measured maximal rate of every configuration at every seed, beside eq. 8's predicted
    factor from the trace (base: the 0-block network). Columns: arch, kind, blocks, width,
    downsample, n_paths, depth_sum, predicted_lr_factor, seed, max_lr, search_seconds."""
    from archscale.trace import graph_of

    rows = []
    for cfg in configs:
        factor = residual_lr_factor(cfg, train_data.in_shape, train_data.num_classes)
        for seed in seeds:
            net = build_residual(
                cfg.kind, cfg.blocks, cfg.width, cfg.downsample, train_data.num_classes, train_data.in_shape,
                seed=seed, init=init,
            )  # fmt: skip
            traced = graph_of(net, train_data.x[:1])
            t0 = time.perf_counter()
            _, best = search_model_max_lr(net, train_data, search=search, seed=seed)
            rows.append(
                {
                    "arch": cfg.name,
                    "kind": cfg.kind,
                    "blocks": cfg.blocks,
                    "width": cfg.width,
                    "downsample": cfg.downsample,
                    "n_paths": traced.n_paths,
                    "depth_sum": traced.depth_sum(),
                    "predicted_lr_factor": factor,
                    "seed": seed,
                    "max_lr": best,
                    "search_seconds": time.perf_counter() - t0,
                }
            )
    return pd.DataFrame(rows)
