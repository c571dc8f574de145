"""Print the README's "edit -> what re-runs" table as this checkout behaves, for maintainers:

    .venv/bin/python tests/rerun_table.py > /tmp/rows.md

Runs the tiny config once in a copy of the repository, then measures every row the README
table has plus one per library module, workflow script and config section missing from it
(config rows are kept as written). tests/test_reruns.py checks the README against the same
measurement; this script writes the rows that check wants.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_reruns import ROWS, apply_edit  # noqa: E402
from workflow_copy import REPO, copy_workflow, planned_jobs, snakemake  # noqa: E402


def main() -> None:
    edits = [e for e, _ in ROWS]
    files = sorted((REPO / "src" / "archscale").rglob("*.py")) + sorted((REPO / "workflow" / "scripts").glob("*.py"))
    for f in files:
        edit = f"`{f.relative_to(REPO).as_posix()}`"
        if edit not in edits:
            edits.append(edit)
    with tempfile.TemporaryDirectory() as tmp:
        run = copy_workflow(Path(tmp) / "run")
        snakemake(run)
        for edit in edits:
            work = Path(tmp) / "edit"
            shutil.copytree(run, work, symlinks=True)
            apply_edit(work, edit)
            rules = sorted(planned_jobs(snakemake(work, "-n")))
            print(f"| {edit} | {', '.join(rules) or 'none'} |", flush=True)
            shutil.rmtree(work)


if __name__ == "__main__":
    main()
