"""Group 3: every result, table and figure is written through archscale.atomic (temporary name
in the same folder, fsync, rename), so a writer killed mid-write never leaves a truncated file
under the final name. The kill tests SIGKILL real writer processes while they write; the scan
tests check that no workflow script or library module writes an output any other way."""

from __future__ import annotations

import ast
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .helpers import PYTHON, REPO

CHILD = Path(__file__).with_name("writer_child.py")


def temp_files(folder: Path, final: str) -> list[Path]:
    return sorted(folder.glob(f".{final}.*.tmp"))


def kill_mid_write(tmp_path: Path, mode: str, name: str, *args: str, min_bytes: int = 1, delay: float = 0.0):
    """Start a writer, SIGKILL it once its temporary file holds ``min_bytes``; return the
    temporary files it left and whether the final name existed at the kill."""
    final = tmp_path / name
    proc = subprocess.Popen([PYTHON, str(CHILD), mode, str(final), *args], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            tmps = temp_files(tmp_path, name)
            if tmps and tmps[0].stat().st_size >= min_bytes:
                break
            time.sleep(0.002)
        time.sleep(delay)
        existed = final.exists() and proc.poll() is not None
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the writer finished before it could be killed"
    return temp_files(tmp_path, name), existed


def test_killed_csv_writer_leaves_no_truncated_file(tmp_path):
    tmps, _ = kill_mid_write(tmp_path, "csv", "measured_shard0.csv", "2000000", min_bytes=1 << 20)
    assert not (tmp_path / "measured_shard0.csv").exists()
    assert len(tmps) == 1 and tmps[0].stat().st_size >= 1 << 20  # the half-written data: not under the name


def test_killed_overwrite_keeps_the_previous_file(tmp_path):
    final = tmp_path / "table.csv"
    final.write_text("arch,lr\n2_02_002,0.5\n")
    old = final.read_bytes()
    tmps, _ = kill_mid_write(tmp_path, "text", "table.csv")
    assert final.read_bytes() == old
    assert len(tmps) == 1 and tmps[0].read_text().startswith("arch,lr,final_loss\n")


def test_killed_figure_writer_leaves_no_figure(tmp_path):
    tmps, existed = kill_mid_write(tmp_path, "figure", "fig2.pdf", delay=0.3)
    assert not existed and not (tmp_path / "fig2.pdf").exists()
    assert len(tmps) == 1


# --------------------------------------------------------------------------- scans

#: Methods that always write a file.
WRITERS = {
    "to_csv", "to_parquet", "to_pickle", "to_excel", "to_hdf", "to_feather", "savefig", "write_text", "write_bytes",
    "savetxt", "savez", "savez_compressed",
}  # fmt: skip
#: Functions that write given two arguments (torch.save(obj, f), json.dump(obj, fh), np.save(f, a)).
TWO_ARG_WRITERS = {"save", "dump", "safe_dump"}
#: File-system moves and copies, by qualified name.
QUALIFIED_WRITERS = {
    "os.replace",
    "os.rename",
    "shutil.copy",
    "shutil.copy2",
    "shutil.copyfile",
    "shutil.copytree",
    "shutil.move",
}
#: Formatters that write when given a buffer (first argument or buf=), else return a string.
BUFFER_WRITERS = {"to_latex", "to_markdown", "to_string", "to_html", "to_json"}
ATOMIC = "archscale.atomic"


def _call_name(node: ast.Call) -> str:
    f = node.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _open_mode(node: ast.Call) -> str:
    mode = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"), None)
    if isinstance(node.func, ast.Attribute):  # Path.open(mode)
        mode = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "mode"), None)
    return mode.value if isinstance(mode, ast.Constant) and isinstance(mode.value, str) else "r"


def _is_log_redirect(node: ast.Call, parents: dict) -> bool:
    """``sys.stderr = open(snakemake.log[0], "w", ...)``: the job's log, not an output."""
    parent = parents.get(node)
    target = ast.unparse(parent.targets[0]) if isinstance(parent, ast.Assign) else ""
    return target == "sys.stderr" and bool(node.args) and ast.unparse(node.args[0]).startswith("snakemake.log")


def raw_writes(path: Path, allowed_functions: frozenset[str] = frozenset()) -> list[str]:
    """Every call in ``path`` that writes a file other than through archscale.atomic."""
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _call_name(node)
        where = f"{path.name}:{node.lineno}: {ast.unparse(node)[:80]}"
        func = parents.get(node)
        while func is not None and not isinstance(func, ast.FunctionDef):
            func = parents.get(func)
        if func is not None and func.name in allowed_functions:
            continue
        writes = (
            (name == "open" and any(c in _open_mode(node) for c in "wax+") and not _is_log_redirect(node, parents))
            or name in WRITERS
            or (name in TWO_ARG_WRITERS and len(node.args) + len(node.keywords) >= 2)
            or ast.unparse(node.func) in QUALIFIED_WRITERS
            or (name in BUFFER_WRITERS and bool(node.args or any(k.arg == "buf" for k in node.keywords)))
        )
        if writes:
            found.append(where)
    return found


def atomic_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == ATOMIC for a in n.names}


SCRIPTS = sorted((REPO / "workflow" / "scripts").glob("[!_]*.py"))  # _src_path.py writes nothing


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_workflow_script_writes_only_through_atomic(script):
    assert raw_writes(script) == []
    used = atomic_imports(script)
    assert used and all(n.startswith("atomic_") for n in used), f"{script.name} writes no output atomically"


def test_scan_catches_raw_writes(tmp_path):
    """The scanner itself: each way of writing a file is flagged; the log redirect is not."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import sys\nsys.stderr = open(snakemake.log[0], 'w')\n"
        "df.to_csv(p)\nfig.savefig(p)\nopen(p, 'w')\nPath(p).write_text('x')\ntorch.save(o, p)\n"
        "json.dump(o, fh)\ndf.to_latex(buf)\nos.replace(a, b)\natomic_write_csv(p, df)\nopen(p)\ndf.to_latex()\n"
        "s.replace('a', 'b')\nyaml.safe_dump(cfg)\n"
    )
    assert [line.split(":")[1] for line in raw_writes(probe)] == ["3", "4", "5", "6", "7", "8", "9", "10"]


#: Library modules that may write files other than through archscale.atomic: atomic.py itself.
#: (Dataset downloads are torchvision's, in the workflow's fetch_dataset job.)
LIBRARY_ALLOWED = {
    "atomic.py": None,
    "trainpool.py": frozenset({"_init_worker"}),  # a training worker's stderr, appended to the job's log
}


def test_library_writes_results_only_through_atomic():
    found = []
    for path in sorted((REPO / "src" / "archscale").rglob("*.py")):
        allowed = LIBRARY_ALLOWED.get(path.name, frozenset())
        if allowed is not None:
            found += raw_writes(path, allowed)
    assert found == []
