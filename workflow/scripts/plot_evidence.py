"""plot_evidence: a figure drawn from one of the workflow's tables (fig_criteria, fig_laws)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115

import _src_path  # noqa: E402, F401  (this checkout's archscale, in any env)
import pandas as pd  # noqa: E402

from archscale import plots  # noqa: E402
from archscale.atomic import atomic_savefig  # noqa: E402
from archscale.figures import figure  # noqa: E402

sm = snakemake  # noqa: F821
spec = figure(sm.params.figure)
fig = getattr(plots, spec.plot)(pd.read_csv(sm.input.table), title=spec.title)
atomic_savefig(fig, sm.output.pdf)
atomic_savefig(fig, sm.output.png, dpi=110)
