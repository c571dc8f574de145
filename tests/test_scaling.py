"""Architecture-aware learning rates, eq. 8 / eq. 9 (docs/method.md, section 3)."""

from __future__ import annotations

import math

import pytest

from archscale.graphs import (
    NB201_EXAMPLE,
    NB201_OPS,
    Graph,
    base_arch,
    chain_dag,
    enumerate_dags,
    enumerate_nb201,
    parse_dag,
    parse_nb201,
)
from archscale.scaling import (
    CONVENTIONS,
    PLAIN,
    RELEASE_DAG,
    RELEASE_NB201,
    DepthConvention,
    UntrainableArchitecture,
    as_graph,
    depth_sum,
    lr_factor,
    path_depths,
    scaled_lr,
    sgd_param_groups,
)

NB201_ONE_PATH = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|none~2|"
NB201_ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
NB201_NONE_INTO_3 = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|none~1|none~2|"
# node 3 only reachable from node 2, which nothing feeds
NB201_DEAD_NODE = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"


# ---------------------------------------------------------------------------------------------
# docs/method.md worked examples
# ---------------------------------------------------------------------------------------------


def test_worked_example_mlp_chain():
    assert path_depths("2_02_002") == [6]
    assert scaled_lr(1.0, "2_02_002") == pytest.approx(math.sqrt(27 / 216), abs=1e-12)
    assert math.sqrt(27 / 216) == pytest.approx(0.35355339059327, abs=1e-12)
    assert round(scaled_lr(1.0, "2_02_002"), 4) == 0.3536


def test_worked_example_mlp_base():
    assert path_depths("1_01_001") == [3]
    assert scaled_lr(1.0, "1_01_001") == pytest.approx(1.0, abs=1e-12)


def test_worked_example_cnn_kernel_5():
    lr = scaled_lr(1.0, "2_02_002", kernel_size=5)
    assert lr == pytest.approx(math.sqrt(27 / 216) * 3 / 5, abs=1e-12)
    assert round(lr, 4) == 0.2121


def test_worked_example_nb201_one_path():
    assert path_depths(NB201_ONE_PATH) == [3]
    lr = scaled_lr(1.0, NB201_ONE_PATH)
    assert lr == pytest.approx(27**-0.5, abs=1e-12)
    assert round(lr, 4) == 0.1925


def test_worked_example_nb201_benchmark_cell():
    assert sorted(path_depths(NB201_EXAMPLE)) == [1, 2, 2, 3]
    assert depth_sum(path_depths(NB201_EXAMPLE)) == 44
    assert scaled_lr(1.0, NB201_EXAMPLE) == pytest.approx(44**-0.5, abs=1e-12)
    assert round(scaled_lr(1.0, NB201_EXAMPLE), 4) == 0.1508
    lr = scaled_lr(0.46, NB201_EXAMPLE)
    assert lr == pytest.approx(0.46 * 44**-0.5, abs=1e-12)
    assert round(lr, 4) == 0.0693


def test_graph_and_string_give_the_same_rate():
    assert scaled_lr(1.0, parse_dag("2_22_222")) == scaled_lr(1.0, "2_22_222")
    assert scaled_lr(1.0, parse_nb201(NB201_EXAMPLE)) == scaled_lr(1.0, NB201_EXAMPLE)
    assert as_graph(" " + NB201_EXAMPLE).kind == "nb201"
    assert as_graph("2_02").kind == "dag"


# ---------------------------------------------------------------------------------------------
# Plain chains: eta ~ L^(-3/2)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("conv", "offset"), [(PLAIN, 1), (RELEASE_DAG, 3), ("plain", 1), ("release-dag", 3)])
def test_chain_ratios_follow_l_to_minus_three_halves(conv, offset):
    depths = range(1, 9)
    rates = {k: scaled_lr(1.0, chain_dag(k, n_nodes=9), convention=conv) for k in depths}
    for k in depths:
        assert path_depths(chain_dag(k, n_nodes=9), conv) == [k + offset]
    for k1 in depths:
        for k2 in depths:
            expected = ((k2 + offset) / (k1 + offset)) ** 1.5
            assert rates[k1] / rates[k2] == pytest.approx(expected, rel=1e-12)
        # absolute value against the base depths of the convention
        assert rates[k1] == pytest.approx((offset / (k1 + offset)) ** 1.5, rel=1e-12)
    # strictly decreasing with depth
    assert all(rates[k] > rates[k + 1] for k in range(1, 8))


