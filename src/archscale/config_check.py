"""Config checks that run before any job is planned, with one-line messages naming the key.

The JSON schema (``src/archscale/schema.yaml``, checked by ``snakemake.utils.validate``) catches
unknown keys, wrong types and out-of-range values; :func:`format_schema_error` turns its
multi-line error into one line. :func:`check_config` adds what a schema cannot express: DAG
codes and NAS-Bench-201 cells that parse and can learn, a learning-rate grid that is not empty,
a sample that fits its space, a NATS-Bench folder that is one, batch sizes that fit the train
split, and dataset files that are there (or will be fetched: ``download: true``). Installed
packages are not
checked: with ``--use-conda`` the jobs run in other environments than Snakemake's. Every
message has the form::

    config key <dotted.path>: <what is wrong>; <how to fix>

Both are cheap (no torch import), because the Snakefile runs them on every invocation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from archscale.dataset_info import DATASETS, DOWNLOADABLE, fetch_hint, missing_files, missing_message

__all__ = ["ConfigError", "check_config", "format_schema_error", "key_path"]

SCHEMA_FILE = "src/archscale/schema.yaml"
_DAG_PATTERN = "^([0-2](_[0-2]+)*|b[0-9]+d?)$"
_MAX_REPR = 70


class ConfigError(ValueError):
    """A config value that cannot work; ``str()`` is one line naming the key path."""

    def __init__(self, path: str, what: str, fix: str) -> None:
        self.path, self.what, self.fix = path, what, fix
        super().__init__(_one_line(f"config key {path or '(top level)'}: {what}; {fix}"))


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _short(value: Any) -> str:
    text = _one_line(repr(value))
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 3] + "..."


def key_path(parts: Iterable[Any]) -> str:
    """``['nb201', 'cells', 0]`` -> ``nb201.cells[0]``."""
    out = ""
    for p in parts:
        if isinstance(p, int) and not isinstance(p, bool):
            out += f"[{p}]"
        else:
            out += f".{p}" if out else str(p)
    return out


# --------------------------------------------------------------------------- schema errors


def _validation_error(err: BaseException):
    """The jsonschema ValidationError inside ``err`` (Snakemake wraps it in a WorkflowError's
    args, or chains it as the cause), or None."""
    try:
        from jsonschema.exceptions import ValidationError
    except ImportError:  # pragma: no cover - jsonschema comes with snakemake
        return None
    stack, seen = [err], set()
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, ValidationError):
            return e
        stack.extend(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))
        stack.extend([e.__cause__, e.__context__])
    return None


def _branch_error(err):
    """For oneOf/anyOf: the error of the branch meant for the instance (the one whose type
    matched), deepest first, so ``archs: [202002]`` reports ``archs[0]``, not the union."""
    context = list(err.context or [])
    if not context:
        return err
    type_failed = {
        e.relative_schema_path[0] for e in context if len(e.relative_schema_path) == 2 and e.validator == "type"
    }
    meant = [e for e in context if e.relative_schema_path[0] not in type_failed] or context
    best = max(meant, key=lambda e: len(e.absolute_path))
    return _branch_error(best) if best.validator in ("oneOf", "anyOf") else best


def _a(noun: str) -> str:
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"


def _pytype(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "mapping"}.get(
        type(value), type(value).__name__
    )


def _describe(err) -> tuple[list[Any], str, str]:
    """(path parts, what is wrong, how to fix) of one jsonschema error."""
    path = list(err.absolute_path)
    inst, v, schema = err.instance, err.validator_value, err.schema if isinstance(err.schema, Mapping) else {}
    kind = err.validator
    if "propertyNames" in list(err.schema_path):
        return (
            [*path, inst],
            f"key name {inst!r} does not match {v if kind == 'pattern' else err.message}",
            "rename it (figure keys look like fig2_mlp_topology)",
        )
    if kind == "additionalProperties" and isinstance(inst, Mapping):
        known = sorted(schema.get("properties", {}))
        extra = sorted(str(k) for k in inst if k not in schema.get("properties", {}))
        first = extra[0] if extra else "?"
        also = f" (also {', '.join(extra[1:])})" if len(extra) > 1 else ""
        return (
            [*path, first],
            f"unknown key{also}",
            f"remove it or fix its spelling; known keys here: {', '.join(known)}",
        )
    if kind == "required" and isinstance(inst, Mapping):
        missing = [k for k in v if k not in inst]
        return [*path, missing[0] if missing else "?"], "missing required key", f"add it (see {SCHEMA_FILE})"
    if kind == "type":
        expected = " or ".join(v) if isinstance(v, list) else str(v)
        fix = f"give {_a(expected)} value"
        if "string" in expected and isinstance(inst, int | float) and not isinstance(inst, bool):
            fix = (
                "quote it in YAML: an unquoted DAG code such as 2_02_002 is read as the number 202002"
                if re.fullmatch(r"\d+", str(inst))
                else "quote it in YAML"
            )
        elif "string" in expected and isinstance(inst, bool):
            fix = "quote it in YAML: an unquoted yes/no/on/off is read as a boolean"
        return path, f"{_short(inst)} is {_a(_pytype(inst))}, expected {_a(expected)}", fix
    bounds = {
        "minimum": ("is below the minimum", ">="),
        "exclusiveMinimum": ("must be greater than", ">"),
        "maximum": ("is above the maximum", "<="),
        "exclusiveMaximum": ("must be less than", "<"),
    }
    if kind in bounds:
        text, op = bounds[kind]
        return path, f"{_short(inst)} {text} {v}", f"use a value {op} {v}"
    if kind == "minItems":
        what = "the list is empty" if not inst else f"the list has {len(inst)} item(s), fewer than {v}"
        return path, what, f"list at least {v} item(s)"
    if kind == "maxItems":
        return path, f"the list has {len(inst)} items, more than {v}", f"list at most {v} item(s)"
    if kind == "uniqueItems":
        dups = sorted({_short(x) for x in inst if list(inst).count(x) > 1})
        return path, f"lists {', '.join(dups) or 'an item'} more than once", "remove the duplicates"
    if kind == "enum":
        return path, f"unknown value {_short(inst)}", f"choose one of {', '.join(map(str, v))}"
    if kind == "pattern":
        desc = _one_line(schema.get("description", "")).replace(";", ",")
        hint = f"see {SCHEMA_FILE}" + (f" ({desc})" if desc else "")
        if v == _DAG_PATTERN:
            hint = "e.g. '2_02_002' (group t has t digits 0-2), or b6 / b6d for resmlp and rescnn"
        return path, f"{_short(inst)} does not match the pattern {v}", hint
    return path, _one_line(err.message), f"see {SCHEMA_FILE}"


def format_schema_error(err: BaseException) -> str:
    """One line ``config key <dotted.path>: <what>; <fix>`` for a schema violation.

    ``err`` is the ``WorkflowError`` that ``snakemake.utils.validate`` raises (it carries the
    jsonschema ``ValidationError``) or a ``ValidationError`` itself; anything else is reduced
    to its first line, with the key path if the text shows one.
    """
    verr = _validation_error(err)
    if verr is None:
        text = str(err)
        m = re.search(r"On instance((?:\[[^\]]+\])*)", text)
        parts = [a or int(b) for a, b in re.findall(r"\[(?:'([^']*)'|(\d+))\]", m.group(1))] if m else []
        first = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(err).__name__)
        return str(ConfigError(key_path(parts), first, f"see {SCHEMA_FILE}"))
    if verr.validator in ("oneOf", "anyOf"):
        verr = _branch_error(verr)
    path, what, fix = _describe(verr)
    return str(ConfigError(key_path(path), what, fix))


# --------------------------------------------------------------------------- semantic checks


def _check_arch(family: str, arch: Any, key: str) -> None:
    from archscale.graphs import parse

    example = "'|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|none~1|nor_conv_3x3~2|'"
    if not isinstance(arch, str):
        fix = "quote it in YAML" if family != "nb201" else f"give a cell string such as {example}"
        raise ConfigError(key, f"{_short(arch)} is {_a(_pytype(arch))}, not an architecture string", fix)
    try:
        g = parse(family, arch)
    except ValueError as err:
        if family in ("mlp", "cnn") and re.fullmatch(r"b\d+d?", arch):
            raise ConfigError(key, f"{arch!r} is a residual architecture, not a DAG code",
                              f"use family res{family}, or a DAG code such as '2_02_002'") from None  # fmt: skip
        raise ConfigError(key, f"invalid {family} architecture: {_one_line(err)}", "fix or remove it") from None
    if g.n_paths == 0:
        raise ConfigError(
            key,
            f"{family} architecture {arch!r} has no input->output path, so it cannot learn",
            "give it at least one path of non-zero edges from the input to the output, or remove it",
        )


def _check_sample(family: str, n: int, seed: int, n_nodes: int, key: str) -> None:
    from archscale.graphs import sample_space, space_size

    size = space_size(family, n_nodes)
    if size <= 4 * 3**10 or n <= size // 2:  # enumerating the space is cheap, or not needed
        try:
            sample_space(family, n, seed=seed, n_nodes=n_nodes)
        except ValueError as err:
            raise ConfigError(key, _one_line(err), "ask for fewer architectures or more nodes") from None


def _check_lr_search(s: Mapping[str, Any]) -> None:
    lo, hi = s["min_exp"], s["max_exp"]
    for k, v in (("min_exp", lo), ("max_exp", hi)):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ConfigError(f"lr_search.{k}", f"{_short(v)} is not a finite number", "give a number such as -8")
    if lo >= hi:
        raise ConfigError(
            "lr_search.max_exp",
            f"the rate grid 2^{lo} .. 2^{hi} is empty or a single point (max_exp must exceed min_exp)",
            "set max_exp above min_exp, e.g. min_exp: -8, max_exp: 3",
        )
    step = s["step"]
    if isinstance(step, int | float) and step > hi - lo:
        raise ConfigError(
            "lr_search.step",
            f"a step of {step} octaves is wider than the grid 2^{lo} .. 2^{hi}, leaving one rate",
            f"use a step of at most {hi - lo}",
        )


def _check_residual(key: str, e: Mapping[str, Any]) -> None:
    """A resmlp/rescnn experiment: an explicit list of ``b<blocks>[d]`` names, 3x3 kernels."""
    from archscale.residual_arch import RESIDUAL_KERNEL, parse_residual

    family, archs = e["family"], e["archs"]
    if not isinstance(archs, list):
        raise ConfigError(
            f"{key}.archs",
            f"{family} has no '{archs}' mode",
            "list residual architectures, e.g. [b2, b4, b8, b2d, b4d, b8d] (b<blocks>, d = downsample)",
        )
    for i, a in enumerate(archs):
        try:
            parse_residual(a)
        except ValueError as err:
            what = f"invalid {family} architecture: {_one_line(err)}"
            raise ConfigError(f"{key}.archs[{i}]", what, "fix or remove it") from None
    if list(e["kernel_sizes"]) != [RESIDUAL_KERNEL]:
        raise ConfigError(
            f"{key}.kernel_sizes",
            f"{family} blocks use 3x3 convolutions, got {_short(e['kernel_sizes'])}",
            "set kernel_sizes: [3] or drop the key",
        )


def _check_experiment(name: str, e: Mapping[str, Any]) -> None:
    from archscale.figures import figure_of_experiment
    from archscale.graphs import chain_of_depth, check_family
    from archscale.residual_arch import is_residual

    key = f"lr_experiments.{name}"
    try:
        figure_of_experiment(name)
    except KeyError as err:
        raise ConfigError(key, "no figure draws this experiment", _one_line(err.args[0]).split("; ", 1)[1]) from None
    family = e.get("family")
    if is_residual(family):
        return _check_residual(key, e)
    try:
        check_family(family)
    except ValueError as err:
        raise ConfigError(f"{key}.family", _one_line(err), "use mlp, cnn, resmlp or rescnn") from None
    archs = e["archs"]
    n_nodes = e["n_nodes"]
    if archs == "sample":
        _check_sample(family, e["n_archs"], e["sample_seed"], n_nodes, f"{key}.n_archs")
    elif archs == "chains":
        depths = e["depths"]
        if not depths:
            raise ConfigError(f"{key}.depths", "the list is empty", "list at least one depth, e.g. [3, 4, 5]")
        for i, d in enumerate(depths):
            try:
                chain_of_depth(d)
            except (TypeError, ValueError) as err:
                raise ConfigError(
                    f"{key}.depths[{i}]",
                    f"no chain of depth {_short(d)} ({_one_line(err)})",
                    "use depths >= 3 (the base network has 3 layers)",
                ) from None
    elif isinstance(archs, list):
        if not archs:
            raise ConfigError(f"{key}.archs", "the list is empty", "list at least one DAG code, or use 'sample'")
        for i, a in enumerate(archs):
            _check_arch(family, a, f"{key}.archs[{i}]")
    else:
        raise ConfigError(f"{key}.archs", f"{_short(archs)} is not 'sample', 'chains' or a list", "use one of those")


def _check_nb201(nb: Mapping[str, Any]) -> None:
    if "cells" in nb:
        cells = nb["cells"]
        if not isinstance(cells, list) or not cells:
            raise ConfigError("nb201.cells", "the list is empty", "list at least one cell, or drop the key to sample")
        for i, c in enumerate(cells):
            _check_arch("nb201", c, f"nb201.cells[{i}]")
    else:
        _check_sample("nb201", nb["n_cells"], nb["sample_seed"], 5, "nb201.n_cells")


def _datasets_used(config: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(key of the dataset, dataset, key of the batch size its jobs train with) for every
    dataset the config uses: NB201 jobs (and the NB201 base) train with nb201.batch_size, the
    learning-rate experiments' grid searches with lr_search.batch_size."""
    for i, ds in enumerate((config.get("nb201") or {}).get("datasets") or []):
        yield f"nb201.datasets[{i}]", ds, "nb201.batch_size"
    for name, e in (config.get("lr_experiments") or {}).items():
        for i, ds in enumerate((e or {}).get("datasets") or []):
            yield f"lr_experiments.{name}.datasets[{i}]", ds, "lr_search.batch_size"


