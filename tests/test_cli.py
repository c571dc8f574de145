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


# ---------------------------------------------------------------------------------------------
# any PyTorch model: paths and lr --model (traced)
# ---------------------------------------------------------------------------------------------


def test_paths_of_torchvision_resnet18(capsys) -> None:
    assert main(["paths", "--model", "torchvision:resnet18"]) == 0  # default input 1x3x224x224
    lines = capsys.readouterr().out.splitlines()
    rows = [tuple(map(int, ln.split())) for ln in lines if ln[0].isdigit()]
    depths = [d for d, _ in rows]
    assert depths == sorted(depths) and depths[0] == 5 and depths[-1] == 18
    assert sum(n for _, n in rows) == 256 and "paths 256" in lines
    assert f"sum_L3 {sum(n * d**3 for d, n in rows)}" in lines
    assert lines[-1] == "layers 21 readout fc"


def test_lr_of_a_user_factory_against_a_base_model(tmp_path: Path, monkeypatch, capsys) -> None:
    (tmp_path / "my_nets.py").write_text(
        "from archscale.models.resnet import residual_net\n"
        "def deep():\n    return residual_net('mlp', 3, 8, False, num_classes=10, in_shape=(64,))\n"
        "def shallow():\n    return residual_net('mlp', 0, 8, False, num_classes=10, in_shape=(64,))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    argv = ["lr", "--model", "module:my_nets:deep", "--input-shape", "1,64", "--base-lr", "1"]
    assert main([*argv, "--base-model", "module:my_nets:shallow"]) == 0
    out = capsys.readouterr().out
    # 3 blocks: 8 paths of depth 2 + 2k (k of 3 blocks through their layers); base: one path of 2
    expected = (8 / sum(math.comb(3, k) * (2 + 2 * k) ** 3 for k in range(4))) ** 0.5
    assert float(out.split("exact ")[1].split()[0]) == pytest.approx(expected, rel=1e-12)
    assert main([*argv, "--base-depths", "2"]) == 0
    assert float(capsys.readouterr().out.split("exact ")[1].split()[0]) == pytest.approx(expected, rel=1e-12)


def test_lr_model_reproduces_the_release_for_an_nb201_cell(tmp_path: Path, monkeypatch, capsys) -> None:
    (tmp_path / "cells.py").write_text(
        "from archscale.models import build_model\n"
        f"def net():\n    return build_model('nb201', {EXAMPLE!r}, width=2, cells_per_stage=1, num_classes=10, "
        "in_shape=(3, 8, 8))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    argv = ["lr", "--model", "module:cells:net", "--input-shape", "1,3,8,8", "--region", "cells.0"]
    assert main([*argv, "--base-depths", "1", "--depth-offset", "1", "--base-lr", "0.46"]) == 0
    assert "lr 0.0693" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["paths", "--model", "torchvision:densenet121", "--input-shape", "1,3,32,32"],
         "concatenation (cat) in module 'features.denseblock1.denselayer2'"),
        (["paths", "--model", "torchvision:resnet19"], "torchvision has no model 'resnet19'"),
        (["paths", "--model", "resnet18"], "is not 'torchvision:NAME' or 'module:pkg.mod:factory'"),
        (["paths", "--model", "module:no_such_pkg:f", "--input-shape", "1,3"], "cannot load"),
        (["paths", "--model", "module:builtins:dict"], "returned dict, not a torch.nn.Module"),
        (["paths", "--model", "module:archscale.models.resnet:ResidualConfig"], "must build a model with no arg"),
        (["paths", "--model", "torchvision:resnet18", "--input-shape", "1,3,x"], "input shape '1,3,x'"),
        (["paths", "--model", "torchvision:resnet18", "--input-shape", "1,5,32,32"], "does not fit ResNet"),
        (["lr", "--model", "torchvision:resnet18", "--base-lr", "1"], "--base-model SPEC or --base-depths"),
        (["lr", "--base-lr", "1"], "give --family and --arch"),
    ],
)  # fmt: skip
def test_traced_model_errors_are_one_line_exit_2(argv: list[str], fragment: str, capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("archscale: error:") and len(err.splitlines()) == 1 and fragment in err, err


def test_untraceable_control_flow_is_one_line_exit_2(tmp_path: Path, monkeypatch, capsys) -> None:
    (tmp_path / "branchy.py").write_text(
        "import torch\n"
        "class Net(torch.nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.fc = torch.nn.Linear(4, 2)\n"
        "    def forward(self, x):\n        return self.fc(x) if x.sum() > 0 else x\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["paths", "--model", "module:branchy:Net", "--input-shape", "1,4"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot trace Net" in err and "control flow" in err and "tag_edge_" in err
