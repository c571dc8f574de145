"""Architecture-aware initialisation, eq. 4 (docs/method.md, section 2): statistical checks.

Each parameterised edge s -> t must get W ~ N(0, 2 / (d * fan_in)) with d = max(in-degree, 1) of
the edge's SOURCE node (``in_degree='source'``, the release's) or TARGET node (``'target'``), and
d = 1 for Kaiming. d is recomputed here from the graph, not read from the layer tags. Sample
standard deviations are compared with a 4-sigma bound: the relative standard error of a sample
std of n Gaussian draws is about 1 / sqrt(2 n).
"""

from __future__ import annotations

import importlib.util
import math
import random

import pytest
import torch
from torch import nn

from archscale.graphs import parse, parse_dag
from archscale.init import (
    arch_aware_init_,
    edge_std,
    init_,
    kaiming_init_,
    readout_std,
    release_init_,
    release_stds,
    tag_edge_,
    tag_readout_,
)
from archscale.models import build_model

HAS_NB201 = importlib.util.find_spec("archscale.models.nb201") is not None
needs_nb201 = pytest.mark.skipif(not HAS_NB201, reason="archscale.models.nb201 not written yet")


def random_dags(n: int, seed: int, n_nodes: int = 5) -> list[str]:
    """``n`` distinct DAG codes, uniform over those with an input->output path (seeded)."""
    rng = random.Random(seed)
    sizes = range(1, n_nodes)
    out: list[str] = []
    while len(out) < n:
        code = "_".join("".join(rng.choice("012") for _ in range(k)) for k in sizes)
        if code not in out and parse_dag(code).n_paths > 0:
            out.append(code)
    return out


def assert_std(w: torch.Tensor, expected: float, what: str, sigmas: float = 4.0) -> None:
    n = w.numel()
    std = w.detach().double().std().item()
    bound = sigmas / math.sqrt(2 * n)
    assert abs(std / expected - 1) < bound, f"{what}: std {std:.5g} vs {expected:.5g} (n={n}, bound {bound:.3g})"
    mean = w.detach().double().mean().item()
    assert abs(mean) < sigmas * expected / math.sqrt(n), f"{what}: mean {mean:.3g} not ~0"


def expected_degree(graph, src: int, dst: int, scheme: str) -> int:
    if scheme == "kaiming":
        return 1
    deg = graph.in_degrees
    return max(deg[src] if scheme == "source" else deg[dst], 1)


SCHEMES = {
    "kaiming": dict(init="kaiming"),
    "source": dict(init="arch_aware", in_degree="source"),
    "target": dict(init="arch_aware", in_degree="target"),
}

FAMILY_KW = {
    "mlp": dict(width=256, in_shape=(64,)),
    "cnn": dict(width=32, in_shape=(3, 8, 8), kernel_size=3),
}

# random N5 DAGs plus hand-drawn ones whose source and target in-degrees differ
DAGS = random_dags(4, seed=7) + ["2_22_222_2222", "1_12_112", "0_22_202"]


def check_edge_layers(model, graph, scheme: str, fan: int) -> int:
    body = model.body
    expected_keys = {f"{e.src}_{e.dst}" for e in graph.edges if e.is_param}
    assert set(body.edges.keys()) == expected_keys
    for key, seq in body.edges.items():
        src, dst = map(int, key.split("_"))
        layer = seq[0]
        assert isinstance(layer, nn.Linear | nn.Conv2d)
        assert math.prod(layer.weight.shape[1:]) == fan
        d = expected_degree(graph, src, dst, scheme)
        assert_std(layer.weight, math.sqrt(2 / (d * fan)), f"{scheme} edge {key} (d={d})")
        assert torch.count_nonzero(layer.bias) == 0
    return len(expected_keys)


@pytest.mark.parametrize("scheme", list(SCHEMES))
@pytest.mark.parametrize("family", ["mlp", "cnn"])
def test_edge_std_matches_eq4(family, scheme):
    kw = FAMILY_KW[family]
    fan = kw["width"] * (kw.get("kernel_size", 1) ** 2)
    n_checked = 0
    for i, code in enumerate(DAGS):
        graph = parse_dag(code)
        model = build_model(family, code, num_classes=10, seed=100 + i, **kw, **SCHEMES[scheme])
        n_checked += check_edge_layers(model, graph, scheme, fan)
        # the stem is Kaiming whatever the scheme
        stem = model.stem[1] if family == "mlp" else model.stem[0]
        assert_std(stem.weight, math.sqrt(2 / math.prod(stem.weight.shape[1:])), "stem")
    assert n_checked > 20