def _batch_size(config: Mapping[str, Any], key: str) -> Any:
    section, _, name = key.partition(".")
    return (config.get(section) or {}).get(name, 64 if section == "nb201" else 32)


def _check_data(config: Mapping[str, Any]) -> None:
    """Batch sizes that fit each train split (sizes known without reading a file), then the
    dataset files: present, or fetched by the workflow (``download: true``, CIFAR only)."""
    used = [(key, ds, bkey) for key, ds, bkey in _datasets_used(config) if ds in DATASETS]
    for _, ds, bkey in used:
        bs, n = _batch_size(config, bkey), DATASETS[ds].size("train")
        if isinstance(bs, int) and not isinstance(bs, bool) and bs > n:
            raise ConfigError(
                bkey,
                f"{bs} is larger than the train split of {ds} ({n} images), so an epoch has no batch",
                f"use at most {n}",
            )
    root, download = Path(str(config.get("data_root", "data"))), config.get("download", False) is True
    for key, ds, _ in used:
        if download and ds in DOWNLOADABLE:
            continue
        missing = missing_files(ds, root)
        if missing:
            raise ConfigError(key, missing_message(ds, root, missing), fetch_hint(ds, root))


def check_config(config: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` (one line naming the key path) for a config that passes the
    schema but cannot work. Call it after ``validate`` (which fills in defaults); missing keys
    get the schema's defaults here too, so it also works on a raw config."""
    if not isinstance(config, Mapping):
        raise ConfigError("", f"the config is {_a(_pytype(config))}, not a mapping", "write key: value pairs")
    from archscale.schema import with_defaults

    config = with_defaults(config)
    _check_lr_search(config.get("lr_search") or {})
    for name, e in (config.get("lr_experiments") or {}).items():
        _check_experiment(str(name), e or {})
    _check_nb201(config.get("nb201") or {})
    if config["check_data"]:
        _check_data(config)
    nats = config.get("nats_bench_path")
    if nats is not None:
        from archscale.nats import check_path

        try:
            check_path(nats)
        except ValueError as err:
            what, _, hint = _one_line(err).rpartition("; ")
            fix = f"{hint}, or set nats_bench_path: null" if what else "set nats_bench_path: null"
            raise ConfigError("nats_bench_path", what or _one_line(err), fix) from None
