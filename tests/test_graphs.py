"""Encodings, paths and in-degrees of archscale.graphs (docs/method.md, sections 1 and 3).

The whole N5 DAG space (3^10 codes) and the whole NAS-Bench-201 space (5^6 cells) are checked
exhaustively; everything else is hand-counted.
"""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from archscale.graphs import (
    DAG_EXAMPLE,
    NB201_EXAMPLE,
    NB201_OPS,
    Graph,
    base_arch,
    chain_dag,
    check_family,
    code_to_nb201,
    enumerate_dags,
    enumerate_nb201,
    enumerate_space,
    format_dag,
    format_graph,
    format_nb201,
    nb201_to_code,
    parse,
    parse_dag,
    parse_nb201,
    sample_space,
)

# ---------------------------------------------------------------------------------------------
# Whole spaces (module-scoped: parsed once)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def n5_codes() -> list[str]:
    return list(enumerate_dags(5))


@pytest.fixture(scope="module")
def n5_graphs(n5_codes) -> list[Graph]:
    return [parse_dag(c) for c in n5_codes]


@pytest.fixture(scope="module")
def nb201_archs() -> list[str]:
    return list(enumerate_nb201())


@pytest.fixture(scope="module")
def nb201_graphs(nb201_archs) -> list[Graph]:
    return [parse_nb201(a) for a in nb201_archs]


def test_n5_space_size_distinct_and_round_trip(n5_codes, n5_graphs):
    assert len(n5_codes) == 3**10 == 59_049
    assert len(set(n5_codes)) == len(n5_codes)
    for code, g in zip(n5_codes, n5_graphs, strict=True):
        assert g.kind == "dag" and g.n_nodes == 5 and len(g.edges) == 10
        assert format_dag(g) == code
    # str() and the family-level formatter agree with format_dag
    assert str(n5_graphs[12345]) == format_graph(n5_graphs[12345]) == n5_codes[12345]


def test_n5_codes_are_exactly_all_digit_strings(n5_codes):
    expected = {
        f"{d[0]}_{d[1]}{d[2]}_{d[3]}{d[4]}{d[5]}_{d[6]}{d[7]}{d[8]}{d[9]}"
        for d in itertools.product("012", repeat=10)
    }
    assert set(n5_codes) == expected


@pytest.mark.parametrize(("n_nodes", "count"), [(2, 3), (3, 27), (4, 729)])
def test_enumerate_dags_small(n_nodes, count):
    codes = list(enumerate_dags(n_nodes))
    assert len(codes) == len(set(codes)) == count
    assert all(format_dag(parse_dag(c)) == c for c in codes)
    assert all(parse_dag(c).n_nodes == n_nodes for c in codes)


def test_enumerate_dags_rejects_one_node():
    with pytest.raises(ValueError, match="n_nodes"):
        list(enumerate_dags(1))


def test_nb201_space_size_distinct_and_round_trip(nb201_archs, nb201_graphs):
    assert len(nb201_archs) == 5**6 == 15_625
    assert len(set(nb201_archs)) == len(nb201_archs)
    codes = set()
    for arch, g in zip(nb201_archs, nb201_graphs, strict=True):
        assert g.kind == "nb201" and g.n_nodes == 4 and len(g.edges) == 6
        assert format_nb201(g) == arch
        assert str(g) == arch
        code = nb201_to_code(arch)
        assert nb201_to_code(g) == code
        assert code_to_nb201(code) == arch
        codes.add(code)
    assert codes == {"".join(d) for d in itertools.product("01234", repeat=6)}


def test_nb201_code_order_and_example():
    # edges 0->1, 0->2, 1->2, 0->3, 1->3, 2->3; digit = index in NB201_OPS
    assert nb201_to_code(NB201_EXAMPLE) == "334131"
    assert code_to_nb201("334131") == NB201_EXAMPLE
    assert NB201_OPS.index("none") == 0
    assert code_to_nb201("000000") == "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


# ---------------------------------------------------------------------------------------------
# Hand-drawn graphs
# ---------------------------------------------------------------------------------------------


