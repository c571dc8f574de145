"""Writes through archscale.atomic into FOLDER, which the test has made read-only or nearly
full (a mount in a private namespace that vanishes with this process), and reports in JSON
what happened, read from inside the namespace:

    python disk_child.py FOLDER BIG_ROWS

1. write ``new.csv`` (BIG_ROWS rows), 2. overwrite the existing ``done.csv`` with it,
3. write a small ``after.csv``. Each step: the exception (type, errno, message) or None.
Then: the folder's listing, ``done.csv``'s bytes, and the bytes of ``after.csv`` if any.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pandas as pd

from archscale.atomic import atomic_write_csv


def attempt(path: Path, df: pd.DataFrame) -> dict | None:
    try:
        atomic_write_csv(path, df)
    except OSError as err:
        return {"type": type(err).__name__, "errno": err.errno, "message": str(err)}
    return None


def main(folder: str, big_rows: str) -> None:
    root = Path(folder)
    big = pd.DataFrame({"arch": ["2_02_002"] * int(big_rows), "lr": 0.5, "final_loss": 1.25})
    small = pd.DataFrame({"arch": ["1_12_102"], "lr": [0.25]})
    steps = {
        "new": attempt(root / "new.csv", big),
        "overwrite": attempt(root / "done.csv", big),
        "after": attempt(root / "after.csv", small),
    }
    after = root / "after.csv"
    report = {
        "steps": steps,
        "listing": sorted(os.listdir(root)),
        "done": (root / "done.csv").read_text(),
        "after": after.read_text() if after.exists() else None,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main(*sys.argv[1:])
