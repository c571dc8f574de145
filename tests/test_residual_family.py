"""Residual families as workflow experiments: ``b6`` / ``b6d`` names, build_model's dispatch to
archscale.models.resnet, and eq. 8 from the trace in predict.lr_table (hand-computed)."""

from __future__ import annotations

import math

import pytest
import torch

from archscale.data import load_dataset
from archscale.experiments import measure_max_lr
from archscale.models import build_model
from archscale.models.resnet import ResidualNet
from archscale.predict import lr_table
from archscale.residual_arch import RESIDUAL_BASE, ResidualArch, is_residual, parse_residual
from archscale.trace import graph_of

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py
X = torch.zeros(1, 1, 8, 8)


@pytest.mark.parametrize(
    ("arch", "blocks", "downsample"), [("b0", 0, False), ("b6", 6, False), ("b6d", 6, True), ("b12d", 12, True)]
)
def test_residual_names_parse_and_print_back(arch, blocks, downsample) -> None:
    a = parse_residual(arch)
    assert a == ResidualArch(blocks, downsample) and str(a) == arch


@pytest.mark.parametrize(
    ("arch", "match"),
    [("6", "is not b<blocks>"), ("B6", "is not b<blocks>"), ("b6x", "is not b<blocks>"), ("b-1", "is not b<blocks>"),
     ("b1d", "no second stage to downsample"), ("b0d", "no second stage")],
)  # fmt: skip
def test_bad_residual_names_are_one_line(arch, match) -> None:
    with pytest.raises(ValueError, match=match) as err:
        parse_residual(arch)
    assert "\n" not in str(err.value)


def test_families() -> None:
    assert is_residual("resmlp") and is_residual("rescnn") and not is_residual("mlp") and not is_residual(["x"])
    assert RESIDUAL_BASE == "b0"


# ---------------------------------------------------------------------------------------------
# build_model
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["resmlp", "rescnn"])
def test_build_model_dispatches_residual_families(family) -> None:
    net = build_model(family, "b3d", width=4, num_classes=10, in_shape=(1, 8, 8), seed=0)
    assert isinstance(net, ResidualNet) and net.archscale_family == family and net.archscale_arch == "b3d"
    assert net(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    # 3 blocks of 2 paths each (block (3 + 1) // 2 = 2, the third, downsamples): 8 paths
    assert graph_of(net, X).n_paths == 8
    assert net.blocks[2].shortcut is not None and net.blocks[0].shortcut is None
    # the trace tagged every layer: the stem's output feeds block 0's shortcut and main branch
    assert net.readout.archscale_role == "readout" and net.blocks[0].main[0].archscale_role == "edge"
    again = build_model(family, "b3d", width=4, num_classes=10, in_shape=(1, 8, 8), seed=0)
    other = build_model(family, "b3d", width=4, num_classes=10, in_shape=(1, 8, 8), seed=1)
    assert torch.equal(net.readout.weight, again.readout.weight)
    assert not torch.equal(net.readout.weight, other.readout.weight)


def test_release_init_is_the_dag_networks_fan_out_scheme() -> None:
    """init='release' (the workflow's) on a residual MLP: Kaiming fan_out / in-degree, as the
    release's DAG MLPs; the readout std 2 / fan_out."""
    net = build_model("resmlp", "b2", width=64, num_classes=10, in_shape=(1, 8, 8), seed=0)
    # block 1's first layer reads node h1 = shortcut + main of block 0: source in-degree 2
    w = net.blocks[1].main[0].weight
    assert w.std().item() == pytest.approx(math.sqrt(2 / (2 * 64)), rel=0.05)
    assert net.readout.weight.std().item() == pytest.approx(2 / 10, rel=0.15)


def test_bad_residual_builds_are_one_line() -> None:
    with pytest.raises(ValueError, match="kernel_size must be 3"):
        build_model("rescnn", "b2", width=4, num_classes=10, in_shape=(1, 8, 8), kernel_size=5)
    with pytest.raises(ValueError, match="is not b<blocks>"):
        build_model("resmlp", "2_02_002", width=4, num_classes=10, in_shape=(1, 8, 8))
    with pytest.raises(ValueError, match="unknown family 'resnet'"):
        build_model("resnet", "b2", width=4, num_classes=10, in_shape=(1, 8, 8))


def test_measure_max_lr_runs_a_residual_family_unchanged() -> None:
    data = load_dataset("digits", split="train")
    search = dict(min_exp=-4, max_exp=1, step=1.0, epochs=1, batch_size=128, criterion="min_loss", ratio=0.9,
                  tail_frac=0.1, refine=0)  # fmt: skip
    model = {"family": "rescnn", "width": 4, "kernel_size": 3, "activation": "relu"}
    t = measure_max_lr("b2d", data, model=model, search=search, seed=0)
    assert len(t) == 6 and set(t["arch"]) == {"b2d"} and t["max_lr"].iloc[0] in set(t["lr"])


# ---------------------------------------------------------------------------------------------
# lr_table: eq. 8 through the trace
# ---------------------------------------------------------------------------------------------


def test_lr_table_of_residual_nets_by_hand() -> None:
    """Every Linear/Conv on a path counts; the base b0 is stem -> readout, one path of depth 2.

    - b1: stem, then the shortcut (0 layers) or the block's 2 layers, then the readout: depths
      2 and 4, factor sqrt(2^3 / (2^3 + 4^3)) = sqrt(8 / 72) = 1/3.
    - b2 (two identity blocks): each adds 0 or 2: depths 2, 4, 4, 6; sum of cubes
      8 + 64 + 64 + 216 = 352; factor sqrt(8 / 352) = 44^-1/2 = 0.1508 (the README's NB201 cell's
      number, by coincidence).
    - b2d: block index (2 + 1) // 2 = 1 downsamples, its shortcut a projection (1 layer): block 0
      adds 0 or 2, block 1 adds 1 or 2: depths 3, 4, 5, 6; 27 + 64 + 125 + 216 = 432; factor
      sqrt(8 / 432) = 54^-1/2.
    """
    for family in ("resmlp", "rescnn"):
        t = lr_table(family, 0.5, archs=["b0", "b1", "b2", "b2d"], kernel_size=3 if family == "rescnn" else None)
        t = t.set_index("arch")
        assert list(t["n_paths"]) == [1, 2, 4, 4]
        assert list(t["depths"]) == ["2:1", "2:1 4:1", "2:1 4:2 6:1", "3:1 4:1 5:1 6:1"]
        expected = [1.0, 1 / 3, 44**-0.5, 54**-0.5]
        assert t["lr_factor"].tolist() == pytest.approx(expected, rel=1e-12)
        assert t["lr"].tolist() == pytest.approx([0.5 * f for f in expected], rel=1e-12)


def test_lr_table_of_twelve_blocks_counts_binomially() -> None:
    t = lr_table("resmlp", 1.0, archs=["b12"])
    counts = {2 + 2 * k: math.comb(12, k) for k in range(13)}
    assert t["n_paths"].iloc[0] == 4096
    assert t["depths"].iloc[0] == " ".join(f"{d}:{n}" for d, n in counts.items())
    assert t["lr_factor"].iloc[0] == pytest.approx(math.sqrt(8 / sum(n * d**3 for d, n in counts.items())))


def test_lr_table_refusals() -> None:
    with pytest.raises(ValueError, match="kernel_size must be 3"):
        lr_table("rescnn", 1.0, archs=["b2"], kernel_size=5)
    with pytest.raises(ValueError, match="list archs"):
        lr_table("resmlp", 1.0)