def _edge_paths(g: Graph) -> set[tuple[int, ...]]:
    """Paths as node sequences."""
    return {(p[0].src, *(e.dst for e in p)) for p in g.paths}


def test_chain_2_02_002():
    g = parse_dag("2_02_002")
    assert g.n_nodes == 4
    assert g.in_degrees == (0, 1, 1, 1)
    assert [g.in_degree(t) for t in range(4)] == [0, 1, 1, 1]
    assert g.n_paths == 1
    assert _edge_paths(g) == {(0, 1, 2, 3)}
    assert g.param_counts() == (3,)
    assert {(e.src, e.dst) for e in g.live_edges} == {(0, 1), (1, 2), (2, 3)}
    assert all(e.is_param for e in g.live_edges)


def test_all_skips_1_11_111():
    g = parse_dag("1_11_111")
    assert g.in_degrees == (0, 1, 2, 3)
    assert _edge_paths(g) == {(0, 3), (0, 1, 3), (0, 2, 3), (0, 1, 2, 3)}
    assert g.n_paths == 4
    assert g.param_counts() == (0, 0, 0, 0)
    assert not any(e.is_param for e in g.edges)


def test_all_params_2_22_222():
    g = parse_dag("2_22_222")
    assert g.in_degrees == (0, 1, 2, 3)
    assert sorted(g.param_counts()) == [1, 2, 2, 3]


def test_zero_edges_and_unreachable_node():
    # 0->1 layer; node 2 has no inputs (dead); node 3 = skip(1) + layer(2)
    g = parse_dag("2_00_012")
    assert g.in_degrees == (0, 1, 0, 2)  # the live edge 2->3 counts even though node 2 is dead
    assert _edge_paths(g) == {(0, 1, 3)}
    assert g.param_counts() == (1,)
    # no path at all
    g = parse_dag("2_02_000")
    assert g.n_paths == 0 and g.param_counts() == ()
    assert g.in_degrees == (0, 1, 1, 0)


def test_nb201_benchmark_example():
    g = parse_nb201(NB201_EXAMPLE)
    assert g.in_degrees == (0, 1, 2, 3)
    assert _edge_paths(g) == {(0, 3), (0, 1, 3), (0, 2, 3), (0, 1, 2, 3)}
    assert sorted(g.param_counts()) == [0, 1, 1, 2]
    assert sorted(1 + c for c in g.param_counts()) == [1, 2, 2, 3]
    ops = {(e.src, e.dst): e.op for e in g.edges}
    assert ops == {
        (0, 1): "nor_conv_3x3",
        (0, 2): "nor_conv_3x3",
        (1, 2): "avg_pool_3x3",
        (0, 3): "skip_connect",
        (1, 3): "nor_conv_3x3",
        (2, 3): "skip_connect",
    }
    # pooling and skip are live but not parameterised
    assert {e.op for e in g.live_edges if not e.is_param} == {"avg_pool_3x3", "skip_connect"}


def test_nb201_none_edges_drop_out():
    g = parse_nb201("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|none~2|")
    assert g.in_degrees == (0, 1, 0, 1)
    assert _edge_paths(g) == {(0, 1, 3)}
    assert g.param_counts() == (2,)
    assert len(g.live_edges) == 2 and len(g.edges) == 6

    g = parse_nb201("|skip_connect~0|+|none~0|nor_conv_1x1~1|+|none~0|none~1|avg_pool_3x3~2|")
    assert g.in_degrees == (0, 1, 1, 1)
    assert _edge_paths(g) == {(0, 1, 2, 3)}
    assert g.param_counts() == (1,)

    # nothing reaches node 3
    g = parse_nb201("|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|none~1|none~2|")
    assert g.n_paths == 0
    assert g.in_degrees == (0, 1, 2, 0)


def test_nb201_sources_in_any_order():
    a = parse_nb201("|skip_connect~0|+|nor_conv_1x1~1|none~0|+|none~2|none~1|skip_connect~0|")
    b = parse_nb201("|skip_connect~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|none~1|none~2|")
    assert a == b
    assert str(a) == "|skip_connect~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|none~1|none~2|"