def test_hand_drawn_graph_tells_conventions_apart():
    # 1_12_112: in-degrees (0, 1, 2, 3); layers on 1->2 and 2->3 only (the rest are skips)
    graph = parse_dag("1_12_112")
    assert graph.in_degrees == (0, 1, 2, 3)
    n = 256
    expected = {
        "kaiming": {"1_2": math.sqrt(2 / n), "2_3": math.sqrt(2 / n)},
        "source": {"1_2": math.sqrt(2 / n), "2_3": math.sqrt(2 / (2 * n))},
        "target": {"1_2": math.sqrt(2 / (2 * n)), "2_3": math.sqrt(2 / (3 * n))},
    }
    stds = {}
    for scheme, kw in SCHEMES.items():
        model = build_model("mlp", graph, width=n, num_classes=10, in_shape=(8,), seed=3, **kw)
        assert set(model.body.edges.keys()) == {"1_2", "2_3"}
        for key, std in expected[scheme].items():
            assert_std(model.body.edges[key][0].weight, std, f"{scheme} {key}")
        stds[scheme] = {k: model.body.edges[k][0].weight.std().item() for k in ("1_2", "2_3")}
    # the three conventions differ on this graph by far more than the sampling error
    assert stds["source"]["2_3"] < 0.8 * stds["kaiming"]["2_3"]
    assert stds["target"]["1_2"] < 0.8 * stds["source"]["1_2"]
    assert stds["target"]["2_3"] < 0.9 * stds["source"]["2_3"]


def test_tags_carry_graph_degrees():
    graph = parse_dag("2_22_222_2222")
    model = build_model("mlp", graph, width=4, num_classes=2, in_shape=(3,), seed=0)
    for key, seq in model.body.edges.items():
        src, dst = map(int, key.split("_"))
        assert seq[0].archscale_role == "edge"
        assert seq[0].archscale_degrees == {"source": graph.in_degrees[src], "target": graph.in_degrees[dst]}
    assert model.readout.archscale_role == "readout"


# ---------------------------------------------------------------------------------------------
# Readout, biases, norms
# ---------------------------------------------------------------------------------------------

READOUT_STD = {
    "mup": lambda n: math.sqrt(2) / n,
    "release": lambda n: 2 / n,
    "kaiming": lambda n: math.sqrt(1 / n),
}


@pytest.mark.parametrize("init", ["arch_aware", "kaiming"])
@pytest.mark.parametrize("readout", ["mup", "release", "kaiming", None])
def test_readout_rule(init, readout):
    width = 256
    model = build_model("mlp", "2_12", width=width, num_classes=64, in_shape=(16,), init=init, readout=readout, seed=1)
    rule = readout or ("mup" if init == "arch_aware" else "kaiming")
    assert_std(model.readout.weight, READOUT_STD[rule](width), f"readout {rule}")
    assert readout_std(width, rule) == pytest.approx(READOUT_STD[rule](width), rel=1e-12)


def test_readout_rule_cnn_fan_in_is_width():
    kw = dict(width=64, num_classes=100, in_shape=(3, 4, 4), init="arch_aware", readout="release", seed=0)
    model = build_model("cnn", "2", **kw)
    assert_std(model.readout.weight, 2 / 64, "cnn readout")


@pytest.mark.parametrize("family", ["mlp", "cnn"])
@pytest.mark.parametrize("init", ["release", "arch_aware", "kaiming"])
def test_biases_zero(family, init):
    kw = dict(FAMILY_KW[family], width=8)
    model = build_model(family, "2_21_122", num_classes=5, init=init, seed=0, **kw)
    biases = [m.bias for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d)]
    assert len(biases) == 2 + 4  # stem, readout, layers 0->1, 0->2, 1->3, 2->3
    assert all(torch.count_nonzero(b) == 0 for b in biases)


