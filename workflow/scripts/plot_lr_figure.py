"""plot_lr_figure: one measured-vs-predicted figure (figs. 2, 3, 5-7) as PDF and PNG."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115

import _src_path  # noqa: E402, F401  (this checkout's archscale, in any env)
import pandas as pd  # noqa: E402

from archscale import plots  # noqa: E402
from archscale.atomic import atomic_savefig  # noqa: E402
from archscale.figures import figure  # noqa: E402

sm = snakemake  # noqa: F821
spec = figure(sm.params.fig)
table = pd.concat([pd.read_csv(f) for f in sm.input.tables], ignore_index=True)
table = table[table["criterion"] == sm.params.criterion]  # the drawn criterion: analysis.criteria[0]
fig = plots.draw(spec.plot, table, title=spec.title, dataset=sm.params.dataset, optional=sm.params.boot)
atomic_savefig(fig, sm.output.pdf)
atomic_savefig(fig, sm.output.png, dpi=110)
