"""The documentation is self-contained: nothing points outside the repository, and every
relative link in the README and docs/ resolves to a file of the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return [REPO / line for line in out.splitlines() if (REPO / line).is_file()]


def test_nothing_points_at_files_outside_the_repository() -> None:
    outside = re.compile("|".join([r"\.\./shared", "PAPER" + r"\.md"]))  # split: this file is tracked too
    hits = []
    for path in tracked_files():
        if path.suffix in {".png", ".pdf"}:
            continue
        for i, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if outside.search(line):
                hits.append(f"{path.relative_to(REPO)}:{i}")
    assert not hits, f"references to files users do not have: {hits}"


def test_relative_links_in_markdown_resolve() -> None:
    link = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
    broken = []
    for md in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for target in link.findall(md.read_text()):
            if "://" in target or target.startswith("mailto:") or re.search(r"[\[\]+*^$]", target):  # URLs, regexes
                continue
            if not (md.parent / target).exists():
                broken.append(f"{md.relative_to(REPO)} -> {target}")
    assert not broken, f"broken links: {broken}"
