"""plot_nb201: fig. 4, one row per dataset, as PDF and PNG."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115

import pandas as pd  # noqa: E402

from archscale.atomic import atomic_savefig  # noqa: E402
from archscale.plots import fig_nb201  # noqa: E402

sm = snakemake  # noqa: F821
tables = {ds: pd.read_csv(f) for ds, f in zip(sm.params.datasets, sm.input.tables, strict=True)}
fig = fig_nb201(tables)
atomic_savefig(fig, sm.output.pdf)
atomic_savefig(fig, sm.output.png, dpi=120)
