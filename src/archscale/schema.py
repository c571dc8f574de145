"""The workflow config's schema (``schema.yaml`` beside this file): the one place each setting's
type, range, description and default is written. The Snakefile validates against it (and
Snakemake fills in its defaults), :func:`archscale.config_check.check_config` checks raw
configs with the same defaults, and the CLI takes its defaults from it, so ``archscale
lr-search`` with no options runs the workflow's grid search.

Standard library + PyYAML only (the Snakefile imports it in whatever Python runs Snakemake).
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml

SCHEMA_PATH = Path(__file__).with_name("schema.yaml")


@functools.cache
def load_schema() -> dict[str, Any]:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref:  # "#/definitions/name", merged under the node's own keys (default, description)
        target = load_schema()
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _fill(value: Any, node: dict[str, Any]) -> Any:
    node = _resolve(node)
    if not isinstance(value, dict) or node.get("type") != "object":
        return value
    props = node.get("properties", {})
    for key, sub in props.items():
        sub = _resolve(sub)
        if key not in value and "default" in sub:
            value[key] = copy.deepcopy(sub["default"])
        if key in value:
            value[key] = _fill(value[key], sub)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        for key in value:
            if key not in props:
                value[key] = _fill(value[key], extra)
    return value


def with_defaults(config: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``config`` with every missing key that has a default filled in, nested
    sections and each ``lr_experiments`` entry included (what ``snakemake.utils.validate`` does)."""
    return _fill(copy.deepcopy(dict(config)), load_schema())


def defaults(section: str) -> dict[str, Any]:
    """The defaults of one top-level section, e.g. ``defaults("lr_search")``."""
    return with_defaults({})[section]
