"""tables: the paper's tables as CSV + LaTeX + Markdown under figures/."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115

import _src_path  # noqa: E402, F401  (this checkout's archscale, in any env)
import pandas as pd  # noqa: E402

from archscale.analysis import lr_correlation_table, lr_laws_table, nb201_table, nb201_top_table  # noqa: E402
from archscale.atomic import atomic_write_table  # noqa: E402

sm = snakemake  # noqa: F821
boot = sm.params.boot  # one bootstrap for every interval: tables and figure titles agree
nb201 = {Path(f).stem.removeprefix("nb201_"): pd.read_csv(f) for f in sm.input.nb201}
lr = [pd.read_csv(f) for f in sm.input.lr]
atomic_write_table(lr_correlation_table(lr, **boot), Path(sm.output.lr_csv).with_suffix(""))
atomic_write_table(lr_laws_table(lr, **boot), Path(sm.output.laws_csv).with_suffix(""))
atomic_write_table(nb201_table(nb201, **boot), Path(sm.output.nb201_csv).with_suffix(""))
atomic_write_table(nb201_top_table(nb201), Path(sm.output.top_csv).with_suffix(""))
