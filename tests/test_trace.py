"""archscale.trace: any module -> the paper's DAG, checked against the project's own parsers."""

from __future__ import annotations

import itertools
import math
import os
import random
from collections import Counter

import pytest
import torch
import torchvision
from torch import nn
from torch.nn import functional as F

from archscale.graphs import (
    NB201_EXAMPLE,
    NB201_OPS,
    code_to_nb201,
    enumerate_dags,
    enumerate_nb201,
    parse_dag,
    parse_nb201,
)
from archscale.init import arch_aware_init_
from archscale.models import build_model
from archscale.models.nb201 import InferCell
from archscale.models.resnet import ResidualConfig, build_residual, residual_lr_factor, residual_net
from archscale.scaling import UntrainableArchitecture, path_depths, scaled_lr
from archscale.trace import TraceRefused, graph_of, tag_from_trace_

pytestmark = pytest.mark.usefixtures("one_thread")

FULL_SPACE = os.environ.get("ARCHSCALE_FULL_SPACE") == "1"


def convolve(*parts: dict[int, int]) -> dict[int, int]:
    """Depth counts of paths through parts in series (one depth from each part, summed)."""
    out = Counter({0: 1})
    for part in parts:
        nxt: Counter[int] = Counter()
        for (a, m), (b, n) in itertools.product(out.items(), part.items()):
            nxt[a + b] += m * n
        out = nxt
    return dict(sorted(out.items()))


# ---------------------------------------------------------------------------------------------
# agreement with the DAG parsers
# ---------------------------------------------------------------------------------------------


def check_dag_code(family: str, code: str) -> None:
    """Traced depths of build_model(code) = parser's layer counts + 2 (stem and readout); with
    offset 1 they are the release's path_depths whenever a path has a parameterised edge."""
    g = parse_dag(code)
    shape = (1, 2, 2) if family == "mlp" else (1, 3, 3)
    model = build_model(family, code, width=2, num_classes=3, in_shape=shape, seed=0)
    traced = graph_of(model, torch.zeros(1, *shape))
    assert traced.depth_counts == dict(sorted(Counter(c + 2 for c in g.param_counts()).items())), code
    if any(g.param_counts()):
        assert traced.depths(offset=1) == sorted(path_depths(g)), code
    assert traced.readout == ("readout" if g.n_paths else None)


def test_whole_n4_mlp_space_and_n5_samples_equal_the_parser() -> None:
    for code in enumerate_dags(4):  # all 729 codes on 4 nodes
        check_dag_code("mlp", code)
    rng = random.Random(0)
    n5 = list(enumerate_dags(5))
    for code in rng.sample(n5, 300):
        check_dag_code("mlp", code)
    for code in rng.sample(n5, 100):
        check_dag_code("cnn", code)


def check_cell(cell: str) -> None:
    """One NAS-Bench-201 cell traced alone: depths = convs on each path; + 1 = the release's."""
    g = parse_nb201(cell)
    traced = graph_of(InferCell(g, 1), torch.zeros(1, 1, 3, 3))
    assert traced.depth_counts == dict(sorted(Counter(g.param_counts()).items())), cell
    if g.n_paths:
        assert traced.depths(offset=1) == sorted(path_depths(g)), cell
    else:
        assert traced.n_paths == 0 and traced.readout is None


def test_every_nb201_cell_graph_class_equals_the_parser() -> None:
    """Depths depend on each edge only through zero / no-layer (skip, pool) / layer (1x1, 3x3):
    all 3^6 classes, each with its ops drawn at random within the class."""
    rng = random.Random(1)
    by_class = (("none",), ("skip_connect", "avg_pool_3x3"), ("nor_conv_1x1", "nor_conv_3x3"))
    for classes in itertools.product(range(3), repeat=6):
        code = "".join(str(NB201_OPS.index(rng.choice(by_class[c]))) for c in classes)
        check_cell(code_to_nb201(code))


@pytest.mark.skipif(not FULL_SPACE, reason="whole spaces take minutes: ARCHSCALE_FULL_SPACE=1")
def test_whole_spaces_equal_the_parser() -> None:
    for cell in enumerate_nb201():
        check_cell(cell)
    for code in enumerate_dags(5):
        check_dag_code("mlp", code)


