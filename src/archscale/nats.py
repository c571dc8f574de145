"""NATS-Bench's topology search space: the benchmark's published 200-epoch accuracies.

NATS-Bench's topology space ("tss") is NAS-Bench-201's 15,625 cells, trained by the benchmark's
authors with the 200-epoch recipe on three seeds (777, 888, 999; a few cells lack one). This
module reads those numbers through the authors' own API (``nats_bench``) from the
``NATS-tss-v1_0-3ffb9-simple`` folder, in the API's ``fast_mode`` (one file per cell, read when
first queried):

* ``meta.pickle.pbz2``: ``meta_archs``, the 15,625 cell strings in the benchmark's index order
  (:func:`benchmark_archs` rebuilds that order without the files);
* ``{index:06d}.pickle.pbz2`` per cell: ``{"12": ArchResults state, "200": ArchResults state}``.

Which number is "the" accuracy (``get_more_info(index, dataset, hp='200', is_random=...)``):

* ``cifar10``: NATS-Bench's ``cifar10`` (trained on train + valid), key ``test-accuracy``, which
  is its ``ori-test`` set, the whole 10,000-image test set. (``cifar10-valid`` is the variant
  trained on half the training set; not used here.)
* ``cifar100`` and ``imagenet16-120``: key ``valtest-accuracy`` (the ``ori-test`` set, the whole
  test set). ``test-accuracy`` there is ``x-test``, only half of it (the other half is the
  benchmark's ``x-valid``), so we compare with ``valtest-accuracy``.

``is_random=False`` gives the mean over the seeds the benchmark has for that cell; an integer
seed gives that trial.

Trust: the benchmark files are pickles, and unpickling runs code. They are *trusted input*: the
user downloads them from the benchmark's authors (links in the NATS-Bench README) and they are
unpickled only by ``nats_bench``'s own loader. :func:`check_path` looks at names and sizes only
(no unpickling), so a workflow can validate the path before planning any job.
"""

from __future__ import annotations

import functools
import math
import numbers
import os
import random
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from archscale.graphs import enumerate_nb201, format_nb201, parse_nb201

__all__ = [
    "BENCHMARK_NAME",
    "DATASETS",
    "SEEDS",
    "benchmark_archs",
    "check_path",
    "open_benchmark",
    "published_accuracy",
    "published_seeds",
    "published_table",
]

#: The folder the API's fast mode reads (NATS-Bench README, "NATS-tss-v1_0-3ffb9-simple.tar").
BENCHMARK_NAME = "NATS-tss-v1_0-3ffb9-simple"
#: ``nats_bench.api_utils.PICKLE_EXT``: every benchmark file is a bz2-compressed pickle.
PICKLE_EXT = "pickle.pbz2"
META_FILE = f"meta.{PICKLE_EXT}"
#: The 200-epoch training runs (the other, ``'12'``, is the benchmark's short budget).
HP = "200"
#: The benchmark's training seeds.
SEEDS: tuple[int, ...] = (777, 888, 999)
#: Cells in the topology space (NATS-Bench's size space, 'sss', has 32,768).
N_CELLS = 5**6
#: Our dataset name -> (NATS-Bench dataset name, get_more_info key for the whole test set).
DATASETS: dict[str, tuple[str, str]] = {
    "cifar10": ("cifar10", "test-accuracy"),
    "cifar100": ("cifar100", "valtest-accuracy"),
    "imagenet16-120": ("ImageNet16-120", "valtest-accuracy"),
}
_HINT = "download it from the NATS-Bench README (https://github.com/D-X-Y/NATS-Bench)"
_CELL_FILE = re.compile(r"^(\d+)\.pickle\.pbz2$")
#: The authors shuffle the enumerated space with this seed to fix the index order
#: (AutoDL-Projects ``exps/NATS-Bench/tss-collect.py``, ``traverse_net``).
_ORDER_SEED = 88


def benchmark_archs() -> list[str]:
    """The 15,625 cell strings in the benchmark's index order, rebuilt without its files.

    The authors enumerate the space (node 1's inputs outermost, each node's last source
    fastest, ops in NAS-Bench-201's order: the order of :func:`archscale.graphs.enumerate_nb201`)
    and shuffle it with ``random.seed(88)``. The benchmark's ``meta_archs`` is this list; the
    API's ``query_index_by_arch`` stays the authority for indices.
    """
    return list(_benchmark_archs())


