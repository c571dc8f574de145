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
from archscale.residual_arch import RESIDUAL_FAMILIES, RESIDUAL_KERNEL, parse_residual
from archscale.scaling import UntrainableArchitecture, get_convention, lr_factor

_COLUMNS = ["arch", "n_paths", "depths", "lr_factor", "lr", "reason"]


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
    graph (no model is built), so the whole NB201 space takes about a second. Residual families
    (``resmlp``, ``rescnn``; ``archs`` required) are traced instead: :func:`residual_lr_table`.
    """
    if family in RESIDUAL_FAMILIES:
        if archs is None:
            raise ValueError(f"{family} has no architecture space to enumerate; list archs, e.g. ['b2', 'b4d']")
        return residual_lr_table(family, base_lr, archs=archs, kernel_size=kernel_size)
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
    return pd.DataFrame(rows, columns=_COLUMNS)


def residual_lr_table(
    family: str, base_lr: float, *, archs: Sequence[str], kernel_size: int | None = None
) -> pd.DataFrame:
    """eq. 8 rate of residual architectures (``b6``, ``b6d``) from their ``torch.fx`` trace
    (:func:`archscale.models.resnet.residual_lr_factor`: every Linear/Conv on a path counts, the
    base being ``b0``, stem -> readout, one path of depth 2). ``depths`` holds the traced depth
    counts as ``depth:paths`` pairs (a 12-block net has 4,096 paths). The blocks' convolutions
    are 3x3, so ``kernel_size`` may only be None or 3 (eq. 9's factor 1)."""
    import torch  # here, not at the top: DAG-family tables never need it

    from archscale.models.resnet import ResidualConfig, residual_lr_factor, residual_net
    from archscale.trace import graph_of

    if kernel_size not in (None, RESIDUAL_KERNEL):
        raise ValueError(f"{family} blocks use 3x3 convolutions; kernel_size must be 3, got {kernel_size}")
    kind, in_shape = RESIDUAL_FAMILIES[family], (1, 8, 8)  # the trace does not depend on width or input size
    rows = []
    for arch in archs:
        a = parse_residual(arch)
        config = ResidualConfig(kind, a.blocks, 2, a.downsample)
        net = residual_net(kind, a.blocks, 2, a.downsample, num_classes=2, in_shape=in_shape)
        traced = graph_of(net, torch.zeros(1, *in_shape))
        factor = residual_lr_factor(config, in_shape, num_classes=2)
        depths = " ".join(f"{d}:{n}" for d, n in traced.depth_counts.items())
        row = {"arch": arch, "n_paths": traced.n_paths, "depths": depths, "lr_factor": factor}
        rows.append({**row, "lr": base_lr * factor, "reason": ""})
    return pd.DataFrame(rows, columns=_COLUMNS)


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
