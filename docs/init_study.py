"""Does the release's initialisation change how well eq. 8 predicts the maximal rate? (docs/init.md)

Fig. 2-like check on digits: 24 N5 MLP DAGs (sample seed 0, the default fig. 2 set) plus 24
others (sample seed 1), width 128, one epoch of plain SGD at batch 32 per rate, grid
2^-8..2^3 in half octaves, criterion min_loss, 3 seeds; the measured maximal rate of an
architecture is the geometric mean over seeds. For ``init="release"`` and ``init="arch_aware"``
it prints the Pearson r of log(measured) vs log(eq. 8 factor) (``scaling.lr_factor``; the base
rate is a constant factor and drops out of r) with a bootstrap 95% CI over architectures, and
the paired difference of the two r's with its bootstrap CI.

    PYTHONPATH=src python docs/init_study.py      # ~3-5 min on 1 thread
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch
from scipy import stats

from archscale.data import load_dataset
from archscale.experiments import measure_max_lr
from archscale.graphs import sample_space
from archscale.scaling import lr_factor

torch.set_num_threads(1)
INITS = ("release", "arch_aware")
SEEDS = (0, 1, 2)
WIDTH = 128
SEARCH = {
    "min_exp": -8, "max_exp": 3, "step": 0.5, "epochs": 1, "batch_size": 32, "momentum": 0.0,
    "weight_decay": 0.0, "criterion": "min_loss", "ratio": 0.9, "tail_frac": 0.1, "refine": 0,
}  # fmt: skip


def arch_sets() -> dict[str, list[str]]:
    first = sample_space("mlp", 24, seed=0)
    second = [a for a in sample_space("mlp", 24, seed=1) if a not in first]
    return {"sample seed 0": first, "sample seed 1": second, "both": first + second}


def measure(archs: list[str], data) -> pd.DataFrame:
    """One row per (init, arch): geometric mean over seeds of the measured maximal rate."""
    rows = []
    for init in INITS:
        for arch in archs:
            picks = np.array(
                [
                    measure_max_lr(arch, data, model={"family": "mlp", "width": WIDTH, "init": init}, search=SEARCH,
                                   seed=s)["max_lr"].iloc[0]
                    for s in SEEDS
                ]
            )  # fmt: skip
            ok = picks[np.isfinite(picks) & (picks > 0)]
            measured = float(np.exp(np.log(ok).mean())) if ok.size else np.nan
            rows.append({"init": init, "arch": arch, "measured": measured, "predicted": lr_factor(arch)})
    return pd.DataFrame(rows)


def pearson_ci(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Pearson r and its bootstrap 95% CI (BCa) over architectures (pairs resampled together)."""
    r = float(stats.pearsonr(x, y).statistic)
    ci = stats.bootstrap(
        (x, y), lambda a, b: stats.pearsonr(a, b).statistic, paired=True, vectorized=False,
        n_resamples=2000, rng=np.random.default_rng(0),
    ).confidence_interval  # fmt: skip
    return r, float(ci.low), float(ci.high)


def difference_ci(a: np.ndarray, b: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """r(a, y) - r(b, y) and its paired bootstrap 95% CI (the same architectures resampled)."""

    def diff(a, b, y):
        return stats.pearsonr(a, y).statistic - stats.pearsonr(b, y).statistic

    ci = stats.bootstrap(
        (a, b, y), diff, paired=True, vectorized=False, n_resamples=2000, rng=np.random.default_rng(0)
    ).confidence_interval
    return float(diff(a, b, y)), float(ci.low), float(ci.high)


def main() -> None:
    t0 = time.perf_counter()
    data = load_dataset("digits", split="train")
    sets = arch_sets()
    df = measure(sets["both"], data)
    out = []
    for name, archs in sets.items():
        for init, g in df[df["arch"].isin(archs)].groupby("init", sort=False):
            g = g[np.isfinite(g["measured"])]
            r, lo, hi = pearson_ci(np.log(g["measured"].to_numpy()), np.log(g["predicted"].to_numpy()))
            out.append({"archs": name, "init": init, "n": len(g), "pearson_r": r, "ci95_low": lo, "ci95_high": hi})
    print("# Init study: Pearson r of log(measured) vs log(eq. 8) maximal rate, MLP on digits\n")
    print(f"Command: `python docs/init_study.py`; {time.perf_counter() - t0:.0f} s on 1 thread.\n")
    print(pd.DataFrame(out).to_markdown(index=False, floatfmt=".3f"))
    wide = df.pivot(index="arch", columns="init", values="measured").reindex(sets["both"])
    wide["eq8_factor"] = [lr_factor(a) for a in wide.index]
    diffs = []
    for name, archs in sets.items():
        w = np.log(wide.loc[archs].dropna())
        d, lo, hi = difference_ci(w["release"].to_numpy(), w["arch_aware"].to_numpy(), w["eq8_factor"].to_numpy())
        diffs.append({"archs": name, "n": len(w), "r_release_minus_r_arch_aware": d, "ci95_low": lo, "ci95_high": hi})
    print("\nPaired difference (same architectures resampled for both inits):\n")
    print(pd.DataFrame(diffs).to_markdown(index=False, floatfmt=".3f"))
    print("\nPer architecture (measured: geometric mean over seeds; predicted: eq. 8 factor):\n")
    print(wide.to_markdown(floatfmt=".4g"))


if __name__ == "__main__":
    main()
