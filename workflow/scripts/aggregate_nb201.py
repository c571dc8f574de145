"""aggregate_nb201: every recipe's per-cell results for one dataset in one tidy table; the
benchmark's published accuracies join as recipe ``nats`` (per seed, and their mean)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115

import _src_path  # noqa: E402, F401  (this checkout's archscale, in any env)
import pandas as pd  # noqa: E402

from archscale.atomic import atomic_write_csv  # noqa: E402

sm = snakemake  # noqa: F821
table = pd.concat([pd.read_csv(f) for f in sm.input.runs], ignore_index=True)
for f in sm.input.nats:
    nats = pd.read_csv(f)
    rows = nats.rename(columns={"accuracy": "test_acc"})[["arch", "seed", "test_acc"]].assign(
        recipe="nats", init="kaiming", lr=0.1, diverged=False
    )
    table = pd.concat([table, rows], ignore_index=True)
table.insert(0, "dataset", sm.wildcards.dataset)
atomic_write_csv(sm.output.table, table)