def test_release_chain_of_k_layers_has_depth_k_plus_3():
    for k in range(0, 5):
        code = chain_dag(k, n_nodes=5)
        assert path_depths(code) == [k + 3]
        assert lr_factor(code) == pytest.approx((3 / (k + 3)) ** 1.5, rel=1e-12)


def test_chain_with_skips_padding_does_not_change_rate():
    # extra skip edges after the layers add no depth
    assert lr_factor(chain_dag(2, n_nodes=3)) == pytest.approx(lr_factor(chain_dag(2, n_nodes=6)), rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Kernel factor (eq. 9)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["2_02_002", "2_22_222_2222", "1_01_001_0001", "1_21_012"])
@pytest.mark.parametrize("q", [1, 3, 5, 7])
def test_kernel_factor(arch, q):
    plain = scaled_lr(1.0, arch)
    assert scaled_lr(1.0, arch, kernel_size=q) / plain == pytest.approx(3 / q, rel=1e-12)
    assert scaled_lr(1.0, arch, kernel_size=q, base_kernel_size=5) / plain == pytest.approx(5 / q, rel=1e-12)
    assert scaled_lr(1.0, arch, kernel_size=q, base_kernel_size=q) == pytest.approx(plain, rel=1e-12)


def test_kernel_factor_base_network():
    # the CNN base network (L = 1, q = 3) keeps the base rate; a k=7 base net gets 3/7 of it
    assert scaled_lr(0.1, base_arch("cnn"), kernel_size=3) == pytest.approx(0.1, rel=1e-12)
    assert scaled_lr(0.1, base_arch("cnn"), kernel_size=7) == pytest.approx(0.1 * 3 / 7, rel=1e-12)


@pytest.mark.parametrize(("k", "base_k"), [(0, 3), (-3, 3), (3, 0), (3, -1)])
def test_kernel_sizes_must_be_positive(k, base_k):
    with pytest.raises(ValueError, match="kernel sizes must be positive"):
        lr_factor("2_02_002", kernel_size=k, base_kernel_size=base_k)


# ---------------------------------------------------------------------------------------------
# base_graph, base networks
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["2_02_002", "2_22_222_2222", "1_11_111", NB201_EXAMPLE, NB201_ONE_PATH])
def test_graph_relative_to_itself_is_one(arch):
    assert lr_factor(arch, base_graph=arch) == pytest.approx(1.0, rel=1e-12)
    assert scaled_lr(0.37, arch, base_graph=arch) == pytest.approx(0.37, rel=1e-12)
    assert scaled_lr(0.37, arch, base_graph=arch, kernel_size=3) == pytest.approx(0.37, rel=1e-12)


def test_base_graph_changes_reference():
    # relative to the 2-layer chain (L = 5), the 3-layer chain (L = 6) gets (125/216)^(1/2)
    assert lr_factor("2_02_002", base_graph="2_02_001") == pytest.approx(math.sqrt(125 / 216), rel=1e-12)
    # the release convention's default base is the same as passing the base network
    assert lr_factor("2_22_222", base_graph=base_arch("mlp")) == pytest.approx(lr_factor("2_22_222"), rel=1e-12)


@pytest.mark.parametrize("family", ["mlp", "cnn"])
def test_base_arch_gets_base_rate_dag(family):
    assert lr_factor(base_arch(family)) == pytest.approx(1.0, rel=1e-12)


