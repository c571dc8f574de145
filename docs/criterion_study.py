"""Which "maximal learning rate" setting shows eq. 8 on digits? (docs/method.md, section 4)

Measures, for the default fig. 2 experiment (24 N5 MLP DAGs, width 128, 3 seeds), the Pearson r
of log(predicted) vs log(measured maximal rate) under every combination of the four settings
the config exposes: criterion (min_loss / loss_ratio), budget (epochs), grid resolution (step)
and number of seeds. One batched sweep per (arch, seed, budget, step) serves both criteria.

    .venv/bin/python docs/criterion_study.py > docs/criterion_study.md
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import pandas as pd
import torch

from archscale.analysis import lr_correlation
from archscale.data import load_dataset
from archscale.graphs import base_arch, sample_space
from archscale.lr_search import batched_sweep, choose_max_lr, lr_grid, summarise
from archscale.models import build_model
from archscale.predict import combine_base_lr
from archscale.scaling import scaled_lr
from archscale.train import TrainConfig

torch.set_num_threads(1)
DATA = load_dataset("digits", split="train")
ARCHS = sample_space("mlp", 24, seed=0)
SEEDS = (0, 1, 2)
WIDTH = 128


def measured(arch: str, seed: int, epochs: int, step: float) -> pd.DataFrame:
    model = build_model("mlp", arch, width=WIDTH, num_classes=10, in_shape=DATA.in_shape, seed=seed)
    cfg = TrainConfig(
        epochs=epochs, batch_size=32, lr=1.0, momentum=0.0, weight_decay=0.0, schedule="constant", seed=seed
    )
    table = summarise(batched_sweep(model, DATA, lr_grid(-8, 3, step), cfg))
    return pd.DataFrame(
        {
            "criterion": ["min_loss", "loss_ratio"],
            "max_lr": [choose_max_lr(table, "min_loss"), choose_max_lr(table, "loss_ratio", ratio=0.9)],
        }
    )


def main() -> None:
    t0 = time.perf_counter()
    rows = []
    for epochs, step in itertools.product((1, 2), (0.5, 0.25)):
        for arch in [base_arch("mlp"), *ARCHS]:
            for seed in SEEDS:
                m = measured(arch, seed, epochs, step)
                m["arch"], m["seed"], m["epochs"], m["step"] = arch, seed, epochs, step
                rows.append(m)
    df = pd.concat(rows, ignore_index=True)
    out = []
    for (epochs, step, criterion), g in df.groupby(["epochs", "step", "criterion"]):
        for n_seeds in (1, 2, 3):
            g2 = g[g["seed"] < n_seeds]
            base = combine_base_lr(g2[g2["arch"] == base_arch("mlp")])
            per_arch = g2[g2["arch"] != base_arch("mlp")].groupby("arch")["max_lr"].apply(
                lambda v: float(np.exp(np.log(v[v > 0]).mean())) if (v > 0).any() else np.nan
            )
            predicted = [scaled_lr(base, a) for a in per_arch.index]
            r = lr_correlation(per_arch.to_numpy(), predicted)
            out.append({"criterion": criterion, "epochs": epochs, "step": step, "seeds": n_seeds, **r})
    res = pd.DataFrame(out)
    print("# Maximal-LR criterion study on digits (fig. 2 default: 24 N5 MLP DAGs, width 128)\n")
    print(f"Command: `.venv/bin/python docs/criterion_study.py`; {time.perf_counter() - t0:.0f} s on 1 thread.\n")
    print(res.to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
