"""init_signal: eq. 4's signal propagation over random DAGs (Kaiming, source, target)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115

import _src_path  # noqa: E402, F401  (this checkout's archscale, in any env)
import torch  # noqa: E402

from archscale.atomic import atomic_write_csv  # noqa: E402
from archscale.signal import init_signal_table  # noqa: E402

sm = snakemake  # noqa: F821
torch.set_num_threads(sm.threads)
table = init_signal_table(**sm.params.settings)
print(table.groupby("convention")["ratio"].describe().to_string(), file=sys.stderr)
atomic_write_csv(sm.output.table, table)
