"""A shard of NAS-Bench-201 trainings through archscale.trainpool, meant to be run (and
killed) as a subprocess, as a workflow job would be:

    python tests/helpers_pool.py OUT_DIR --concurrent 2 --epochs 4

It trains TASKS (every recipe, two cells, two seeds) on ``digits`` with ``checkpoint_every=1``
(checkpoints in ``OUT_DIR/ckpt``), appending the workers' stderr to ``OUT_DIR/log.txt``, and
writes the rows to ``OUT_DIR/rows.json`` when every training has returned. The ``__main__``
guard matters: spawned workers re-import this file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from archscale.graphs import NB201_EXAMPLE

CELLS = (NB201_EXAMPLE, "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|")
RECIPE = {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4, "augment": False, "batch_size": 64}


def tasks(epochs: int, ckpt_dir: Path | None) -> list[dict]:
    """Two cells x two seeds, the recipes in turn (principled at base rate 0.5)."""
    from archscale.trainpool import checkpoint_path

    out = []
    recipes = ("standard", "principled", "mup", "standard")
    for i, (cell, seed) in enumerate((c, s) for c in CELLS for s in (0, 1)):
        settings = {**RECIPE, "epochs": epochs, "checkpoint_every": 1 if ckpt_dir else 0, "mup_base_C": 1}
        out.append(
            {
                "cell": cell, "recipe": recipes[i], "settings": settings, "C": 4, "N": 1, "seed": seed,
                "base_lr": 0.5 if recipes[i] == "principled" else None,
                "checkpoint_path": str(checkpoint_path(ckpt_dir, cell, seed)) if ckpt_dir else None,
            }
        )  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("out_dir")
    p.add_argument("--concurrent", type=int, default=2)
    p.add_argument("--epochs", type=int, default=4)
    a = p.parse_args(argv)

    from archscale.trainpool import DataSpec, train_cells

    out = Path(a.out_dir)
    (out / "ckpt").mkdir(parents=True, exist_ok=True)
    log = out / "log.txt"
    log.touch()
    rows = train_cells(
        tasks(a.epochs, out / "ckpt"),
        DataSpec("digits", device="cpu"),
        concurrent=a.concurrent,
        threads=a.concurrent,  # one thread per worker
        log=str(log),
    )
    (out / "rows.json").write_text(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
