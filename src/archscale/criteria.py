"""Which rate of a grid is "the maximal learning rate": the criteria, applied at aggregation.

A grid-search job stores every rate's loss summary once (:func:`archscale.lr_search.summarise`:
initial and final training loss, divergence, the dataset's class count); which rate a
criterion picks is a reading of that table, so changing or adding a criterion re-runs
aggregation, tables and plots, never a grid search.

- ``min_loss`` (the paper's): the rate with the smallest final training loss; diverged rates
  are excluded.
- ``loss_ratio``: the largest rate whose final loss is below ``ratio`` x its initial loss (the
  largest rate that still trains).
- ``speed``: the smallest rate whose final loss reaches ``speed_level`` x ln(num_classes)
  (chance level is ln(num_classes), so the level means the same fraction of the way from chance
  on every dataset), log-interpolated between the last grid rate above the level and the first
  at or below it. NaN when no rate reaches the level, or when the smallest rate of the grid
  already does (the crossing lies below the grid: censored, not guessed).

:func:`archscale.lr_search.choose_max_lr` keeps its own ``min_loss`` and ``loss_ratio`` for the
grid job's ``max_lr`` column (the base rate of the principled NB201 recipe): importing this
module there would make an edit of a reading-tier criterion re-run every grid search.
``tests/test_lr_search.py`` checks that the two pick the same rate on real sweeps.

Pandas and numpy only (the light plot env runs aggregation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from archscale.laws import LAWS, column, law_factors

CRITERIA: tuple[str, ...] = ("min_loss", "loss_ratio", "speed")
#: The paper's criterion: what figs. 2, 3 and 5-7 draw by default.
PAPER_CRITERION = "min_loss"


def check_criterion(criterion: str) -> str:
    if criterion not in CRITERIA:
        raise ValueError(f"unknown max-lr criterion {criterion!r}; choose one of {', '.join(CRITERIA)}")
    return criterion


def _trained(grid: pd.DataFrame) -> pd.DataFrame:
    """The rates that did not diverge and have a final loss, in increasing rate order."""
    ok = grid[~grid["diverged"].astype(bool) & np.isfinite(grid["final_loss"])]
    return ok.sort_values("lr", kind="stable")


def speed_rate(grid: pd.DataFrame, level: float) -> float:
    """The smallest rate whose final loss is at or below ``level`` (an absolute loss),
    log2-interpolated between its grid neighbour above the level and itself; NaN when none
    reaches the level or the first rate of the grid already does."""
    ok = _trained(grid)
    lr = ok["lr"].to_numpy(dtype=float)
    loss = ok["final_loss"].to_numpy(dtype=float)
    hit = np.flatnonzero(loss <= level)
    if hit.size == 0 or hit[0] == 0:
        return math.nan
    i = int(hit[0])
    frac = (loss[i - 1] - level) / (loss[i - 1] - loss[i])  # loss[i-1] > level >= loss[i]
    return float(2.0 ** (math.log2(lr[i - 1]) + frac * (math.log2(lr[i]) - math.log2(lr[i - 1]))))


def choose_rate(grid: pd.DataFrame, criterion: str, *, ratio: float = 0.9, speed_level: float = 0.5) -> float:
    """The rate ``criterion`` picks from one grid (one architecture, seed and kernel size; rows
    as :func:`archscale.lr_search.summarise` writes them). NaN when no rate qualifies."""
    check_criterion(criterion)
    ok = _trained(grid)
    if ok.empty:
        return math.nan
    if criterion == "min_loss":
        return float(ok.loc[ok["final_loss"].idxmin(), "lr"])
    if criterion == "loss_ratio":
        good = ok[ok["final_loss"] < ratio * ok["initial_loss"]]
        return float(good["lr"].max()) if not good.empty else math.nan
    if "num_classes" not in grid:
        raise ValueError(
            "criterion speed needs the grid's num_classes column, which grids written before it was "
            "stored lack; re-run the grid searches (snakemake re-runs them: their code changed)"
        )
    return speed_rate(grid, speed_level * math.log(float(grid["num_classes"].iloc[0])))


def rates_by_criterion(
    grids: pd.DataFrame,
    criteria: Sequence[str],
    *,
    keys: Sequence[str] = ("arch", "kernel_size", "seed"),
    ratio: float = 0.9,
    speed_level: float = 0.5,
) -> pd.DataFrame:
    """One row per grid (``keys``) x criterion, criterion-major in the order given: the chosen
    ``rate``, the grid's size (``n_rates``) and its diverged rates (``n_diverged``)."""
    for c in criteria:
        check_criterion(c)
    rows = []
    for c in criteria:
        for key, g in grids.groupby(list(keys), sort=True):
            rows.append(
                dict(zip(keys, key, strict=True))
                | {
                    "criterion": c,
                    "rate": choose_rate(g, c, ratio=ratio, speed_level=speed_level),
                    "n_rates": len(g),
                    "n_diverged": int(g["diverged"].astype(bool).sum()),
                }
            )
    return pd.DataFrame(rows, columns=[*keys, "criterion", "rate", "n_rates", "n_diverged"])