@pytest.mark.parametrize("fn", [release_init_, arch_aware_init_, kaiming_init_])
def test_norm_layers_and_untagged_layers(fn):
    torch.manual_seed(0)
    edge = tag_edge_(nn.Conv2d(16, 16, 3), source_degree=2, target_degree=4)
    readout = tag_readout_(nn.Linear(128, 50))
    model = nn.Sequential(
        nn.Conv2d(8, 16, 3),
        nn.BatchNorm2d(16),
        edge,
        nn.GroupNorm(4, 16),
        nn.Conv2d(16, 128, 1),
        nn.BatchNorm2d(128, affine=False),
        nn.Flatten(),
        nn.LayerNorm(128),
        readout,
    )
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(0.5, 1.5)  # nothing left at 0 or 1 by chance
    fn(model, readout="release", generator=torch.Generator().manual_seed(0))
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d | nn.GroupNorm | nn.LayerNorm) and m.weight is not None:
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
        if isinstance(m, nn.Linear | nn.Conv2d):
            assert torch.all(m.bias == 0)
    # untagged layers: Kaiming (d = 1); tagged edge: source in-degree 2 (default) or 1 (kaiming);
    # release_init_ on a model without ``archscale_fan_mode`` uses fan-in, so it agrees here
    assert_std(model[0].weight, math.sqrt(2 / 72), "untagged conv")
    assert_std(model[4].weight, math.sqrt(2 / 16), "untagged 1x1 conv")
    d = 1 if fn is kaiming_init_ else 2
    assert_std(edge.weight, math.sqrt(2 / (d * 144)), "tagged edge")
    assert_std(readout.weight, 2 / 128, "readout")


def test_edge_std_helper():
    assert edge_std(100, 0) == edge_std(100, 1) == pytest.approx(math.sqrt(0.02), rel=1e-12)
    assert edge_std(100, 4) == pytest.approx(math.sqrt(2 / 400), rel=1e-12)
    assert edge_std(100, 2, gain=1.0) == pytest.approx(math.sqrt(1 / 200), rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Option checking and seeding
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(init="xavier"), r"unknown init scheme 'xavier'.*release, arch_aware, kaiming"),
        (dict(init="release", in_degree="both"), r"unknown in-degree convention 'both'"),
        (dict(init="release", readout="std"), r"unknown readout rule 'std'"),
        (dict(init="arch_aware", in_degree="both"), r"unknown in-degree convention 'both'.*source, target"),
        (dict(init="arch_aware", readout="std"), r"unknown readout rule 'std'.*mup, release, kaiming"),
        (dict(init="kaiming", readout="MUP"), r"unknown readout rule 'MUP'"),
    ],
)
def test_unknown_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_model("mlp", "2_02", width=4, num_classes=2, in_shape=(3,), **kwargs)


def test_unknown_options_direct_calls():
    model = nn.Sequential(nn.Linear(3, 3))
    with pytest.raises(ValueError, match="unknown init scheme 'lecun'"):
        init_(model, "lecun")
    with pytest.raises(ValueError, match="unknown in-degree convention 'src'"):
        arch_aware_init_(model, in_degree="src")
    with pytest.raises(ValueError, match="unknown readout rule 'x'"):
        kaiming_init_(model, readout="x")
    with pytest.raises(ValueError, match="unknown readout rule 'y'"):
        readout_std(10, "y")
    with pytest.raises(ValueError, match="unknown fan mode 'fan_avg'.*fan_in, fan_out"):
        release_init_(model, mode="fan_avg")


@pytest.mark.parametrize("family", ["mlp", "cnn"])
@pytest.mark.parametrize("init", ["release", "arch_aware", "kaiming"])
def test_seeded_build_is_reproducible(family, init):
    kw = dict(FAMILY_KW[family], width=8)

    def build(seed: int):
        return build_model(family, "2_21_122", num_classes=3, init=init, seed=seed, **kw).state_dict()

    torch.manual_seed(123)
    a = build(0)
    torch.manual_seed(456)  # the global RNG must not matter
    b = build(0)
    c = build(1)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if k.endswith("weight"))


def test_build_model_records_architecture():
    model = build_model("mlp", parse("mlp", "2_02_002"), width=4, num_classes=2, in_shape=(3,))
    assert model.archscale_family == "mlp" and model.archscale_arch == "2_02_002"


# ---------------------------------------------------------------------------------------------
# NAS-Bench-201 (skipped until archscale.models.nb201 exists)
# ---------------------------------------------------------------------------------------------

NB201_CELLS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "|nor_conv_1x1~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|",
]


