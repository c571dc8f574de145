"""Several NAS-Bench-201 trainings at once on one device (``nb201.concurrent``).

A C=16 cell at batch 256 leaves most of a large GPU idle, so a training job can run N of its
(cell, seed) trainings side by side: N worker processes (``torch.multiprocessing``'s spawn
context: safe with CUDA, and no OpenMP state inherited), each loading the dataset once and
training one (cell, seed) at a time with :func:`archscale.recipes.train_cell`, its own
seeded model, data order and checkpoint. Nothing is shared between trainings, so the
numbers are those of a sequential run with the same per-process thread count, and a killed
job resumes every training from its own checkpoint (:func:`archscale.train.train`).

On CPU the job's ``threads`` are split: each worker gets ``max(1, threads // N)``.

The caller's main module is re-imported by every spawned worker (as ``__mp_main__``), so a
script that calls :func:`train_cells` with N > 1 keeps its work under
``if __name__ == "__main__":``.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from archscale.data import TensorData, load_dataset, resolve_device


@dataclass(frozen=True)
class DataSpec:
    """Where a worker loads its train/test splits from (tensors do not cross processes)."""

    name: str
    root: str = "data"
    device: str = "auto"

    def load(self) -> tuple[TensorData, TensorData]:
        device = resolve_device(self.device)
        train = load_dataset(self.name, self.root, "train", device)
        return train, load_dataset(self.name, self.root, "test", device)


def checkpoint_path(folder: str | Path, cell: str, seed: int) -> Path:
    """The checkpoint of one (cell, seed) training in ``folder``: a stable name per training,
    so a resumed job finds each training's own state whatever order they run in."""
    return Path(folder) / f"{hashlib.sha1(f'{cell}|{seed}'.encode()).hexdigest()[:16]}.pt"


_WORKER: dict[str, Any] = {}


def _init_worker(data: DataSpec, threads: int, log: str | None) -> None:
    if log is not None:  # the job's log, appended to (the parent opened it)
        sys.stderr = open(log, "a", buffering=1)  # noqa: SIM115 - open for the worker's lifetime
    torch.set_num_threads(threads)
    _WORKER["data"] = data.load()


def _train_one(task: dict[str, Any]) -> dict[str, Any]:
    from archscale.recipes import train_cell

    train_data, test_data = _WORKER["data"]
    return train_cell(train_data=train_data, test_data=test_data, **task)


def train_cells(
    tasks: Sequence[dict[str, Any]],
    data: DataSpec,
    *,
    concurrent: int = 1,
    threads: int = 1,
    log: str | None = None,
    report: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run :func:`archscale.recipes.train_cell` on every task (its keyword arguments but
    the data), ``concurrent`` at a time; the rows in ``tasks``' order. ``report(row)`` is
    called in that order as the rows arrive; ``log``: a file the workers append their stderr
    to (a Snakemake job's log)."""
    if concurrent < 1:
        raise ValueError(f"concurrent trainings must be >= 1, got {concurrent}")
    rows: list[dict[str, Any]] = []
    if concurrent == 1 or len(tasks) <= 1:
        torch.set_num_threads(threads)
        _WORKER["data"] = data.load()
        try:
            for task in tasks:
                rows.append(_train_one(task))
                if report is not None:
                    report(rows[-1])
        finally:
            _WORKER.clear()
        return rows
    workers = min(concurrent, len(tasks))
    context = torch.multiprocessing.get_context("spawn")
    init = (data, max(1, threads // concurrent), log)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=init) as pool:
        for row in pool.map(_train_one, tasks):
            rows.append(row)
            if report is not None:
                report(row)
    return rows
