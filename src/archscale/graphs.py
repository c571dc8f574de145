"""Architectures as DAGs: MLP/CNN DAG codes and NAS-Bench-201 cell strings.

A network is stem -> DAG of feature nodes -> readout. Node 0 is the stem's output, the last
node feeds the readout, and every edge s -> t (s < t) carries one operation. A node is the sum
of its incoming edges. Two text encodings exist (docs/method.md, section 1):

* DAG code, e.g. ``2_02_002``: group t (1-based) has t digits; digit s is the op on s -> t,
  with ``0`` zero, ``1`` skip, ``2`` a parameterised layer (Linear->ReLU or Conv->ReLU).
* NAS-Bench-201 string, e.g. ``|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...|``: one
  ``|op~source|`` list per node 1..3.

Both parse into the same :class:`Graph`, so paths, in-degrees and depths are computed once.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

Kind = Literal["dag", "nb201"]

#: DAG-code digits -> op names.
DAG_OPS: tuple[str, ...] = ("zero", "skip", "param")
#: NAS-Bench-201's own op list, in the benchmark's order (its ``NAS_BENCH_201`` constant).
NB201_OPS: tuple[str, ...] = (
    "none",
    "skip_connect",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "avg_pool_3x3",
)
#: Ops that stand for "no edge".
ZERO_OPS = frozenset({"zero", "none"})
#: Ops with weights: each adds one layer to a path's depth.
PARAM_OPS = frozenset({"param", "nor_conv_1x1", "nor_conv_3x3"})
#: Number of nodes of a NAS-Bench-201 cell (input + 3).
NB201_NODES = 4

DAG_EXAMPLE = "2_02_002"
NB201_EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
FAMILIES: tuple[str, ...] = ("mlp", "cnn", "nb201")


@dataclass(frozen=True)
class Edge:
    """One edge ``src -> dst`` carrying ``op``."""

    src: int
    dst: int
    op: str

    @property
    def is_zero(self) -> bool:
        return self.op in ZERO_OPS

    @property
    def is_param(self) -> bool:
        return self.op in PARAM_OPS


@dataclass(frozen=True)
class Graph:
    """A DAG of ``n_nodes`` feature nodes; ``edges`` lists every pair s < t, zero edges included
    (so the text form round-trips)."""

    kind: Kind
    n_nodes: int
    edges: tuple[Edge, ...]

    def __post_init__(self) -> None:
        for e in self.edges:
            if not 0 <= e.src < e.dst < self.n_nodes:
                raise ValueError(
                    f"edge {e.src}->{e.dst} is not forward within {self.n_nodes} nodes "
                    "(edges must go from a lower to a higher node: no cycles)"
                )
        pairs = [(e.src, e.dst) for e in self.edges]
        if len(set(pairs)) != len(pairs):
            raise ValueError(f"duplicate edge in graph: {sorted(pairs)}")

    @property
    def output(self) -> int:
        return self.n_nodes - 1

    @cached_property
    def live_edges(self) -> tuple[Edge, ...]:
        """Edges that carry signal (not zero/none); the only ones a model builds."""
        return tuple(e for e in self.edges if not e.is_zero)

    @cached_property
    def in_degrees(self) -> tuple[int, ...]:
        """Non-zero edges into each node (skip and pooling count). Node 0 gets 0."""
        deg = [0] * self.n_nodes
        for e in self.live_edges:
            deg[e.dst] += 1
        return tuple(deg)

    def in_degree(self, node: int) -> int:
        return self.in_degrees[node]

    @cached_property
    def paths(self) -> tuple[tuple[Edge, ...], ...]:
        """Every distinct edge sequence from node 0 to the output over non-zero edges."""
        out: dict[int, list[Edge]] = {n: [] for n in range(self.n_nodes)}
        for e in self.live_edges:
            out[e.src].append(e)

        def walk(node: int) -> list[tuple[Edge, ...]]:
            if node == self.output:
                return [()]
            return [(e, *rest) for e in out[node] for rest in walk(e.dst)]

        return tuple(walk(0))

    @property
    def n_paths(self) -> int:
        return len(self.paths)

    def param_counts(self) -> tuple[int, ...]:
        """Parameterised edges on each input->output path."""
        return tuple(sum(e.is_param for e in p) for p in self.paths)

    def __str__(self) -> str:
        return format_graph(self)


# ---------------------------------------------------------------------------------------------
# DAG codes
# ---------------------------------------------------------------------------------------------


def parse_dag(code: str) -> Graph:
    """Parse an MLP/CNN DAG code such as ``2_02_002`` (any number of nodes >= 2)."""
    if not isinstance(code, str) or not code.strip():
        raise ValueError(f"empty DAG code; expected groups of 1, 2, 3... digits, e.g. {DAG_EXAMPLE!r}")
    groups = code.strip().split("_")
    edges = []
    for t, group in enumerate(groups, start=1):
        if len(group) != t:
            raise ValueError(
                f"DAG code {code!r}: group {t} ({group!r}) must have {t} digit(s), one per edge "
                f"into node {t}; e.g. {DAG_EXAMPLE!r}"
            )
        for s, ch in enumerate(group):
            if ch not in "012":
                raise ValueError(
                    f"DAG code {code!r}: {ch!r} in group {t} is not an op; use 0 (zero), "
                    f"1 (skip) or 2 (layer), e.g. {DAG_EXAMPLE!r}"
                )
            edges.append(Edge(s, t, DAG_OPS[int(ch)]))
    return Graph("dag", len(groups) + 1, tuple(edges))


def format_dag(graph: Graph) -> str:
    ops = {(e.src, e.dst): e.op for e in graph.edges}
    return "_".join("".join(str(DAG_OPS.index(ops[(s, t)])) for s in range(t)) for t in range(1, graph.n_nodes))


def enumerate_dags(n_nodes: int = 5) -> Iterator[str]:
    """Every DAG code on ``n_nodes`` nodes: 3^(n(n-1)/2) of them (59,049 for N5)."""
    if n_nodes < 2:
        raise ValueError(f"n_nodes must be >= 2, got {n_nodes}")
    sizes = list(range(1, n_nodes))
    for digits in itertools.product("012", repeat=sum(sizes)):
        it = iter(digits)
        yield "_".join("".join(next(it) for _ in range(k)) for k in sizes)


def chain_dag(depth: int, n_nodes: int | None = None) -> str:
    """A plain chain with ``depth`` layers (``depth`` = 0 is the skip-only base network)."""
    n = n_nodes if n_nodes is not None else max(depth, 1) + 1
    if depth < 0 or n < 2 or depth > n - 1:
        raise ValueError(f"a chain of depth {depth} >= 0 needs at least {max(depth + 1, 2)} nodes, got {n_nodes}")
    groups = []
    for t in range(1, n):
        op = "2" if t <= depth else "1"
        groups.append("0" * (t - 1) + op)
    return "_".join(groups)


def chain_of_depth(L: int) -> str:
    """The plain chain whose path depth is ``L`` in the release's counting (parameterised edges
    + 3, so ``L = 3`` is the base network): ``L - 3`` linear edges on ``max(L - 2, 2)`` nodes."""
    return chain_dag(L - 3, n_nodes=max(L - 2, 2))


# ---------------------------------------------------------------------------------------------
# NAS-Bench-201 strings
# ---------------------------------------------------------------------------------------------

_NB201_ITEM = re.compile(r"([a-z0-9_]+)~(\d+)")


def parse_nb201(arch: str) -> Graph:
    """Parse a NAS-Bench-201 cell string (4 nodes, 6 edges)."""
    if not isinstance(arch, str) or not arch.strip():
        raise ValueError(f"empty NAS-Bench-201 string; e.g. {NB201_EXAMPLE!r}")
    nodes = arch.strip().split("+")
    if len(nodes) != NB201_NODES - 1:
        raise ValueError(
            f"NAS-Bench-201 string {arch!r} has {len(nodes)} node groups separated by '+', "
            f"expected 3; e.g. {NB201_EXAMPLE!r}"
        )
    edges = []
    for t, node in enumerate(nodes, start=1):
        if not (node.startswith("|") and node.endswith("|")) or "||" in node:
            raise ValueError(f"NAS-Bench-201 node group {node!r} must be wrapped in '|'; e.g. {NB201_EXAMPLE!r}")
        items = [x for x in node.split("|") if x]
        if len(items) != t:
            raise ValueError(
                f"NAS-Bench-201 node {t} group {node!r} must list {t} inputs 'op~source'; e.g. {NB201_EXAMPLE!r}"
            )
        seen = set()
        for item in items:
            m = _NB201_ITEM.fullmatch(item)
            if m is None:
                raise ValueError(f"NAS-Bench-201 item {item!r} is not 'op~source'; e.g. 'nor_conv_3x3~0'")
            op, src = m.group(1), int(m.group(2))
            if op not in NB201_OPS:
                raise ValueError(f"unknown NAS-Bench-201 op {op!r} in {item!r}; choose one of {', '.join(NB201_OPS)}")
            if src >= t:
                raise ValueError(
                    f"NAS-Bench-201 item {item!r} feeds node {t} from node {src}: a source must "
                    f"be an earlier node (< {t}), else the graph has a cycle; e.g. {NB201_EXAMPLE!r}"
                )
            if src in seen:
                raise ValueError(f"NAS-Bench-201 node {t} lists source {src} twice in {node!r}; e.g. {NB201_EXAMPLE!r}")
            seen.add(src)
            edges.append(Edge(src, t, op))
    return Graph("nb201", NB201_NODES, tuple(sorted(edges, key=lambda e: (e.dst, e.src))))


def format_nb201(graph: Graph) -> str:
    ops = {(e.src, e.dst): e.op for e in graph.edges}
    return "+".join("|" + "|".join(f"{ops[(s, t)]}~{s}" for s in range(t)) + "|" for t in range(1, graph.n_nodes))


_NB201_EDGE_ORDER = tuple((s, t) for t in range(1, NB201_NODES) for s in range(t))


def nb201_to_code(arch: str | Graph) -> str:
    """Compact 6-digit op code (edges 0->1, 0->2, 1->2, 0->3, 1->3, 2->3; digit = index in
    :data:`NB201_OPS`). This is NOT the benchmark's architecture index: that comes from its API."""
    g = parse_nb201(arch) if isinstance(arch, str) else arch
    ops = {(e.src, e.dst): e.op for e in g.edges}
    return "".join(str(NB201_OPS.index(ops[p])) for p in _NB201_EDGE_ORDER)


