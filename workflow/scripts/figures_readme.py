"""figures_readme: figures/README.md with every figure and its numbers beside the paper's."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115

import _src_path  # noqa: E402, F401  (this checkout's archscale, in any env)
import pandas as pd  # noqa: E402

from archscale.atomic import atomic_write_text  # noqa: E402
from archscale.report import figures_readme  # noqa: E402

sm = snakemake  # noqa: F821
tables = {name: pd.read_csv(path) for name, path in sm.input.items() if name != "figures"}
atomic_write_text(sm.output.readme, figures_readme(tables, list(sm.input.figures)))
