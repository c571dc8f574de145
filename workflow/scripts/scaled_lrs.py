"""scaled_lrs: eq. 8/9 rate of every target from the base network's measured maximal rate."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115

import _src_path  # noqa: E402, F401  (this checkout's archscale, in any env)
import pandas as pd  # noqa: E402

from archscale.atomic import atomic_write_csv  # noqa: E402
from archscale.predict import combine_base_lr, lr_table  # noqa: E402

sm = snakemake  # noqa: F821
base_lr = combine_base_lr(pd.read_csv(sm.input.base))
kernel = int(sm.wildcards.kernel)
q = kernel if sm.params.family == "cnn" else None  # eq. 9's kernel factor applies to CNNs only
table = lr_table(sm.params.family, base_lr, archs=sm.params.archs, kernel_size=q)
table.insert(1, "kernel_size", kernel)
table["base_lr"] = base_lr
table = table.rename(columns={"lr": "predicted_lr"})
print(f"base lr {base_lr:.4g} (geometric mean over seeds)", file=sys.stderr)
atomic_write_csv(sm.output.table, table)