@functools.cache
def _benchmark_archs() -> tuple[str, ...]:
    archs = list(enumerate_nb201())
    random.Random(_ORDER_SEED).shuffle(archs)
    return tuple(archs)


def _not_benchmark(path: Path, what: str) -> ValueError:
    return ValueError(f"{path} is not a {BENCHMARK_NAME} folder: {what}; {_HINT}")


def check_path(path: str | os.PathLike) -> Path:
    """Validate that ``path`` is a ``NATS-tss-v1_0-3ffb9-simple`` folder, cheaply (names and a
    few header bytes, no unpickling); return it as a :class:`Path`.

    Checks what the API's fast mode opens: the folder, ``meta.pickle.pbz2`` (a bz2 file) and the
    per-cell files ``{index:06d}.pickle.pbz2`` (indices below 15,625). It does not demand all
    15,625 cell files: a missing cell is reported when it is queried. Raises ``ValueError``
    with one line naming the path and what is wrong.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise _not_benchmark(p, "it does not exist")
    if not p.is_dir():
        extra = " (an archive? extract it with `tar xf`)" if p.name.endswith((".tar", ".tar.gz", ".tgz")) else ""
        raise _not_benchmark(p, f"it is a file{extra}, not a folder")
    meta = p / META_FILE
    if not meta.is_file():
        inner = p / BENCHMARK_NAME
        extra = f" (it holds {inner.name}/: pass that folder)" if inner.is_dir() else ""
        raise _not_benchmark(p, f"missing {META_FILE}{extra}")
    with open(meta, "rb") as f:
        if f.read(3) != b"BZh":
            raise _not_benchmark(p, f"{META_FILE} is not a bz2 file (corrupt or incomplete download)")
    indices = [int(m.group(1)) for e in os.scandir(p) if (m := _CELL_FILE.match(e.name))]
    if not indices:
        raise _not_benchmark(p, f"no per-cell files (000000.{PICKLE_EXT} ...)")
    if max(indices) >= N_CELLS:
        raise _not_benchmark(
            p,
            f"it holds cell file {max(indices):06d}.{PICKLE_EXT}, beyond the topology space's {N_CELLS} cells "
            "(is it NATS-sss, the size search space?)",
        )
    return p


def open_benchmark(path: str | os.PathLike):
    """The ``nats_bench`` API over a ``NATS-tss-v1_0-3ffb9-simple`` folder (fast mode: each cell's
    file is read when first queried). Validates with :func:`check_path` first; the files are
    trusted input (see the module docstring)."""
    p = check_path(path)
    try:
        import nats_bench
    except ImportError as err:  # optional dependency
        raise ImportError("reading NATS-Bench needs nats_bench: pip install 'archscale[nats]'") from err
    try:
        api = nats_bench.create(str(p), "tss", fast_mode=True, verbose=False)
    except Exception as err:  # the loader's errors (EOFError, KeyError, ...) say nothing about the path
        msg = str(err).splitlines()[0] if str(err) else ""
        raise _not_benchmark(p, f"cannot read {META_FILE} ({type(err).__name__}: {msg})") from err
    if len(api) != N_CELLS:
        raise _not_benchmark(p, f"{META_FILE} lists {len(api)} architectures, expected {N_CELLS}")
    return api


def _dataset(dataset: str) -> tuple[str, str]:
    key = dataset.lower() if isinstance(dataset, str) else dataset
    if key not in DATASETS:
        raise ValueError(
            f"NATS-Bench has no published accuracies for dataset {dataset!r}; choose one of {', '.join(DATASETS)}"
        )
    return DATASETS[key]


def _index(api, arch: str) -> int:
    """The benchmark's index of ``arch`` (via the API's ``query_index_by_arch``), its cell file
    checked to exist before the API's loader asserts on it."""
    canonical = format_nb201(parse_nb201(arch))  # a clear error for a malformed string
    index = api.query_index_by_arch(canonical)
    if not isinstance(index, int) or index < 0:
        raise ValueError(f"{arch!r} is not a cell of the NATS-Bench topology space (query_index_by_arch gave {index})")
    if index not in api.arch2infos_dict and api.archive_dir is not None:  # fast mode: one file per cell
        folder = Path(api.archive_dir)
        if not any((folder / f"{name}.{PICKLE_EXT}").is_file() for name in (f"{index:06d}", f"{index:d}")):
            raise ValueError(
                f"{folder} is not a complete {BENCHMARK_NAME} folder: missing {index:06d}.{PICKLE_EXT} "
                f"(cell {canonical}); {_HINT}"
            )
    return index