@needs_nb201
@pytest.mark.parametrize("scheme", list(SCHEMES))
@pytest.mark.parametrize("cell", NB201_CELLS)
def test_nb201_conv_edges_follow_eq4(cell, scheme):
    graph = parse("nb201", cell)
    n_cells = 3  # cells_per_stage=1, three stages
    model = build_model(
        "nb201", cell, width=16, num_classes=10, in_shape=(3, 8, 8), cells_per_stage=1, seed=0, **SCHEMES[scheme]
    )
    tagged = [m for m in model.modules() if getattr(m, "archscale_role", None) == "edge"]
    # one tagged conv per conv edge per cell, with the graph's in-degrees
    expected_pairs = sorted(
        (graph.in_degrees[e.src], graph.in_degrees[e.dst]) for e in graph.edges if e.is_param
    ) * n_cells
    got_pairs = [(m.archscale_degrees["source"], m.archscale_degrees["target"]) for m in tagged]
    assert sorted(got_pairs) == sorted(expected_pairs)
    # map every conv to its edge through each cell's ModuleDict ("{src}_{dst}", ReLU -> Conv -> BN)
    cells = [c for c in model.cells if hasattr(c, "edges")]
    assert len(cells) == n_cells
    n_checked = 0
    for cell in cells:
        assert set(cell.edges.keys()) == {f"{e.src}_{e.dst}" for e in graph.live_edges}
        for key, op in cell.edges.items():
            src, dst = map(int, key.split("_"))
            convs = [m for m in op.modules() if isinstance(m, nn.Conv2d)]
            edge = next(e for e in graph.edges if (e.src, e.dst) == (src, dst))
            assert len(convs) == (1 if edge.is_param else 0), key
            for conv in convs:
                assert conv.kernel_size == ((3, 3) if edge.op == "nor_conv_3x3" else (1, 1))
                d = expected_degree(graph, src, dst, scheme)
                assert_std(conv.weight, math.sqrt(2 / (d * math.prod(conv.weight.shape[1:]))), f"{scheme} {key}")
                n_checked += 1
    assert n_checked == len(tagged)
    # every other conv (stem, reduction blocks) is Kaiming fan-in
    for m in model.modules():
        if isinstance(m, nn.Conv2d) and getattr(m, "archscale_role", None) is None:
            assert_std(m.weight, math.sqrt(2 / math.prod(m.weight.shape[1:])), "nb201 plain conv")
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._NormBase) and m.affine:
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
        if isinstance(m, nn.Linear | nn.Conv2d) and m.bias is not None:
            assert torch.all(m.bias == 0)


@needs_nb201
def test_nb201_seeded_and_readout():
    kw = dict(width=16, num_classes=10, in_shape=(3, 8, 8), cells_per_stage=1, init="arch_aware", readout="release")
    a = build_model("nb201", NB201_CELLS[0], seed=0, **kw).state_dict()
    b = build_model("nb201", NB201_CELLS[0], seed=0, **kw).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    model = build_model("nb201", NB201_CELLS[0], seed=0, **kw)
    readouts = [m for m in model.modules() if getattr(m, "archscale_role", None) == "readout"]
    assert len(readouts) == 1
    fan = readouts[0].weight.shape[1]
    # 640 weights: a 4-sigma bound of ~11%
    assert_std(readouts[0].weight, 2 / fan, "nb201 readout")


# ---------------------------------------------------------------------------------------------
# Signal propagation through the DAG body (measured first, see /tmp/signal_prop_notes.md)
# ---------------------------------------------------------------------------------------------


def test_target_in_degree_keeps_signal_closer_to_unit_gain_than_kaiming():
    """Measured beforehand (/tmp/signal_prop_notes.md): over 16 groups of 50 random N5 DAGs
    (widths 128 and 512) and over 31 seeds of exactly this procedure, mean |log(E out^2 / E x^2)|
    was smaller under the target-node convention than under Kaiming every time, by 0.26 to 0.57.
    The SPREAD (std of the log ratio) was NOT smaller (larger in 20 of 31 seeds): not asserted."""
    width = 128
    x = torch.randn(128, width, generator=torch.Generator().manual_seed(0))
    logs = {"kaiming": [], "target": []}
    with torch.no_grad():
        for i, code in enumerate(random_dags(50, seed=2024)):
            for scheme in logs:
                kw = dict(width=width, num_classes=2, in_shape=(width,), seed=i, **SCHEMES[scheme])
                model = build_model("mlp", code, **kw)
                ratio = model.body(x).pow(2).mean() / x.pow(2).mean()
                logs[scheme].append(abs(math.log(ratio.item())))
    mean_abs = {k: sum(v) / len(v) for k, v in logs.items()}
    assert mean_abs["target"] < mean_abs["kaiming"] - 0.1, mean_abs