# ---------------------------------------------------------------------------------------------
# Properties over the whole spaces, against an independent dynamic programme
# ---------------------------------------------------------------------------------------------


def _dp_param_count_multiset(n_nodes: int, ops: dict[tuple[int, int], str], zero, param) -> Counter:
    """Counter {param edges on path: number of paths}, node by node (no path enumeration)."""
    # at[t][k] = number of paths 0 -> t with k parameterised edges
    at = [[1] + [0] * n_nodes] + [[0] * (n_nodes + 1) for _ in range(n_nodes - 1)]
    for t in range(1, n_nodes):
        row = at[t]
        for s in range(t):
            op = ops[(s, t)]
            if op in zero:
                continue
            add = op in param
            for k, v in enumerate(at[s][: n_nodes - add]):
                row[k + add] += v
    return Counter({k: v for k, v in enumerate(at[-1]) if v})


def test_n5_paths_and_degrees_match_dp(n5_codes, n5_graphs):
    digit_op = {"0": "zero", "1": "skip", "2": "param"}
    for code, g in zip(n5_codes, n5_graphs, strict=True):
        groups = code.split("_")
        ops = {(s, t): digit_op[ch] for t, grp in enumerate(groups, start=1) for s, ch in enumerate(grp)}
        # in-degree of node t = non-zero digits of group t
        assert g.in_degrees == (0, *(sum(ch != "0" for ch in grp) for grp in groups)), code
        dp = _dp_param_count_multiset(5, ops, {"zero"}, {"param"})
        assert g.n_paths == sum(dp.values()), code
        assert Counter(g.param_counts()) == dp, code


def test_n5_path_properties(n5_graphs):
    n_with_path = 0
    for g in n5_graphs:
        paths = g.paths
        assert len(set(paths)) == len(paths)  # distinct edge sequences
        for p in paths:
            assert p[0].src == 0 and p[-1].dst == g.output
            assert all(a.dst == b.src for a, b in itertools.pairwise(p))
            assert not any(e.is_zero for e in p)
        n_with_path += g.n_paths > 0
    # a path exists iff the reachable set from 0 (over 0/1/2 != 0 digits) contains node 4
    assert 0 < n_with_path < len(n5_graphs)
    # the all-layer DAG has 2^(5-2) = 8 paths, the all-zero one none
    assert parse_dag("2_22_222_2222").n_paths == 8
    assert parse_dag("0_00_000_0000").n_paths == 0


def test_nb201_paths_and_degrees_match_dp(nb201_archs, nb201_graphs):
    for arch, g in zip(nb201_archs, nb201_graphs, strict=True):
        ops = {(e.src, e.dst): e.op for e in g.edges}
        # independent parse of the string for the degrees
        groups = arch.split("+")
        live = [sum(not it.startswith("none~") for it in grp.strip("|").split("|")) for grp in groups]
        assert g.in_degrees == (0, *live), arch
        dp = _dp_param_count_multiset(4, ops, {"none"}, {"nor_conv_1x1", "nor_conv_3x3"})
        assert g.n_paths == sum(dp.values()), arch
        assert Counter(g.param_counts()) == dp, arch


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------

_NB_TAIL = "+|none~0|none~1|+|none~0|none~1|none~2|"

