"""train_nb201: train a shard of NAS-Bench-201 cells with one recipe, every seed."""

import hashlib
import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115

import _src_path  # noqa: E402, F401  (this checkout's archscale, in any env)
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from archscale.atomic import atomic_write_csv  # noqa: E402
from archscale.data import load_dataset, resolve_device  # noqa: E402
from archscale.predict import combine_base_lr  # noqa: E402
from archscale.recipes import train_cell  # noqa: E402

sm = snakemake  # noqa: F821
torch.set_num_threads(sm.threads)  # the rule's threads: parallel jobs must not oversubscribe
p = sm.params
device = resolve_device(p.run["device"])
train_data = load_dataset(sm.wildcards.dataset, p.data_root.value, "train", device)
test_data = load_dataset(sm.wildcards.dataset, p.data_root.value, "test", device)
base_lr = combine_base_lr(pd.read_csv(sm.input.base[0])) if sm.input.base else None
ckpt_dir = Path(sm.output.table).with_suffix(".ckpt")
rows = []
for cell in p.cells:
    for seed in p.seeds:
        key = hashlib.sha1(f"{cell}|{seed}".encode()).hexdigest()[:16]
        ckpt = ckpt_dir / f"{key}.pt" if p.recipe["checkpoint_every"] else None
        settings = {**p.recipe, "batch_size": int(sm.resources.batch_size)}  # halved on a retry
        row = train_cell(cell, train_data, test_data, recipe=sm.wildcards.recipe, settings=settings,
                         C=p.model["C"], N=p.model["N"], seed=seed, base_lr=base_lr, checkpoint_path=ckpt)  # fmt: skip
        print(f"{cell} seed {seed}: lr {row['lr']:.4g} test acc {row['test_acc']:.2f}", file=sys.stderr)
        rows.append(row | {"batch_size": settings["batch_size"]})
atomic_write_csv(sm.output.table, pd.DataFrame(rows))