# ---------------------------------------------------------------------------------------------
# The release's init (init="release", the default): every layer's std, hand-computed from the
# authors' models (mlp_dags.MLP, cnn_dags.CNN: Kaiming fan_out everywhere, readout std
# 2 / fan_out; tiny_network.TinyNetwork: fan_in, reduction conv_a and shortcut / 2, classifier
# std 2 / fan_in). release_stds gives what the init draws from, so it is checked exactly; the
# drawn weights are then checked against it statistically.
# ---------------------------------------------------------------------------------------------

S = math.sqrt


def check_drawn(model, stds: dict[str, float], min_numel: int = 200) -> int:
    """Weights of every layer big enough for a 4-sigma check match ``stds``; biases 0, norms 1/0."""
    n = 0
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear | nn.Conv2d):
            if m.weight.numel() >= min_numel:
                assert_std(m.weight, stds[name], f"release {name}")
                n += 1
            assert m.bias is None or torch.count_nonzero(m.bias) == 0
        elif isinstance(m, nn.modules.batchnorm._NormBase) and m.affine:
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
    return n


def test_release_is_the_default():
    kw = dict(width=8, num_classes=3, in_shape=(5,), seed=4)
    a = build_model("mlp", "2_21_122", **kw).state_dict()
    b = build_model("mlp", "2_21_122", init="release", **kw).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_release_mlp_stds_width_128():
    # 1_12_112: in-degrees (0, 1, 2, 3); parameterised edges 1->2 (source in-degree 1) and 2->3 (2)
    model = build_model("mlp", "1_12_112", width=128, num_classes=10, in_shape=(64,), seed=0)
    expected = {
        "stem.1": S(2 / 128),  # fan_out = width, not fan_in = 64
        "body.edges.1_2.0": S(2 / 128),
        "body.edges.2_3.0": S(2 / (2 * 128)),
        "readout": 0.2,  # 2 / fan_out = 2 / num_classes
    }
    stds = release_stds(model)
    assert stds.keys() == expected.keys()
    for name, std in expected.items():
        assert stds[name] == pytest.approx(std, rel=1e-12), name
    assert check_drawn(model, stds) == 4


def test_release_mlp_edges_follow_source_in_degree_on_random_dags():
    width = 64
    for i, code in enumerate(DAGS):
        graph = parse_dag(code)
        model = build_model("mlp", code, width=width, num_classes=7, in_shape=(9,), seed=i)
        stds = release_stds(model)
        for e in graph.edges:
            if e.is_param:
                d = max(graph.in_degrees[e.src], 1)
                assert stds[f"body.edges.{e.src}_{e.dst}.0"] == pytest.approx(S(2 / (d * width)), rel=1e-12)
        assert stds["stem.1"] == pytest.approx(S(2 / width)) and stds["readout"] == pytest.approx(2 / 7)
        # square DAG layers: fan_out = fan_in, so the edges agree with arch_aware (source)
        aware = build_model("mlp", code, width=width, num_classes=7, in_shape=(9,), seed=i, init="arch_aware")
        for key, seq in aware.body.edges.items():
            assert stds[f"body.edges.{key}.0"] == pytest.approx(edge_std(width, seq[0].archscale_degrees["source"]))