def test_base_arch_gets_base_rate_nb201():
    assert lr_factor(base_arch("nb201")) == pytest.approx(1.0, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# No path / no parameterised path
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", [NB201_ALL_NONE, NB201_NONE_INTO_3, NB201_DEAD_NODE])
def test_nb201_without_path_is_refused(arch):
    assert parse_nb201(arch).n_paths == 0
    with pytest.raises(UntrainableArchitecture, match=r"no input->output path") as info:
        scaled_lr(0.1, arch)
    assert isinstance(info.value, ValueError)
    assert arch in str(info.value)  # names the cell
    assert "node 3" in str(info.value)
    with pytest.raises(ValueError):
        lr_factor(arch)
    with pytest.raises(UntrainableArchitecture):
        path_depths(arch)


def test_nb201_path_without_conv_is_base():
    skip_only = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
    assert path_depths(skip_only) == [1]
    assert lr_factor(skip_only) == 1.0
    pool_two = "|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|skip_connect~1|none~2|"
    assert path_depths(pool_two) == [1, 1]  # release NB201 counts every path: sum 2
    assert lr_factor(pool_two) == pytest.approx(2**-0.5, rel=1e-12)


@pytest.mark.parametrize("code", ["0_00_000_0000", "2_02_000", "0_22_000_0002", "1_00_000"])
def test_dag_without_path_gets_base_rate(code):
    assert parse_dag(code).n_paths == 0
    assert path_depths(code) == [3]
    assert scaled_lr(0.2, code) == pytest.approx(0.2, rel=1e-12)
    assert scaled_lr(0.2, code, kernel_size=5) == pytest.approx(0.2 * 3 / 5, rel=1e-12)


@pytest.mark.parametrize("code", ["1_11_111_1111", "1_01_001", "1_10_011"])
def test_dag_without_layers_gets_base_rate(code):
    g = parse_dag(code)
    assert g.n_paths >= 1 and not any(g.param_counts())
    assert path_depths(code) == [3]
    assert lr_factor(code) == 1.0
    # the plain convention counts every (depth-1) path instead
    assert path_depths(code, "plain") == [1] * g.n_paths


def test_plain_convention_refuses_dag_without_path():
    with pytest.raises(UntrainableArchitecture):
        lr_factor("0_00_000", convention="plain")


# ---------------------------------------------------------------------------------------------
# Whole spaces
# ---------------------------------------------------------------------------------------------


def _independent_factor(graph: Graph, offset: int, base_sum: int, collapse: bool) -> float:
    counts = graph.param_counts()
    no_layers = not counts or (collapse and not any(counts))
    depths = [offset] if no_layers else [offset + c for c in counts]
    return math.sqrt(base_sum / sum(d**3 for d in depths))


def _bump(code: str, i: int) -> str | None:
    """The code with its i-th digit raised by one (0->1 zero to skip, 1->2 skip to layer)."""
    digits = code.replace("_", "")
    if digits[i] == "2":
        return None
    digits = digits[:i] + str(int(digits[i]) + 1) + digits[i + 1 :]
    return "_".join([digits[0], digits[1:3], digits[3:6], digits[6:10]])


def test_whole_n5_space():
    factors: dict[str, float] = {}
    for code in enumerate_dags(5):
        g = parse_dag(code)
        f = lr_factor(g)
        assert 0 < f <= 1, code
        assert math.isclose(f, _independent_factor(g, 3, 27, collapse=True), rel_tol=1e-12), code
        factors[code] = f
    assert len(factors) == 3**10
    # no topology gets more than the base rate, and the all-layer DAG the least:
    assert min(factors, key=factors.get) == "2_22_222_2222"
    # raising any one edge (zero -> skip, skip -> layer) never increases the rate
    for code, f in factors.items():
        for i in range(10):
            up = _bump(code, i)
            if up is not None:
                assert factors[up] <= f * (1 + 1e-12), (code, up)
    # a single-path chain strictly loses rate with every layer added
    assert factors["2_02_002_0002"] < factors["2_02_002_0001"] < factors["2_02_001_0001"] < factors["2_01_001_0001"]


# NB201 op order by "weight": none < skip/pool (live, no weights) < conv
_RANK = {"none": 0, "skip_connect": 1, "avg_pool_3x3": 1, "nor_conv_1x1": 2, "nor_conv_3x3": 2}


def test_whole_nb201_space():
    factors: dict[str, float] = {}
    n_refused = 0
    for arch in enumerate_nb201():
        g = parse_nb201(arch)
        if g.n_paths == 0:
            with pytest.raises(UntrainableArchitecture):
                lr_factor(g)
            n_refused += 1
            continue
        f = lr_factor(g)
        assert 0 < f <= 1, arch
        assert math.isclose(f, _independent_factor(g, 1, 1, collapse=False), rel_tol=1e-12), arch
        factors[arch] = f
    assert n_refused + len(factors) == 5**6
    assert n_refused > 0
    # 1x1 and 3x3 convs count the same, and so do skip and pooling: swapping changes nothing
    for arch, f in factors.items():
        swapped = arch.replace("nor_conv_1x1", "TMP").replace("nor_conv_3x3", "nor_conv_1x1")
        swapped = swapped.replace("TMP", "nor_conv_3x3").replace("skip_connect", "avg_pool_3x3")
        assert factors[swapped] == f
    # raising one edge's rank (none -> skip/pool -> conv) never increases the rate
    edges = [(s, t) for t in range(1, 4) for s in range(t)]
    for arch, f in factors.items():
        ops = {(e.src, e.dst): e.op for e in parse_nb201(arch).edges}
        for st in edges:
            for new in NB201_OPS:
                if _RANK[new] > _RANK[ops[st]]:
                    up = "+".join(
                        "|" + "|".join(f"{new if (s, t) == st else ops[(s, t)]}~{s}" for s in range(t)) + "|"
                        for t in range(1, 4)
                    )
                    assert factors[up] <= f * (1 + 1e-12), (arch, up)


# ---------------------------------------------------------------------------------------------
# Conventions and argument checking
# ---------------------------------------------------------------------------------------------


def test_conventions_registry():
    assert set(CONVENTIONS) == {"release-dag", "release-nb201", "plain"}
    assert path_depths("2_02_002", RELEASE_NB201) == [4]
    assert sorted(path_depths(NB201_EXAMPLE, "release-dag")) == [3, 4, 4, 5]
    # explicit names equal the defaults
    assert lr_factor("2_22_222", convention="release-dag") == lr_factor("2_22_222")
    assert lr_factor(NB201_EXAMPLE, convention="release-nb201") == lr_factor(NB201_EXAMPLE)


def test_custom_convention_in_one_line():
    mine = DepthConvention("mine", 2, (2,))
    assert path_depths("2_02_002", mine) == [5]
    assert scaled_lr(1.0, "2_02_002", convention=mine) == pytest.approx(math.sqrt(8 / 125), rel=1e-12)
    # defaults: count every path, refuse graphs without a path
    assert path_depths("1_11", mine) == [2, 2]
    with pytest.raises(UntrainableArchitecture):
        scaled_lr(1.0, "0_00", convention=mine)


@pytest.mark.parametrize("name", ["release", "Plain", "", "release_dag"])
def test_unknown_convention(name):
    with pytest.raises(ValueError, match=f"unknown depth convention '{name}'.*release-dag"):
        scaled_lr(1.0, "2_02_002", convention=name)


@pytest.mark.parametrize("base_lr", [0.0, -0.1, float("nan"), float("inf"), -float("inf")])
def test_bad_base_lr(base_lr):
    with pytest.raises(ValueError, match="base learning rate must be a positive number"):
        scaled_lr(base_lr, "2_02_002")


def test_scaled_lr_is_linear_in_base_lr():
    for lr in (1e-4, 0.05, 0.46, 3.0):
        assert scaled_lr(lr, "2_22_222") == pytest.approx(lr * lr_factor("2_22_222"), rel=1e-12)


def test_sgd_param_groups_usable_by_torch_sgd():
    torch = pytest.importorskip("torch")
    from archscale.models import build_model

    model = build_model("mlp", "2_12", width=8, num_classes=3, in_shape=(4,), seed=0)
    frozen = model.stem[1].bias
    frozen.requires_grad_(False)
    lr = scaled_lr(0.46, "2_12")
    groups = sgd_param_groups(model, lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    assert isinstance(groups, list) and len(groups) == 1
    assert groups[0]["lr"] == lr and groups[0]["momentum"] == 0.9
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert len(groups[0]["params"]) == len(trainable)
    assert all(a is b for a, b in zip(groups[0]["params"], trainable, strict=True))
    opt = torch.optim.SGD(groups)
    assert opt.param_groups[0]["lr"] == lr and opt.param_groups[0]["nesterov"] is True
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    model(torch.randn(5, 4)).pow(2).mean().backward()
    opt.step()
    after = dict(model.named_parameters())
    assert not torch.equal(before["readout.weight"], after["readout.weight"].detach())  # trained
    assert torch.equal(before["stem.1.bias"], frozen.detach())  # frozen one was left out