def test_nb201_region_is_one_cell_and_the_network_chains_them() -> None:
    model = build_model("nb201", NB201_EXAMPLE, width=2, cells_per_stage=1, num_classes=10, in_shape=(3, 8, 8))
    x = torch.zeros(1, 3, 8, 8)
    cell = graph_of(model, x, region="cells.0")
    assert cell.depths(offset=1) == sorted(path_depths(NB201_EXAMPLE)) == [1, 2, 2, 3]
    assert scaled_lr(1.0, model, base=[1], example_input=x, depth_offset=1, region="cells.0") == pytest.approx(44**-0.5)
    # stem conv, cell, reduction block (1x1 shortcut conv or two convs), ..., classifier
    whole = graph_of(model, x)
    reduction = {1: 1, 2: 1}
    assert whole.depth_counts == convolve({1: 1}, cell.depth_counts, reduction, cell.depth_counts, reduction,
                                          cell.depth_counts, {1: 1})  # fmt: skip
    assert whole.readout == "classifier"
    with pytest.raises(ValueError, match="no submodule 'cells.9'"):
        graph_of(model, x, region="cells.9")


def test_degrees_equal_the_tags_where_no_node_is_merged() -> None:
    """Per-layer in-degrees = the builders' tags (0 read as 1, as eq. 4 does) on every N5 code
    without skip edges whose nodes all have an input (315 codes)."""
    checked = 0
    for code in enumerate_dags(5):
        if "1" in code or any("2" not in group for group in code.split("_")):
            continue
        model = build_model("mlp", code, width=2, num_classes=3, in_shape=(1, 2, 2), seed=0)
        traced = graph_of(model, torch.zeros(1, 1, 2, 2)).degrees()
        for name, m in model.named_modules():
            if getattr(m, "archscale_role", None) == "edge":
                tags = m.archscale_degrees
                assert traced[name] == (max(tags["source"], 1), max(tags["target"], 1)), (code, name)
        checked += 1
    assert checked == 315


