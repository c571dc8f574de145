"""true_max_lr: grid-search the maximal rate of a shard of target architectures, every seed."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115

import _src_path  # noqa: E402, F401  (this checkout's archscale, in any env)
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from archscale.atomic import atomic_write_csv  # noqa: E402
from archscale.data import load_dataset, resolve_device  # noqa: E402
from archscale.experiments import measure_max_lr  # noqa: E402

sm = snakemake  # noqa: F821
torch.set_num_threads(sm.threads)  # the rule's threads: parallel jobs must not oversubscribe
p = sm.params
search = {**p.search, "chunk": int(sm.resources.lr_chunk) or "auto"}  # rates per pass (0 = as many as fit)
data = load_dataset(sm.wildcards.dataset, p.data_root.value, "train", resolve_device(p.run["device"]))
tables = []
for arch in p.archs:
    for seed in p.seeds:
        t = measure_max_lr(arch, data, model=p.model, search=search, seed=seed)
        print(f"{arch} seed {seed}: max lr {t['max_lr'].iloc[0]:.4g}", file=sys.stderr)
        tables.append(t)
table = pd.concat(tables, ignore_index=True)
table.insert(2, "kernel_size", int(sm.wildcards.kernel))
atomic_write_csv(sm.output.table, table)
