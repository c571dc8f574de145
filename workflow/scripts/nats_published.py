"""nats_published: the benchmark's published 200-epoch accuracies of the sampled cells."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115

import _src_path  # noqa: E402, F401  (this checkout's archscale, in any env)

from archscale.atomic import atomic_write_csv  # noqa: E402
from archscale.nats import open_benchmark, published_table  # noqa: E402

sm = snakemake  # noqa: F821
api = open_benchmark(sm.params.path)
table = published_table(api, sm.params.cells, [sm.wildcards.dataset])
atomic_write_csv(sm.output.table, table)