def test_release_cnn_stds_width_8_kernel_5():
    # 2_02_202: in-degrees (0, 1, 1, 2); edges 0->1, 1->2, 0->3, 2->3 (source in-degrees 0, 1, 0, 1)
    q, width = 5, 8
    model = build_model("cnn", "2_02_202", width=width, num_classes=10, in_shape=(1, 8, 8), kernel_size=q, seed=0)
    fan = width * q * q  # 200
    expected = {
        "stem.0": S(2 / fan),  # fan_out = width q^2, not fan_in = 1 * q^2
        "body.edges.0_1.0": S(2 / fan),
        "body.edges.1_2.0": S(2 / fan),
        "body.edges.0_3.0": S(2 / fan),
        "body.edges.2_3.0": S(2 / fan),
        "readout": 0.2,
    }
    assert release_stds(model) == pytest.approx(expected, rel=1e-12)
    # an edge out of a node of in-degree 2: 1_11_222 has in-degrees (0, 1, 2, 3)
    model = build_model("cnn", "1_11_222", width=width, num_classes=10, in_shape=(1, 8, 8), kernel_size=q, seed=0)
    stds = release_stds(model)
    assert stds["body.edges.2_3.0"] == pytest.approx(S(2 / (2 * fan)), rel=1e-12)
    assert stds["body.edges.1_3.0"] == pytest.approx(S(2 / fan), rel=1e-12)
    assert check_drawn(model, stds) == 4  # stem (200 weights), 3 edges (1,600 each); not the 80-weight readout


@needs_nb201
def test_release_nb201_stds_layer_by_layer():
    # NB201_CELLS[0]: convs on 0->1 and 0->2 (source = cell input, degree 1) and 1->3 (node 1:
    # in-degree 1); in-degrees (0, 1, 2, 3)
    C = 16
    model = build_model("nb201", NB201_CELLS[0], width=C, num_classes=10, in_shape=(3, 8, 8), cells_per_stage=1, seed=0)
    expected = {"stem.0": S(2 / (3 * 9)), "classifier": 2 / (4 * C)}
    for i, c in ((0, C), (2, 2 * C), (4, 4 * C)):
        for key in ("0_1", "0_2", "1_3"):
            expected[f"cells.{i}.edges.{key}.1"] = S(2 / (c * 9))
    for i, c_in in ((1, C), (3, 2 * C)):
        expected[f"cells.{i}.conv_a.1"] = S(2 / (2 * c_in * 9))  # degree 2
        expected[f"cells.{i}.conv_b.1"] = S(2 / (2 * c_in * 9))  # degree 1, fan_in = 2 c_in * 9
        expected[f"cells.{i}.downsample.1"] = S(2 / (2 * c_in))  # 1x1, degree 2
    assert release_stds(model) == pytest.approx(expected, rel=1e-12)
    assert check_drawn(model, release_stds(model)) >= 10


@needs_nb201
def test_release_nb201_cell_edges_use_source_in_degree():
    cell = NB201_CELLS[1]  # convs everywhere: in-degrees (0, 1, 2, 3)
    graph = parse("nb201", cell)
    model = build_model("nb201", cell, width=8, num_classes=10, in_shape=(3, 8, 8), cells_per_stage=1, seed=0)
    stds = release_stds(model)
    for e in graph.edges:
        k = 1 if e.op == "nor_conv_1x1" else 9
        d = max(graph.in_degrees[e.src], 1)
        assert stds[f"cells.0.edges.{e.src}_{e.dst}.1"] == pytest.approx(S(2 / (d * 8 * k)), rel=1e-12)
    # the arch_aware scheme keeps the reduction block plain and the μP readout
    aware = build_model(
        "nb201", cell, width=8, num_classes=10, in_shape=(3, 8, 8), cells_per_stage=1, seed=0, init="arch_aware"
    )
    assert_std(aware.cells[1].conv_a.conv.weight, S(2 / (8 * 9)), "arch_aware conv_a")
    assert_std(model.cells[1].conv_a.conv.weight, S(2 / (2 * 8 * 9)), "release conv_a")


def test_release_readout_rules_and_mode_override():
    model = build_model("mlp", "2", width=256, num_classes=10, in_shape=(4,), readout="mup", seed=0)
    assert_std(model.readout.weight, S(2) / 256, "release scheme, mup readout")
    assert release_stds(model, readout="mup")["readout"] == pytest.approx(S(2) / 256)
    assert release_stds(model, readout="kaiming")["readout"] == pytest.approx(S(1 / 256))
    # fan_in instead of the model's fan_out: the stem goes back to sqrt(2 / fan_in)
    assert release_stds(model, mode="fan_in")["stem.1"] == pytest.approx(S(2 / 4))
    assert release_stds(model, mode="fan_in")["readout"] == pytest.approx(2 / 256)
    target = build_model("mlp", "1_12_112", width=32, num_classes=3, in_shape=(4,), in_degree="target", seed=0)
    assert release_stds(target, in_degree="target")["body.edges.1_2.0"] == pytest.approx(S(2 / (2 * 32)))
