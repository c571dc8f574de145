"""One of two processes fetching the same dataset at once (run by test_dataset_faults):

    python fetch_child.py ROOT ARCHIVE MD5S.json CALLS GO

The machine has no network: the download is replaced by unpacking ARCHIVE (a CIFAR-10-format
tar.gz) slowly, and each call appends this pid to CALLS. Everything else is the real
``fetch_dataset``: the per-dataset flock, the md5 checks, the atomic rename into place. The
registry's md5s are those of the test files (MD5S.json). Prints ``ready``, waits for the file
GO (so both processes start fetching together), then prints a JSON line with the outcome.
"""

from __future__ import annotations

import json
import os
import sys
import tarfile
import time
from dataclasses import replace
from pathlib import Path


def main(root: str, archive: str, md5s: str, calls: str, go: str) -> None:
    import archscale.data as D

    md5 = json.loads(Path(md5s).read_text())
    info = D.DATASETS["cifar10"]
    D.DATASETS["cifar10"] = replace(
        info,
        train_files=tuple((f, md5[f]) for f, _ in info.train_files),
        test_files=tuple((f, md5[f]) for f, _ in info.test_files),
    )

    def download(name: str, dest: Path) -> None:
        with open(calls, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        time.sleep(0.6)  # a slow download: the other process must wait on the lock meanwhile
        with tarfile.open(archive) as tf:
            tf.extractall(dest, filter="data")

    D._download_archive = download
    print("ready", flush=True)
    while not Path(go).exists():
        time.sleep(0.002)
    t0 = time.monotonic()
    target = D.fetch_dataset("cifar10", root)
    seconds = time.monotonic() - t0
    n = len(D.load_dataset("cifar10", root, "train"))  # md5-verified load of what is now there
    print(json.dumps({"target": str(target), "n_train": n, "seconds": seconds}), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
