"""Rules carry the hash of the library code their script runs (archscale.code_hash), so an edit
re-runs exactly the jobs whose code changed. Checked here: every rule wires its own script's
hash, and the import closure and hash behave on real files."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from archscale.code_hash import LIB, code_hash, library_modules

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "workflow" / "scripts"
#: A rule's (or checkpoint's) name and body, up to the next one.
RULE_BODY = r"^(?:rule|checkpoint) (\w+):\n(.*?)(?=^(?:rule|checkpoint) |\Z)"


def rules_with_scripts() -> list[tuple[str, str, str | None]]:
    """(rule, script stem, the key of its ``code=CODE[...]`` param or None)."""
    found = []
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        for name, body in re.findall(RULE_BODY, smk.read_text(), flags=re.M | re.S):
            script = re.search(r'script:\s*"\.\./workflow/scripts/(\w+)\.py"', body)
            if script:
                code = re.search(r'code=CODE\["(\w+)"\]', body)
                found.append((name, script.group(1), code.group(1) if code else None))
    return found


RULES = rules_with_scripts()


def test_every_script_rule_was_found():
    # _src_path.py is imported by the scripts, not run by a rule
    assert {s for _, s, _ in RULES} == {p.stem for p in SCRIPTS.glob("[!_]*.py")}


@pytest.mark.parametrize(("rule", "script", "key"), RULES, ids=[r for r, _, _ in RULES])
def test_each_rule_carries_its_own_scripts_code_hash(rule, script, key):
    if not library_modules(SCRIPTS / f"{script}.py"):
        return
    assert key == script, f"rule {rule} runs {script}.py but its params carry code=CODE[{key!r}]"


def names(script: str) -> set[str]:
    return {p.relative_to(LIB).as_posix() for p in library_modules(SCRIPTS / f"{script}.py")}


def test_closure_follows_transitive_and_function_level_imports():
    grid = names("base_lr_search")
    # experiments imports lr_search, which imports stacked and the model classes
    assert {"experiments.py", "lr_search.py", "stacked.py", "models/nb201.py"} <= grid
    # the measuring tier never reaches the reading tier, nor the NB201 recipes
    reading = {"plots.py", "analysis.py", "figures.py", "report.py", "criteria.py", "laws.py"}
    assert not reading & grid and not {"recipes.py", "mup_recipe.py"} & grid
    assert not reading & names("true_max_lr") and not reading & names("train_nb201")
    # the criteria and laws are applied at aggregation, without torch
    agg = names("aggregate_lr")
    assert {"criteria.py", "laws.py", "scaling.py"} <= agg
    assert not {"lr_search.py", "train.py", "experiments.py", "analysis.py", "plots.py"} & agg
    # mup_recipe is imported inside train_cell only: function-level imports count
    assert {"recipes.py", "mup_recipe.py"} <= names("train_nb201")
    assert not {"experiments.py", "lr_search.py", "stacked.py", "analysis.py"} & names("train_nb201")
    assert "signal.py" in names("init_signal")  # init_signal_table lives there
    assert "graphs.py" in names("nats_published")  # nats parses cell strings
    plots = names("plot_lr_figure")
    assert {"plots.py", "analysis.py", "atomic.py"} <= plots
    assert "train.py" not in plots and "lr_search.py" not in plots


def test_hash_changes_with_code_in_the_closure_only(tmp_path):
    lib = tmp_path / "archscale"
    shutil.copytree(LIB, lib, ignore=shutil.ignore_patterns("__pycache__"))
    script = SCRIPTS / "plot_lr_figure.py"
    before = code_hash(script, lib)
    assert before == code_hash(script, lib)
    (lib / "plots.py").touch()  # a touch is no change
    assert code_hash(script, lib) == before
    (lib / "train.py").write_text((lib / "train.py").read_text() + "\n# edited\n")  # not imported by plots
    assert code_hash(script, lib) == before
    (lib / "analysis.py").write_text((lib / "analysis.py").read_text() + "\n# edited\n")
    assert code_hash(script, lib) != before