# (parser, bad input, regex that names the bad part)
BAD_INPUTS = {
    "dag-group-length": (parse_dag, "2_2_002", r"group 2 \('2'\).*2 digit"),
    "dag-group-too-long": (parse_dag, "2_02_0020", r"group 3 \('0020'\)"),
    "dag-empty-group": (parse_dag, "2__002", r"group 2 \(''\)"),
    "dag-digit-3": (parse_dag, "2_03_002", r"'3' in group 2"),
    "dag-letter": (parse_dag, "2_0a_002", r"'a' in group 2"),
    "dag-letters-only": (parse_dag, "abc", r"group 1 \('abc'\)"),
    "dag-empty": (parse_dag, "", r"empty DAG code"),
    "dag-blank": (parse_dag, "   ", r"empty DAG code"),
    "nb201-unknown-op": (parse_nb201, "|conv_5x5~0|" + _NB_TAIL, r"conv_5x5"),
    "nb201-cycle-self": (parse_nb201, "|nor_conv_3x3~1|" + _NB_TAIL, r"'nor_conv_3x3~1'.*cycle"),
    "nb201-cycle-later": (
        parse_nb201,
        "|nor_conv_3x3~0|+|none~0|skip_connect~2|+|none~0|none~1|none~2|",
        r"'skip_connect~2'.*cycle",
    ),
    "nb201-two-groups": (parse_nb201, "|nor_conv_3x3~0|+|none~0|none~1|", r"2 node groups.*expected 3"),
    "nb201-four-groups": (parse_nb201, "|nor_conv_3x3~0|" + _NB_TAIL + "+|none~0|", r"4 node groups"),
    "nb201-missing-bar": (parse_nb201, "nor_conv_3x3~0|" + _NB_TAIL, r"'nor_conv_3x3~0\|'.*wrapped in '\|'"),
    "nb201-missing-closing-bar": (parse_nb201, "|nor_conv_3x3~0" + _NB_TAIL, r"'\|nor_conv_3x3~0'.*wrapped"),
    "nb201-wrong-item-count": (
        parse_nb201,
        "|nor_conv_3x3~0|+|none~0|+|none~0|none~1|none~2|",
        r"node 2.*2 inputs",
    ),
    "nb201-no-tilde": (parse_nb201, "|nor_conv_3x3-0|" + _NB_TAIL, r"'nor_conv_3x3-0' is not 'op~source'"),
    "nb201-duplicate-source": (
        parse_nb201,
        "|nor_conv_3x3~0|+|none~0|none~0|+|none~0|none~1|none~2|",
        r"source 0 twice",
    ),
    "nb201-empty": (parse_nb201, "", r"empty NAS-Bench-201"),
    "nb201-code-short": (code_to_nb201, "30313", r"'30313'.*6 digits"),
    "nb201-code-digit": (code_to_nb201, "303135", r"'303135'.*6 digits 0-4"),
}

# A valid example each message should show (a whole valid string, or the list of valid ops).
_EXAMPLE = {parse_dag: DAG_EXAMPLE, parse_nb201: NB201_EXAMPLE, code_to_nb201: "303134"}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_names_bad_part(case):
    fn, bad, part = BAD_INPUTS[case]
    with pytest.raises(ValueError, match=part):
        fn(bad)


@pytest.mark.parametrize(
    "case", list(BAD_INPUTS)
)
def test_bad_input_shows_valid_example(case):
    fn, bad, _ = BAD_INPUTS[case]
    with pytest.raises(ValueError) as info:
        fn(bad)
    msg = str(info.value)
    if case == "nb201-unknown-op":
        # the valid choices are listed instead of a whole string
        assert all(op in msg for op in NB201_OPS), msg
    elif case == "nb201-no-tilde":
        assert "'nor_conv_3x3~0'" in msg, msg
    else:
        example = _EXAMPLE[fn]
        assert repr(example) in msg, msg
    # and the example given really is valid
    if fn is code_to_nb201:
        code_to_nb201(_EXAMPLE[fn])


def test_examples_in_messages_are_valid():
    assert format_dag(parse_dag(DAG_EXAMPLE)) == DAG_EXAMPLE
    assert format_nb201(parse_nb201(NB201_EXAMPLE)) == NB201_EXAMPLE


def test_graph_rejects_backward_and_duplicate_edges():
    from archscale.graphs import Edge

    with pytest.raises(ValueError, match="no cycles"):
        Graph("dag", 3, (Edge(1, 0, "param"),))
    with pytest.raises(ValueError, match="no cycles"):
        Graph("dag", 3, (Edge(0, 3, "param"),))
    with pytest.raises(ValueError, match="duplicate"):
        Graph("dag", 3, (Edge(0, 1, "param"), Edge(0, 1, "skip")))


