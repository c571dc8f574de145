"""Which code a workflow script runs, as a content hash for the rule's params.

Snakemake re-runs a job when its params change, so a rule whose params carry the hash of its
script and of every ``archscale`` module the script imports, directly or not (function-level
imports included), re-runs exactly when that code changes: an edit of ``plots.py`` re-runs only
the jobs that import it. The profiles turn off Snakemake's own ``code`` and ``mtime`` triggers
(which compare modification times, so a ``touch`` re-ran every job of a script), so a touch
re-runs nothing. Derived from the imports, so it cannot drift from them.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

LIB = Path(__file__).resolve().parent


def _imported_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "archscale":
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)  # `from archscale import models`
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.split(".")[0] == "archscale")
    return names


def _module_file(name: str, lib: Path) -> Path | None:
    parts = name.split(".")[1:]
    if not parts:
        return lib / "__init__.py"
    rel = Path(*parts)
    for cand in (lib / rel.with_suffix(".py"), lib / rel / "__init__.py"):
        if cand.is_file():
            return cand
    return None  # `from archscale.x import f`: f is not a module


def library_modules(script: Path, lib: Path = LIB, _parsed: dict[Path, set[str]] | None = None) -> list[Path]:
    """The files of ``lib`` (the archscale package) that ``script`` imports, transitively.
    ``_parsed`` memoises each file's imports across calls (see :func:`code_hashes`)."""
    parsed = {} if _parsed is None else _parsed
    seen: set[Path] = set()
    todo = [Path(script)]
    while todo:
        current = todo.pop()
        if current not in parsed:
            parsed[current] = _imported_names(current)
        for name in parsed[current]:
            path = _module_file(name, lib)
            if path is not None and path not in seen:
                seen.add(path)
                todo.append(path)
    return sorted(seen)


def code_hashes(scripts: list[Path], lib: Path = LIB) -> dict[str, str]:
    """:func:`code_hash` of each script, by file stem, parsing every file once (this runs at
    every Snakemake start)."""
    parsed: dict[Path, set[str]] = {}
    contents: dict[Path, bytes] = {}
    out = {}
    for script in scripts:
        h = hashlib.sha256(Path(script).read_bytes())  # the script's own code, then its library
        for path in library_modules(script, lib, parsed):
            if path not in contents:
                contents[path] = path.read_bytes()
            h.update(path.relative_to(lib).as_posix().encode())
            h.update(contents[path])
        out[Path(script).stem] = h.hexdigest()[:16]
    return out


def code_hash(script: Path, lib: Path = LIB) -> str:
    """16 hex digits over the script's content and the names and contents of :func:`library_modules`."""
    return code_hashes([Path(script)], lib)[Path(script).stem]
