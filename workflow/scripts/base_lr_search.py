"""base_lr_search: grid-search the maximal rate of one base network, every seed."""

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
run, base = sm.params.run, sm.params.base
data = load_dataset(sm.wildcards.dataset, sm.params.data_root.value, "train", resolve_device(run["device"]))
model = dict(base["model"])
search = {**base["search"], "chunk": int(sm.resources.lr_chunk) or "auto"}  # rates per pass (0 = as many as fit)
arch = model.pop("arch")
table = pd.concat(
    [measure_max_lr(arch, data, model=model, search=search, seed=seed) for seed in sm.params.seeds],
    ignore_index=True,
)
print(table.to_string(), file=sys.stderr)
atomic_write_csv(sm.output.table, table)
