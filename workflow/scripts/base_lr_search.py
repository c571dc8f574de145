"""base_lr_search: grid-search the maximal rate of one base network at one seed."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115

import torch  # noqa: E402

from archscale.atomic import atomic_write_csv  # noqa: E402
from archscale.data import load_dataset, resolve_device  # noqa: E402
from archscale.experiments import measure_max_lr  # noqa: E402

p = snakemake.params  # noqa: F821
torch.set_num_threads(snakemake.threads)  # noqa: F821  (parallel jobs must not oversubscribe)
run, base = p.run, p.base
data = load_dataset(
    snakemake.wildcards.dataset, run["data_root"], "train", resolve_device(run["device"]), download=run["download"]  # noqa: F821
)
model = dict(base["model"])
table = measure_max_lr(model.pop("arch"), data, model=model, search=base["search"], seed=int(snakemake.wildcards.seed))  # noqa: F821
print(table.to_string(), file=sys.stderr)
atomic_write_csv(snakemake.output.table, table)  # noqa: F821
