"""A DAG of feature nodes whose parameterised edges are ``layer -> activation``.

Shared by the MLP and CNN families: only the edge layer differs. Zero edges are not built,
so they cost nothing at run time; skip edges are the identity.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from archscale.graphs import Graph
from archscale.init import tag_edge_

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU}


def make_activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def run_dag(
    x: torch.Tensor, n_nodes: int, edge_index: list[tuple[int, int, str]], layers: nn.ModuleDict
) -> list[torch.Tensor | None]:
    """Node 0 = ``x``; node t = sum of its edges' outputs (edge ``key`` "" is the identity).
    Edges are sorted by target, so every source is complete when read. A node nothing reaches
    stays ``None``: no zero tensor is built for it (under vmap those would cost K-fold)."""
    nodes: list[torch.Tensor | None] = [x] + [None] * (n_nodes - 1)
    for src, dst, key in edge_index:
        h = nodes[src]
        if h is None:  # source unreachable: its edges carry nothing
            continue
        if key:
            h = layers[key](h)
        nodes[dst] = h if nodes[dst] is None else nodes[dst] + h
    return nodes


def output_or_zeros(nodes: list[torch.Tensor | None], x: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(x) if nodes[-1] is None else nodes[-1]


class DagBody(nn.Module):
    """Node 0 is the input; node t = sum of its live incoming edges; returns the last node.

    A node without live inputs (unreachable from its predecessors) is all zeros; if the output
    is such a node the body returns zeros shaped like the input.
    """

    def __init__(self, graph: Graph, make_layer: Callable[[], nn.Module], activation: str = "relu"):
        super().__init__()
        self.graph = graph
        self.edge_index: list[tuple[int, int, str]] = []
        layers = {}
        deg = graph.in_degrees
        for e in sorted(graph.live_edges, key=lambda e: (e.dst, e.src)):
            key = f"{e.src}_{e.dst}"
            if e.is_param:
                layer = tag_edge_(make_layer(), source_degree=deg[e.src], target_degree=deg[e.dst])
                layers[key] = nn.Sequential(layer, make_activation(activation))
            self.edge_index.append((e.src, e.dst, key if e.is_param else ""))
        self.edges = nn.ModuleDict(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return output_or_zeros(run_dag(x, self.graph.n_nodes, self.edge_index, self.edges), x)

    def node_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every node's features (for signal-propagation checks); unreachable nodes are zeros."""
        return [
            torch.zeros_like(x) if n is None else n for n in run_dag(x, self.graph.n_nodes, self.edge_index, self.edges)
        ]