def test_family_dispatch():
    assert parse("mlp", "2_02_002") == parse("cnn", "2_02_002") == parse_dag("2_02_002")
    assert parse("nb201", NB201_EXAMPLE) == parse_nb201(NB201_EXAMPLE)
    g = parse_dag("1_01")
    assert parse("nb201", g) is g  # graphs pass through
    with pytest.raises(ValueError, match="unknown family 'rnn'"):
        parse("rnn", "2_02_002")
    with pytest.raises(ValueError, match="unknown family"):
        check_family("MLP")
    assert list(enumerate_space("mlp", 3)) == list(enumerate_dags(3))
    assert sum(1 for _ in enumerate_space("nb201")) == 5**6


# ---------------------------------------------------------------------------------------------
# chain_dag, base_arch, sample_space
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("depth", "n_nodes", "code"),
    [
        (0, None, "1"),
        (1, None, "2"),
        (3, None, "2_02_002"),
        (0, 5, "1_01_001_0001"),
        (2, 5, "2_02_001_0001"),
        (4, 5, "2_02_002_0002"),
        (1, 3, "2_01"),
    ],
)
def test_chain_dag(depth, n_nodes, code):
    assert chain_dag(depth, n_nodes) == code
    g = parse_dag(code)
    assert g.n_paths == 1
    assert g.param_counts() == (depth,)
    assert all(d <= 1 for d in g.in_degrees)


@pytest.mark.parametrize(("depth", "n_nodes"), [(-1, None), (5, 5), (3, 3), (1, 0)])
def test_chain_dag_rejects_impossible(depth, n_nodes):
    with pytest.raises(ValueError, match="chain of depth"):
        chain_dag(depth, n_nodes)


def test_chain_dag_one_node_raises():
    with pytest.raises(ValueError):
        chain_dag(0, n_nodes=1)


def test_base_arch():
    assert base_arch("mlp") == base_arch("cnn") == "1_01_001_0001"
    assert base_arch("mlp", n_nodes=3) == "1_01"
    g = parse_dag(base_arch("mlp"))
    assert g.n_paths == 1 and g.param_counts() == (0,)
    nb = parse_nb201(base_arch("nb201"))
    assert nb.n_paths == 1
    assert _edge_paths(nb) == {(0, 3)}
    with pytest.raises(ValueError, match="unknown family"):
        base_arch("resnet")


def test_sample_space_seeded_distinct_with_paths():
    a = sample_space("mlp", 40, seed=3, n_nodes=4)
    b = sample_space("mlp", 40, seed=3, n_nodes=4)
    c = sample_space("mlp", 40, seed=4, n_nodes=4)
    assert a == b
    assert a != c
    assert len(set(a)) == 40
    assert all(parse_dag(x).n_nodes == 4 and parse_dag(x).n_paths > 0 for x in a)


def test_sample_space_nb201():
    a = sample_space("nb201", 25, seed=0)
    assert len(set(a)) == 25
    assert all(parse_nb201(x).n_paths > 0 for x in a)
    assert all(format_nb201(parse_nb201(x)) == x for x in a)


def test_sample_space_whole_pool_and_too_many():
    pool = {c for c in enumerate_dags(3) if parse_dag(c).n_paths > 0}
    # by hand: code 'a_bc' has a path iff 0->2 (b) is live or 0->1 (a) and 1->2 (c) both are
    assert len(pool) == sum(
        1 for a, b, c in itertools.product("012", repeat=3) if b != "0" or (a != "0" and c != "0")
    )
    assert set(sample_space("mlp", len(pool), seed=0, n_nodes=3)) == pool
    with pytest.raises(ValueError, match="space has"):
        sample_space("mlp", len(pool) + 1, seed=0, n_nodes=3)
    with pytest.raises(ValueError, match="unknown family"):
        sample_space("gnn", 1, seed=0)
