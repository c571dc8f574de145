"""aggregate_lr: one tidy table per experiment and dataset: per criterion x architecture x
kernel size x seed, the rate the criterion picks from the stored grid, and the rate each law
predicts from the base network's rate under the same criterion (archscale.criteria)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115

import _src_path  # noqa: E402, F401  (this checkout's archscale, in any env)
import pandas as pd  # noqa: E402

from archscale.atomic import atomic_write_csv  # noqa: E402
from archscale.criteria import measured_vs_predicted  # noqa: E402

sm = snakemake  # noqa: F821
p = sm.params
# DAG codes are strings, whatever they look like: chains of depth 3 and 4 are codes "1" and "2"
predicted = pd.concat([pd.read_csv(f, dtype={"arch": str}) for f in sm.input.predicted], ignore_index=True)
grids = pd.concat([pd.read_csv(f, dtype={"arch": str}) for f in sm.input.measured], ignore_index=True)
base = {int(k): pd.read_csv(f) for k, f in zip(p.kernels, sm.input.base, strict=True)}
table = measured_vs_predicted(predicted, grids, base, p.criteria, ratio=p.ratio, speed_level=p.speed_level)
table.insert(0, "experiment", sm.wildcards.exp)
table.insert(1, "dataset", sm.wildcards.dataset)
for (c, k), g in table.groupby(["criterion", "kernel_size"], sort=False):
    print(f"{c} k{k}: base lr {g['base_lr'].iloc[0]:.4g}, {g['measured_lr'].notna().sum()} of {len(g)} rates",
          file=sys.stderr)  # fmt: skip
atomic_write_csv(sm.output.table, table)
