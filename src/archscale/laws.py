"""Competing laws for the maximal rate: does eq. 8's path sum explain the measured rates
better than a simpler statistic of the same DAG?

Each law maps an architecture's path depths L_p (and its number of paths) to a rate relative
to the base network's, the way eq. 8 does:

- ``eq8`` (the paper's): (sum_p L_p^3)^(-1/2);
- ``shortest``: L_min^(-3/2), the shortest path alone (the depth law of a chain, applied to
  the DAG's shallowest route);
- ``longest``: L_max^(-3/2), the deepest path alone;
- ``paths``: n_paths^(-1/2), the number of paths alone, ignoring depth.

Every law is normalised by its value on the base network (a single path of the base depth, so
a law predicts the base rate for the base network) and multiplied by the same kernel factor
q_base / q that eq. 9 applies (read back from the ``lr_factor`` the workflow predicted, so CNNs
are scaled identically under every law). Reading tier; standard library, numpy and pandas
only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from archscale.residual_arch import parse_residual
from archscale.scaling import as_graph, default_convention

LAWS: tuple[str, ...] = ("eq8", "shortest", "longest", "paths")
#: The paper's law, the one figs. 2, 3 and 5-7 draw.
PAPER_LAW = "eq8"


def check_law(law: str) -> str:
    if law not in LAWS:
        raise ValueError(f"unknown law {law!r}; choose one of {', '.join(LAWS)}")
    return law


def law_value(depths: Sequence[int], n_paths: int, law: str) -> float:
    """The law's unnormalised rate for path depths ``depths`` and ``n_paths`` paths, e.g.
    depths 1 2 2 3: eq8 44^-1/2, shortest 1, longest 3^-3/2, paths (4 paths) 4^-1/2."""
    check_law(law)
    d = np.asarray(depths, dtype=float)
    if d.size == 0 or (d <= 0).any():
        return math.nan
    if law == "eq8":
        return float(np.sum(d**3) ** -0.5)
    if law == "shortest":
        return float(d.min() ** -1.5)
    if law == "longest":
        return float(d.max() ** -1.5)
    return float(n_paths**-0.5) if n_paths >= 1 else math.nan


def law_factor(depths: Sequence[int], n_paths: int, law: str, base_depths: Sequence[int]) -> float:
    """The law's rate relative to the base network's (a single path when ``base_depths`` has
    one entry), before any kernel factor."""
    return law_value(depths, n_paths, law) / law_value(base_depths, len(base_depths), law)


def parse_depths(depths: str | float) -> list[int]:
    """The ``depths`` column of a predicted table: space-separated L_p, which pandas reads as a
    number when there is one path (``3``, or ``3.0`` in a column with gaps) and as NaN when
    there is none (an untrainable cell); residual networks, whose paths number in thousands,
    write ``depth:count`` pairs (``3:1 4:2``)."""
    if isinstance(depths, float) and math.isnan(depths):
        return []
    out: list[int] = []
    for item in str(depths).split():
        depth, _, count = item.partition(":")
        out += [int(float(depth))] * (int(count) if count else 1)
    return out


def base_depths(arch: str) -> list[int]:
    """The path depths of the network an architecture's rate is scaled from: the DAG family's
    base (release counting), or ``b0`` (stem -> readout, one path of 2 layers) for residual ones."""
    if arch.startswith("b"):  # residual (archscale.residual_arch); DAG codes start with a digit
        parse_residual(arch)
        return [2]
    return list(default_convention(as_graph(arch)).base_depths)


def column(law: str) -> str:
    """The tidy table's column holding ``law``'s predicted rate (eq. 8's is ``predicted_lr``)."""
    return "predicted_lr" if check_law(law) == PAPER_LAW else f"predicted_lr_{law}"


def law_factors(predicted: pd.DataFrame, laws: Sequence[str] = LAWS) -> pd.DataFrame:
    """Per row of a predicted table (``arch``, ``depths``, ``n_paths``, ``lr_factor``): the
    kernel factor (``lr_factor`` over eq. 8's depth factor: whatever eq. 9 applied, 1 for MLPs)
    and each law's factor times it, as ``factor_<law>`` (so ``factor_eq8`` is ``lr_factor``)."""
    out = pd.DataFrame(index=predicted.index)
    base = [base_depths(str(a)) for a in predicted["arch"]]
    depths = [parse_depths(d) for d in predicted["depths"]]
    eq8 = np.array([law_factor(d, 0, "eq8", b) for d, b in zip(depths, base, strict=True)])
    # rounded: a ratio of two floating-point factors, so that equal factors stay equal (the
    # paths law of plain chains is exactly constant, not constant up to rounding noise)
    out["kernel_factor"] = np.round(predicted["lr_factor"].to_numpy(dtype=float) / eq8, 12)
    for law in laws:
        f = np.array(
            [law_factor(d, int(n), law, b) for d, n, b in zip(depths, predicted["n_paths"], base, strict=True)]
        )
        out[f"factor_{law}"] = f * out["kernel_factor"].to_numpy()
    return out
