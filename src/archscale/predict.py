"""Predicted rates: the base network's maximal rate from its grid search, and eq. 8/9 over
targets. Numbers that training jobs consume (the principled NB201 recipe's rate), so this module
is in the measuring tier: only pandas/numpy, no statistics or display constants, and an edit of
:mod:`archscale.analysis` re-runs none of the jobs that import it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from archscale.graphs import enumerate_space, parse
from archscale.scaling import UntrainableArchitecture, get_convention, lr_factor


def lr_table(
    family: str,
    base_lr: float,
    *,
    archs: Sequence[str] | None = None,
    kernel_size: int | None = None,
    n_nodes: int = 5,
) -> pd.DataFrame:
    """eq. 8/9 rate of every architecture of ``archs`` (default: the whole space).

    Untrainable NB201 cells get an empty ``lr`` and a ``reason``. Paths are counted once per
    graph (no model is built), so the whole NB201 space takes about a second.
    """
    rows = []
    for arch in archs if archs is not None else enumerate_space(family, n_nodes):
        g = parse(family, arch)
        conv = get_convention(None, g)
        row = {"arch": arch, "n_paths": g.n_paths}
        try:
            depths = conv.depths(g)
            factor = lr_factor(g, kernel_size=kernel_size)
            row.update(depths=" ".join(map(str, depths)), lr_factor=factor, lr=base_lr * factor, reason="")
        except UntrainableArchitecture:
            row.update(depths="", lr_factor=math.nan, lr=math.nan, reason="no input->output path")
        rows.append(row)
    return pd.DataFrame(rows, columns=["arch", "n_paths", "depths", "lr_factor", "lr", "reason"])


def combine_base_lr(tables: Sequence[pd.DataFrame] | pd.DataFrame) -> float:
    """The base network's maximal rate over seeds: the geometric mean of the per-seed picks
    (rates live on a log grid). Takes one table with a ``seed`` column or one table per seed.
    Raises when no seed found a rate, saying whether every rate diverged or none qualified."""
    if isinstance(tables, pd.DataFrame):
        picks = tables.groupby("seed")["max_lr"].first().to_numpy(dtype=float)
    else:
        picks = np.array([float(t["max_lr"].iloc[0]) for t in tables])
    ok = picks[np.isfinite(picks) & (picks > 0)]
    if ok.size == 0:
        raise ValueError(_no_base_rate_message(tables if isinstance(tables, pd.DataFrame) else pd.concat(tables)))
    return float(np.exp(np.log(ok).mean()))


def _no_base_rate_message(table: pd.DataFrame) -> str:
    """Why no seed found a base rate: every rate diverged, or (``loss_ratio``: min_loss picks any
    rate that did not diverge) some trained but none reached the criterion's threshold."""
    if "diverged" not in table or table["diverged"].astype(bool).all():
        return "every rate diverged for the base network at every seed; lower lr_search.min_exp"
    criterion = str(table["criterion"].iloc[0]) if "criterion" in table else "loss_ratio"
    what = "a qualifying rate"
    if criterion == "loss_ratio":
        ratio = f"{float(table['ratio'].iloc[0]):g}" if "ratio" in table else "ratio"
        what = f"a final loss below {ratio} x the initial loss"
    return (
        f"no rate reached {what} under criterion {criterion} for the base network at any seed "
        "(not every rate diverged); raise lr_search.max_exp / epochs or relax lr_search.ratio"
    )