def _seeds(api, index: int, nats_dataset: str) -> tuple[int, ...]:
    api.get_more_info(index, nats_dataset, hp=HP, is_random=False)  # loads the cell's file
    return tuple(int(s) for s in api.arch2infos_dict[index][HP].get_dataset_seeds(nats_dataset))


def published_seeds(api, arch: str, dataset: str) -> tuple[int, ...]:
    """The seeds the benchmark trained ``arch`` with on ``dataset`` (200 epochs)."""
    nats_dataset, _ = _dataset(dataset)
    return _seeds(api, _index(api, arch), nats_dataset)


def _accuracy(api, index: int, arch: str, dataset: str, seed: int | None) -> float:
    nats_dataset, key = _dataset(dataset)
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise ValueError(f"seed must be an int such as {SEEDS[0]} or None (the mean), got {seed!r}")
        have = _seeds(api, index, nats_dataset)
        if int(seed) not in have:
            have_str = ", ".join(map(str, have))
            raise ValueError(f"NATS-Bench has no seed {seed} for {arch} on {dataset} (200 epochs); it has {have_str}")
    info = api.get_more_info(index, nats_dataset, hp=HP, is_random=False if seed is None else int(seed))
    if key not in info:
        raise ValueError(f"NATS-Bench's record of {arch} on {dataset} has no {key!r} (keys: {', '.join(sorted(info))})")
    return float(info[key])


def published_accuracy(api, arch: str, dataset: str, *, seed: int | None = None) -> float:
    """The benchmark's 200-epoch test accuracy (in %) of ``arch`` on ``dataset`` (cifar10,
    cifar100, imagenet16-120): the mean over its seeds, or one seed's (777, 888, 999).

    The whole test set in every case: ``test-accuracy`` for cifar10, ``valtest-accuracy`` for
    the others (see the module docstring). Raises ``ValueError`` for an unknown dataset, a cell
    outside the space, a seed the benchmark lacks for this cell, or a missing cell file.
    """
    return _accuracy(api, _index(api, arch), arch, dataset, seed)


def published_table(
    api,
    archs: Iterable[str],
    datasets: Sequence[str],
    seeds: Sequence[int] = SEEDS,
    *,
    release: bool = True,
) -> pd.DataFrame:
    """Tidy table of published accuracies: one row per (arch, dataset, seed), ``seed`` being
    ``'mean'`` (the benchmark's mean over the seeds it has) or an int.

    Columns: arch, index, dataset, nats_dataset, seed, accuracy (%), key (the ``get_more_info``
    key used), n_seeds (seeds behind the number: the mean's count, 1 for a seed, 0 when the
    benchmark lacks that seed, whose accuracy is then NaN). ``release`` drops each cell from
    the API's cache once read (a fully loaded cell takes megabytes; the space has 15,625).
    """
    for d in datasets:
        _dataset(d)
    rows: list[dict[str, Any]] = []
    for arch in archs:
        index = _index(api, arch)
        for dataset in datasets:
            nats_dataset, key = _dataset(dataset)
            have = _seeds(api, index, nats_dataset)
            base = {"arch": arch, "index": index, "dataset": dataset.lower(), "nats_dataset": nats_dataset}
            mean = _accuracy(api, index, arch, dataset, None)
            rows.append({**base, "seed": "mean", "accuracy": mean, "key": key, "n_seeds": len(have)})
            for seed in seeds:
                ok = int(seed) in have
                acc = _accuracy(api, index, arch, dataset, int(seed)) if ok else math.nan
                rows.append({**base, "seed": int(seed), "accuracy": acc, "key": key, "n_seeds": int(ok)})
        if release:  # the API keeps every queried cell; forget this one (public attributes of the API)
            api.arch2infos_dict.pop(index, None)
            api.evaluated_indexes.discard(index)
    columns = ["arch", "index", "dataset", "nats_dataset", "seed", "accuracy", "key", "n_seeds"]
    return pd.DataFrame(rows, columns=columns)