def code_to_nb201(code: str) -> str:
    if len(code) != 6 or any(c not in "01234" for c in code):
        raise ValueError(f"NAS-Bench-201 op code {code!r} must be 6 digits 0-4, e.g. '303134'")
    edges = tuple(Edge(s, t, NB201_OPS[int(c)]) for (s, t), c in zip(_NB201_EDGE_ORDER, code, strict=True))
    return format_nb201(Graph("nb201", NB201_NODES, edges))


def enumerate_nb201() -> Iterator[str]:
    """All 5^6 = 15,625 NAS-Bench-201 cells (in op-code order, not the benchmark's index order)."""
    for digits in itertools.product("01234", repeat=6):
        yield code_to_nb201("".join(digits))


# ---------------------------------------------------------------------------------------------
# Family-level entry points
# ---------------------------------------------------------------------------------------------


def check_family(family: str) -> str:
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    return family


def parse(family: str, arch: str | Graph) -> Graph:
    """Parse ``arch`` in the encoding of ``family`` (mlp/cnn: DAG code; nb201: cell string)."""
    if isinstance(arch, Graph):
        return arch
    return parse_nb201(arch) if check_family(family) == "nb201" else parse_dag(arch)


def format_graph(graph: Graph) -> str:
    return format_nb201(graph) if graph.kind == "nb201" else format_dag(graph)


