"""plot_nb201: one NAS-Bench-201 figure (figs. 4, 8, 9) from the per-dataset tables, as PDF and PNG."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115

import _src_path  # noqa: E402, F401  (this checkout's archscale, in any env)
import pandas as pd  # noqa: E402

from archscale import plots  # noqa: E402
from archscale.atomic import atomic_savefig  # noqa: E402
from archscale.figures import figure  # noqa: E402

sm = snakemake  # noqa: F821
spec = figure(sm.params.figure)
tables = {ds: pd.read_csv(f) for ds, f in zip(sm.params.datasets, sm.input.tables, strict=True)}
fig = plots.draw(spec.plot, tables, title=spec.title, optional=sm.params.boot)
atomic_savefig(fig, sm.output.pdf)
atomic_savefig(fig, sm.output.png, dpi=110)
