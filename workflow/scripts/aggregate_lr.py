"""aggregate_lr: one tidy table per experiment and dataset: measured vs predicted per
(architecture, kernel size, seed)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115

import _src_path  # noqa: E402, F401  (this checkout's archscale, in any env)
import pandas as pd  # noqa: E402

from archscale.atomic import atomic_write_csv  # noqa: E402

sm = snakemake  # noqa: F821
predicted = pd.concat([pd.read_csv(f) for f in sm.input.predicted], ignore_index=True)
grids = pd.concat([pd.read_csv(f) for f in sm.input.measured], ignore_index=True)
measured = grids.groupby(["arch", "kernel_size", "seed"], as_index=False).agg(
    measured_lr=("max_lr", "first"), n_rates=("lr", "size"), n_diverged=("diverged", "sum")
)
table = measured.merge(predicted[["arch", "kernel_size", "n_paths", "depths", "predicted_lr", "base_lr"]],
                       on=["arch", "kernel_size"], how="left", validate="many_to_one")  # fmt: skip
table.insert(0, "experiment", sm.wildcards.exp)
table.insert(1, "dataset", sm.wildcards.dataset)
atomic_write_csv(sm.output.table, table)
