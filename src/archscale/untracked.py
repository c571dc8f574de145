"""Workflow params that must reach a script but change none of its numbers (where the data
lives, whether to fetch it).

Snakemake re-runs a job when a param changes, but compares only params of builtin types (str,
int, dict, ...); any other object is left out of that comparison. Wrapping such a setting in
:class:`Untracked` says so explicitly: moving ``data_root`` re-runs nothing, which
tests/test_reruns.py proves with real dry runs. Standard library only (the Snakefile imports it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Untracked:
    """A param value that is not a re-run trigger; scripts read ``.value``."""

    value: Any
