"""The `archscale` command line: lr, lr-table, init-check, and one-line errors."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from archscale.cli import main

EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def test_lr_prints_the_issue_example(capsys) -> None:
    assert main(["lr", "--family", "nb201", "--arch", EXAMPLE, "--base-lr", "0.46"]) == 0
    out = capsys.readouterr().out
    assert "lr 0.0693" in out
    assert "path_depths [2, 3, 2, 1]" in out
    exact = float(out.split("exact ")[1].split()[0])
    assert exact == pytest.approx(0.46 * 44**-0.5, rel=1e-12)


def test_lr_cnn_applies_the_kernel_factor(capsys) -> None:
    assert main(["lr", "--family", "cnn", "--arch", "2_02_002", "--base-lr", "1", "--kernel-size", "5"]) == 0
    assert f"lr {27**0.5 / 216**0.5 * 3 / 5:.4f}" in capsys.readouterr().out


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).with_name("archscale")
    proc = subprocess.run(
        [exe, "lr", "--family", "mlp", "--arch", "2_02_002", "--base-lr", "1"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "lr 0.3536" in proc.stdout


def test_lr_table_whole_nb201_space(tmp_path: Path) -> None:
    out = tmp_path / "nb201.csv"
    assert main(["lr-table", "--family", "nb201", "--base-lr", "0.46", "--out", str(out)]) == 0
    df = pd.read_csv(out, keep_default_na=True)
    assert len(df) == 15625 and {"arch", "n_paths", "depths", "lr", "reason"} <= set(df.columns)
    untrainable = df[df["n_paths"] == 0]
    assert len(untrainable) == 341
    assert untrainable["lr"].isna().all() and (untrainable["reason"] == "no input->output path").all()
    row = df[df["arch"] == EXAMPLE].iloc[0]
    assert row["lr"] == pytest.approx(0.46 * 44**-0.5) and row["depths"] == "2 3 2 1"


def test_lr_table_mlp_space(tmp_path: Path) -> None:
    out = tmp_path / "mlp.csv"
    assert main(["lr-table", "--family", "mlp", "--base-lr", "1", "--nodes", "3", "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert len(df) == 27 and df["lr"].notna().all() and (df["lr"] <= 1 + 1e-12).all()


def test_init_check_prints_every_node_for_three_inits(capsys) -> None:
    assert main(["init-check", "--family", "mlp", "--arch", "2_12_112", "--width", "128", "--batch", "64"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [ln for ln in lines if ln.strip().startswith(("kaiming", "arch_aware"))]
    assert len(rows) == 3
    for row in rows:
        values = [float(v) for v in row.split()[1:]]
        assert len(values) == 4 and values[0] == pytest.approx(1.0) and all(math.isfinite(v) for v in values)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["lr", "--family", "mlp", "--arch", "2_03_002", "--base-lr", "1"], "'3' in group 2"),
        (["lr", "--family", "mlp", "--arch", "2_02_002", "--base-lr", "-1"], "positive"),
        (["lr", "--family", "nb201", "--arch", "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "--base-lr", "1"],
         "no input->output path"),
        (["init-check", "--family", "mlp", "--arch", "2_02_002", "--in-degree", "source", "--width", "0"], "positive"),
        (["data", "fetch", "imagenet16-120", "--root", "/nonexistent-archscale-data"],
         "cannot be downloaded automatically"),
        (["data", "fetch", "mnist"], "unknown dataset 'mnist'"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_exit_2(argv: list[str], fragment: str, capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("archscale: error:") and len(err.splitlines()) == 1 and fragment in err, err