def test_skip_edges_merge_nodes_and_sums_count_every_input() -> None:
    """Documented rules: a + b + c is one node of in-degree 3; a value used twice is one node."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c, self.d = (nn.Linear(4, 4) for _ in range(4))

        def forward(self, x):
            h = self.a(x)
            s = h + self.b(h) + torch.relu(self.c(h))  # node of in-degree 3 (skip + 2 layers)
            return self.d(s) + s

    traced = graph_of(Net(), torch.zeros(1, 4))
    assert traced.degrees() == {"a": (1, 1), "b": (1, 3), "c": (1, 3), "d": (3, 2)}
    assert traced.depth_counts == {1: 1, 2: 3, 3: 2}
    assert traced.readout is None


# ---------------------------------------------------------------------------------------------
# torchvision ResNet, deep residual nets
# ---------------------------------------------------------------------------------------------


def test_resnet18_paths_follow_its_blocks() -> None:
    model = torchvision.models.resnet18(weights=None)
    traced = graph_of(model, torch.zeros(1, 3, 32, 32))
    identity, projection = {0: 1, 2: 1}, {1: 1, 2: 1}
    blocks = [identity, identity] + [projection, identity] * 3
    assert traced.depth_counts == convolve({1: 1}, *blocks, {1: 1})
    assert traced.n_paths == 256 and traced.readout == "fc"
    deg = traced.degrees()
    assert deg["conv1"] == (1, 1) and deg["layer1.0.conv1"] == (1, 1) and deg["layer1.0.conv2"] == (1, 2)
    assert deg["layer2.0.downsample.0"] == (2, 2) and deg["layer2.1.conv1"] == (2, 1) and deg["fc"] == (2, 1)


def test_forty_blocks_count_2_to_the_40_paths_without_listing_them() -> None:
    net = residual_net("mlp", 40, 2, False, num_classes=2, in_shape=(3,))
    traced = graph_of(net, torch.zeros(1, 3))
    assert traced.n_paths == 2**40
    assert traced.depth_counts == {2 + 2 * k: math.comb(40, k) for k in range(41)}
    with pytest.raises(ValueError, match="too many"):
        traced.depths()


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
@pytest.mark.parametrize("downsample", [False, True])
def test_residual_builders_trace_to_their_blocks(kind: str, downsample: bool) -> None:
    blocks = 5
    model = build_residual(kind, blocks, 4, downsample, 10, (1, 8, 8), seed=0)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    traced = graph_of(model, torch.zeros(1, 1, 8, 8))
    parts = [{0: 1, 2: 1}] * blocks
    if downsample:
        parts[3] = {1: 1, 2: 1}  # the first block of the second stage projects its shortcut
    assert traced.depth_counts == convolve({1: 1}, *parts, {1: 1})
    factor = residual_lr_factor(ResidualConfig(kind, blocks, 4, downsample), (1, 8, 8))
    assert factor == pytest.approx(math.sqrt(8 / traced.depth_sum()))
    assert model.readout.archscale_role == "readout"


# ---------------------------------------------------------------------------------------------
# eq. 8 and eq. 4 from the trace
# ---------------------------------------------------------------------------------------------


def test_traced_lr_reproduces_the_release_with_offset_one() -> None:
    x = torch.zeros(1, 1, 8, 8)
    mlp = build_model("mlp", "2_02_002", width=8, num_classes=10, in_shape=(1, 8, 8))
    base = build_model("mlp", "1_01_001", width=8, num_classes=10, in_shape=(1, 8, 8))
    release = scaled_lr(1.0, "2_02_002")
    assert release == pytest.approx((27 / 216) ** 0.5)
    assert scaled_lr(1.0, mlp, base=[3], example_input=x, depth_offset=1) == pytest.approx(release, rel=1e-12)
    assert scaled_lr(1.0, mlp, base=base, example_input=x, depth_offset=1) == pytest.approx(release, rel=1e-12)
    # the plain count (offset 0): stem + 3 layers + readout = 5 against the base's 2
    assert scaled_lr(1.0, mlp, base=base, example_input=x) == pytest.approx((8 / 125) ** 0.5)
    cnn = build_model("cnn", "2_02_002", width=4, kernel_size=5, num_classes=10, in_shape=(1, 8, 8))
    traced = scaled_lr(1.0, cnn, base=[3], example_input=x, depth_offset=1, kernel_size=5)
    assert traced == pytest.approx(0.2121, abs=1e-4)


def test_traced_lr_errors_are_one_line() -> None:
    mlp = build_model("mlp", "2_02_002", width=4, num_classes=10, in_shape=(1, 8, 8))
    x = torch.zeros(1, 1, 8, 8)
    with pytest.raises(ValueError, match="needs base="):
        scaled_lr(1.0, mlp, example_input=x)
    with pytest.raises(ValueError, match="needs example_input="):
        scaled_lr(1.0, mlp, base=[2])
    with pytest.raises(ValueError, match="does not fit"):
        scaled_lr(1.0, mlp, base=[2], example_input=torch.zeros(1, 3, 8, 8))
    dead = build_model("mlp", "0_00_000", width=4, num_classes=10, in_shape=(1, 8, 8))
    with pytest.raises(UntrainableArchitecture, match="no input->output path"):
        scaled_lr(1.0, dead, base=[2], example_input=x)
    with pytest.raises(ValueError, match="no parameterised layer"):
        scaled_lr(1.0, nn.Identity(), base=[2], example_input=x)


def test_init_from_trace_equals_hand_tags_and_tags_a_resnet() -> None:
    code = "2_22_222"  # no skips: trace degrees = builder tags
    tagged = build_model("mlp", code, width=16, num_classes=10, in_shape=(1, 8, 8))
    traced = build_model("mlp", code, width=16, num_classes=10, in_shape=(1, 8, 8))
    for m in traced.modules():
        for attr in ("archscale_role", "archscale_degrees"):
            if hasattr(m, attr):
                delattr(m, attr)
    arch_aware_init_(tagged, generator=torch.Generator().manual_seed(3))
    arch_aware_init_(traced, generator=torch.Generator().manual_seed(3), example_input=torch.zeros(1, 1, 8, 8))
    for (name, a), (_, b) in zip(tagged.state_dict().items(), traced.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    resnet = torchvision.models.resnet18(weights=None)
    arch_aware_init_(resnet, example_input=torch.zeros(1, 3, 32, 32))
    ds = resnet.layer2[0].downsample[0]
    assert ds.archscale_degrees == {"source": 2, "target": 2} and resnet.fc.archscale_role == "readout"
    assert ds.weight.std().item() == pytest.approx(math.sqrt(2 / (2 * 64)), rel=0.05)
    assert resnet.layer2[0].bn1.weight.eq(1).all()


# ---------------------------------------------------------------------------------------------
# refusals
# ---------------------------------------------------------------------------------------------


class SelfAttention(nn.Module):
    def __init__(self, d: int = 8):
        super().__init__()
        self.q, self.k, self.v = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)

    def forward(self, x):
        w = torch.softmax(self.q(x) @ self.k(x).transpose(-1, -2), dim=-1)
        return w @ self.v(x)


class Mha(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x):
        return self.attn(x, x, x)[0]


class Sdpa(nn.Module):
    def __init__(self):
        super().__init__()
        self.q = nn.Linear(8, 8)

    def forward(self, x):
        return F.scaled_dot_product_attention(self.q(x), x, x)


class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        if x.sum() > 0:
            return self.fc(x)
        return x


class Gated(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(8, 8), nn.Linear(8, 8)

    def forward(self, x):
        return self.a(x) * torch.sigmoid(self.b(x))


class Recurrent(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(8, 8)

    def forward(self, x):
        return self.rnn(x)[0]


@pytest.mark.parametrize(
    ("model", "shape", "fragment"),
    [
        (lambda: torchvision.models.densenet121(weights=None), (1, 3, 32, 32), "concatenation (cat) in module"),
        (SelfAttention, (1, 4, 8), "product of two activations (matmul"),
        (Mha, (1, 4, 8), "attention in module 'attn' (MultiheadAttention)"),
        (Sdpa, (1, 4, 8), "attention (scaled_dot_product_attention)"),
        (Branchy, (1, 8), "cannot trace Branchy"),
        (Gated, (1, 8), "product of two activations (mul)"),
        (Recurrent, (1, 4, 8), "module 'rnn' (GRU) is neither a layer"),
    ],
)  # fmt: skip
def test_refusals_are_one_line_naming_the_op_and_the_fix(model, shape, fragment: str) -> None:
    with pytest.raises(TraceRefused) as info:
        graph_of(model(), torch.zeros(shape))
    msg = str(info.value)
    assert fragment in msg and "tag_edge_" in msg and "\n" not in msg


def test_init_refuses_a_shared_layer_with_two_degrees() -> None:
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            h = self.fc(x)
            return self.fc(h + x)

    with pytest.raises(TraceRefused, match="applied more than once"):
        tag_from_trace_(Shared(), torch.zeros(1, 4))


def test_residual_study_is_one_tidy_row_per_config_and_seed() -> None:
    from archscale.data import load_dataset
    from archscale.residual_study import measure_residual_max_lrs

    train = load_dataset("digits", split="train")
    search = dict(min_exp=-4, max_exp=-2, step=1, epochs=1, batch_size=64, momentum=0.0, weight_decay=0.0,
                  criterion="min_loss")  # fmt: skip
    configs = [ResidualConfig("mlp", 2, 16, False), ResidualConfig("mlp", 4, 16, True)]
    df = measure_residual_max_lrs(configs, train, search=search, seeds=[0])
    assert list(df["arch"]) == ["resmlp-b2-w16", "resmlp-b4-w16-ds"]
    assert {"arch", "predicted_lr_factor", "seed", "max_lr", "n_paths"} <= set(df.columns)
    assert df["max_lr"].isin([2**-4, 2**-3, 2**-2]).all()
    assert df["predicted_lr_factor"].iloc[0] == pytest.approx((8 / (8 + 2 * 64 + 216)) ** 0.5)
    assert list(df["n_paths"]) == [4, 16]
