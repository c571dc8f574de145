"""plot_nb201: figs. 4, 8 and 9 from the per-dataset NAS-Bench-201 tables, as PDF and PNG."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115

import _src_path  # noqa: E402, F401  (this checkout's archscale, in any env)
import pandas as pd  # noqa: E402

from archscale.atomic import atomic_savefig  # noqa: E402
from archscale.plots import fig_kendall_seeds, fig_mup_nb201, fig_nb201  # noqa: E402

sm = snakemake  # noqa: F821
draw = {"fig4_nb201": fig_nb201, "fig8_mup_nb201": fig_mup_nb201, "fig9_kendall_seeds": fig_kendall_seeds}
tables = {ds: pd.read_csv(f) for ds, f in zip(sm.params.datasets, sm.input.tables, strict=True)}
fig = draw[sm.params.figure](tables)
atomic_savefig(fig, sm.output.pdf)
atomic_savefig(fig, sm.output.png, dpi=110)
