"""train_nb201: train a shard of NAS-Bench-201 cells with one recipe, every seed, up to
nb201.concurrent of them at once (archscale.trainpool: its spawned workers re-import this
script as __mp_main__, hence the __main__ guard)."""

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115

    import _src_path  # noqa: F401  (this checkout's archscale, in any env; spawned workers inherit sys.path)
    import pandas as pd
    import torch

    from archscale.atomic import atomic_write_csv
    from archscale.predict import combine_base_lr
    from archscale.trainpool import DataSpec, checkpoint_path, train_cells

    sm = snakemake  # noqa: F821
    torch.set_num_threads(sm.threads)  # the rule's threads: parallel jobs must not oversubscribe
    p = sm.params
    base_lr = combine_base_lr(pd.read_csv(sm.input.base[0])) if sm.input.base else None
    ckpt_dir = Path(sm.output.table).with_suffix(".ckpt")
    settings = {**p.recipe, "batch_size": int(sm.resources.batch_size)}  # halved on a retry
    tasks = [
        {
            "cell": cell, "recipe": sm.wildcards.recipe, "settings": settings, "C": p.model["C"], "N": p.model["N"],
            "seed": seed, "base_lr": base_lr,
            "checkpoint_path": str(checkpoint_path(ckpt_dir, cell, seed)) if p.recipe["checkpoint_every"] else None,
        }
        for cell in p.cells
        for seed in p.seeds
    ]  # fmt: skip

    def report(row):
        print(f"{row['arch']} seed {row['seed']}: lr {row['lr']:.4g} test acc {row['test_acc']:.2f}", file=sys.stderr)

    rows = train_cells(
        tasks,
        DataSpec(sm.wildcards.dataset, p.data_root.value, p.run["device"]),
        concurrent=int(sm.resources.concurrent),
        threads=sm.threads,
        log=sm.log[0],
        report=report,
    )
    table = pd.DataFrame([row | {"batch_size": settings["batch_size"]} for row in rows])
    atomic_write_csv(sm.output.table, table)