def enumerate_space(family: str, n_nodes: int = 5) -> Iterator[str]:
    return enumerate_nb201() if check_family(family) == "nb201" else enumerate_dags(n_nodes)


def base_arch(family: str, n_nodes: int = 5) -> str:
    """The shallow base network of a family: L = 1 (input -> hidden -> output).

    For MLP/CNN DAGs this is the all-skip chain (every path has no parameterised edge), for
    NB201 a single skip edge 0 -> 3 (one path of depth 1 under the release's counting: the
    macro network's stem, reductions and classifier around an identity cell).
    """
    if check_family(family) == "nb201":
        return "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
    return chain_dag(0, n_nodes)


def space_size(family: str, n_nodes: int = 5) -> int:
    """Number of architectures of a family's space (with and without paths)."""
    return 5**6 if check_family(family) == "nb201" else 3 ** (n_nodes * (n_nodes - 1) // 2)


def random_arch(family: str, rng, n_nodes: int = 5) -> str:
    """One architecture drawn uniformly from the family's space with ``rng`` (random.Random)."""
    if check_family(family) == "nb201":
        return code_to_nb201("".join(rng.choice("01234") for _ in range(6)))
    return "_".join("".join(rng.choice("012") for _ in range(t)) for t in range(1, n_nodes))


def sample_space(family: str, n: int, *, seed: int, n_nodes: int = 5) -> list[str]:
    """``n`` distinct architectures drawn uniformly (seeded) from the family's space, keeping
    only those with an input->output path (the others cannot learn through the DAG).

    Draws by rejection, so sampling a few dozen from N5 costs microseconds; asking for more
    than half the space enumerates it instead.
    """
    import random

    rng = random.Random(seed)
    if n > space_size(family, n_nodes) // 2:
        pool = [a for a in enumerate_space(family, n_nodes) if parse(family, a).n_paths > 0]
        if n > len(pool):
            raise ValueError(f"asked for {n} {family} architectures but the space has {len(pool)} with a path")
        return rng.sample(pool, n)
    out: dict[str, None] = {}
    while len(out) < n:
        a = random_arch(family, rng, n_nodes)
        if a not in out and parse(family, a).n_paths > 0:
            out[a] = None
    return list(out)