def base_rate(grid: pd.DataFrame, criterion: str, *, ratio: float = 0.9, speed_level: float = 0.5) -> float:
    """The base network's rate under ``criterion``: the geometric mean over seeds of each seed's
    pick (as :func:`archscale.predict.combine_base_lr` combines the grid job's picks); NaN when
    no seed's grid qualifies."""
    picks = np.array(
        [choose_rate(g, criterion, ratio=ratio, speed_level=speed_level) for _, g in grid.groupby("seed")]
    )
    ok = picks[np.isfinite(picks) & (picks > 0)]
    return float(np.exp(np.log(ok).mean())) if ok.size else math.nan


def measured_vs_predicted(
    predicted: pd.DataFrame,
    grids: pd.DataFrame,
    base_grids: dict[int, pd.DataFrame],
    criteria: Sequence[str],
    *,
    ratio: float = 0.9,
    speed_level: float = 0.5,
) -> pd.DataFrame:
    """The tidy table of one experiment and dataset: one row per criterion x architecture x
    kernel size x seed, with the rate the criterion picks from the target's grid
    (``measured_lr``) and, for every law of :mod:`archscale.laws`, the rate it predicts from the
    base rate the same criterion picks from the base network's grid (``base_lr``; per kernel
    size, ``base_grids[k]``). ``predicted_lr`` is eq. 8/9's.

    ``predicted``: the workflow's predicted tables (``arch``, ``kernel_size``, ``n_paths``,
    ``depths``, ``lr_factor``); ``grids``: the target grids (rows of
    :func:`archscale.lr_search.summarise` with ``arch``, ``kernel_size``, ``seed``)."""
    measured = rates_by_criterion(grids, criteria, ratio=ratio, speed_level=speed_level)
    measured = measured.rename(columns={"rate": "measured_lr"})
    pred = predicted[["arch", "kernel_size", "n_paths", "depths", "lr_factor"]].reset_index(drop=True)
    pred = pd.concat([pred, law_factors(pred)], axis=1)
    base = pd.DataFrame(
        [
            {"kernel_size": k, "criterion": c, "base_lr": base_rate(g, c, ratio=ratio, speed_level=speed_level)}
            for k, g in base_grids.items()
            for c in criteria
        ],
        columns=["kernel_size", "criterion", "base_lr"],
    )
    table = measured.merge(pred, on=["arch", "kernel_size"], how="left", validate="many_to_one")
    table = table.merge(base, on=["kernel_size", "criterion"], how="left", validate="many_to_one")
    for law in LAWS:
        table[column(law)] = table["base_lr"] * table.pop(f"factor_{law}")
    return table
