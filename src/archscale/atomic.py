"""Atomic file writes: write to a temporary name in the same folder, fsync, then rename.

A killed writer leaves at most a hidden ``.NAME.*.tmp`` file behind, never a truncated file
under the final name, so Snakemake and resumed runs never read half a result as a whole one.
A failed write (disk full, read-only or forbidden folder) raises :class:`AtomicWriteError`, an
``OSError`` whose message is one line naming the file, removes the temporary file and leaves
whatever was already under the final name untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "AtomicWriteError",
    "atomic_path",
    "atomic_savefig",
    "atomic_torch_save",
    "atomic_write",
    "atomic_write_csv",
    "atomic_write_json",
    "atomic_write_table",
    "atomic_write_text",
]

_FIX = "free disk space or fix the folder's permissions"


class AtomicWriteError(OSError):
    """Writing ``filename`` failed at the OS level (ENOSPC, EROFS, EACCES, ...).

    ``str()`` is one line: ``cannot write <path>: <strerror>; free disk space or fix the
    folder's permissions``. ``errno``/``strerror``/``filename`` are those of the OS error.
    """

    @classmethod
    def wrap(cls, path: str | os.PathLike, err: OSError) -> AtomicWriteError:
        return cls(err.errno, err.strerror or str(err) or type(err).__name__, str(path))

    def __str__(self) -> str:
        return f"cannot write {self.filename}: {self.strerror}; {_FIX}"


def _umask() -> int:
    """The process umask, read without changing it (os.umask would, briefly, for all threads)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # no /proc (macOS): the classic way
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (best effort: not every file system lets a folder be fsynced)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``.

    On any exception the temporary file is removed and ``path`` keeps its old content (or
    stays absent); an ``OSError`` (from the caller's writing or from this function's own
    mkdir/fsync/rename) is re-raised as a one-line :class:`AtomicWriteError`.
    """
    final = Path(path)
    tmp_path: Path | None = None
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
        tmp_path = Path(tmp)
        try:  # mkstemp creates 0600 files; a result gets the usual permissions (0666 & ~umask)
            os.fchmod(fd, 0o666 & ~_umask())
        finally:
            os.close(fd)
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, final)
        tmp_path = None
        _fsync_dir(final.parent)
    except AtomicWriteError:
        raise
    except OSError as err:
        raise AtomicWriteError.wrap(final, err) from err
    finally:
        if tmp_path is not None:
            with contextlib.suppress(OSError):
                tmp_path.unlink(missing_ok=True)


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
