"""Atomic file writes: write to a temporary name in the same folder, fsync, then rename.

A killed writer leaves at most a ``.tmp`` file behind, never a truncated file under the final
name, so Snakemake and resumed runs never read half a result as a whole one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, final)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_write(path: str | os.PathLike, write: Callable[[IO[str]], Any]) -> None:
    """Call ``write(fh)`` on a text handle whose content lands at ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        write(fh)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write(path, lambda fh: fh.write(text))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write(path, lambda fh: json.dump(obj, fh, indent=1, sort_keys=True))


def atomic_write_csv(path: str | os.PathLike, df) -> None:
    """A pandas DataFrame as CSV, atomically (floats at full precision, so re-runs compare)."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def atomic_savefig(fig, path: str | os.PathLike, **kwargs: Any) -> None:
    """``fig.savefig`` atomically; the format comes from the final name's suffix."""
    final = Path(path)
    with atomic_path(final) as tmp:
        fig.savefig(tmp, format=final.suffix.lstrip("."), **kwargs)


def atomic_write_table(df, stem: str | os.PathLike, *, float_format: str = "%.4g") -> list[Path]:
    """One table as ``stem``.csv (full precision), .tex (booktabs) and .md, each atomically."""
    stem = Path(stem)
    atomic_write_csv(stem.with_suffix(".csv"), df)
    atomic_write_text(stem.with_suffix(".tex"), df.to_latex(index=False, float_format=float_format, na_rep="--"))
    atomic_write_text(stem.with_suffix(".md"), df.to_markdown(index=False, floatfmt=".4g") + "\n")
    return [stem.with_suffix(s) for s in (".csv", ".tex", ".md")]
