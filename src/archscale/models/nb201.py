"""NAS-Bench-201's macro network (``TinyNetwork``) around a cell given as a :class:`Graph`.

Mirrors AutoDL-Projects (``xautodl/models/cell_infers/tiny_network.py``, ``cells.py`` and
``cell_operations.py``) layer for layer, so parameter counts equal the benchmark's and its
trained numbers describe the same networks:

    stem Conv3x3 + BN -> N cells (C) -> ResNet block (C -> 2C, /2) -> N cells (2C)
    -> ResNet block (2C -> 4C, /2) -> N cells (4C) -> BN + ReLU -> global avg pool -> Linear

One deliberate difference: ``none`` edges are not built (the benchmark builds a ``Zero`` op that
multiplies by 0). Same parameters, same function, no run-time cost. Each conv on a cell edge is
tagged with the in-degrees of its edge's nodes so :mod:`archscale.init` can apply eq. 4; the stem
and the reduction blocks are plain layers (Kaiming), except that the ``release`` init divides the
reduction blocks' ``conv_a`` and shortcut conv by 2, as the authors' release does.
"""

from __future__ import annotations

import torch
from torch import nn

from archscale.graphs import Graph
from archscale.init import tag_edge_, tag_readout_, tag_release_degree_
from archscale.models.dag import output_or_zeros, run_dag

__all__ = ["ReLUConvBN", "ResNetBasicblock", "InferCell", "TinyNetwork", "make_op"]


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv -> BN, the benchmark's conv op (its ``ReLUConvBN``).

    The conv has a bias only when the BN is not affine (``bias=not affine`` in xautodl; older
    releases always used ``bias=False``; the two agree for the ``affine=True`` the benchmark
    trains with). Indexing ``[1]`` gives the conv.
    """

    def __init__(
        self,
        C_in: int,
        C_out: int,
        kernel_size: int,
        stride: int,
        padding: int,
        dilation: int = 1,
        affine: bool = True,
        track_running_stats: bool = True,
    ):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding, dilation=dilation, bias=not affine),
            nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track_running_stats),
        )

    @property
    def conv(self) -> nn.Conv2d:
        return self[1]


class ResNetBasicblock(nn.Module):
    """The benchmark's fixed reduction block between stages (stride 2, channels doubled):
    ``AvgPool2x2 -> Conv1x1`` shortcut plus two ReLUConvBN 3x3 convs."""

    def __init__(self, inplanes: int, planes: int, stride: int = 2, affine: bool = True):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"ResNetBasicblock stride must be 1 or 2, got {stride}")
        self.conv_a = ReLUConvBN(inplanes, planes, 3, stride, 1, 1, affine)
        self.conv_b = ReLUConvBN(planes, planes, 3, 1, 1, 1, affine)
        self.downsample: nn.Module | None
        if stride == 2:
            self.downsample = nn.Sequential(
                nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
                nn.Conv2d(inplanes, planes, kernel_size=1, stride=1, padding=0, bias=False),
            )
        elif inplanes != planes:
            self.downsample = ReLUConvBN(inplanes, planes, 1, 1, 0, 1, affine)
        else:
            self.downsample = None
        # the release's ResNetBasicblock: _init(conv_a, degree=2), conv_b degree 1, shortcut degree 2
        tag_release_degree_(self.conv_a.conv, 2)
        if self.downsample is not None:
            for m in self.downsample.modules():
                if isinstance(m, nn.Conv2d):
                    tag_release_degree_(m, 2)
        self.in_dim, self.out_dim, self.stride = inplanes, planes, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        return residual + self.conv_b(self.conv_a(x))


def make_op(op: str, C: int) -> nn.Module | None:
    """A cell-edge op at stride 1 with ``C`` channels in and out; ``None`` for ``none``.

    ``avg_pool_3x3`` is a bare pool: the benchmark's ``POOLING`` only adds a 1x1 preprocess conv
    when the channel counts differ, which never happens inside a NAS-Bench-201 cell.
    """
    if op == "none":
        return None
    if op == "skip_connect":
        return nn.Identity()
    if op == "nor_conv_1x1":
        return ReLUConvBN(C, C, 1, 1, 0)
    if op == "nor_conv_3x3":
        return ReLUConvBN(C, C, 3, 1, 1)
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NAS-Bench-201 op {op!r}")


class InferCell(nn.Module):
    """One cell: node 0 is the input, node j the sum of ``op(node i)`` over live edges i -> j,
    the output is the last node. Nodes without live inputs are zeros shaped like the input.

    The wiring is fixed at construction (Python lists of ints), so ``forward`` has no branch on
    tensor values and works under ``torch.func.vmap``/``functional_call``.
    """

    def __init__(self, graph: Graph, C: int):
        super().__init__()
        if graph.kind != "nb201":
            raise ValueError(f"InferCell needs a NAS-Bench-201 graph, got kind {graph.kind!r}")
        self.graph = graph
        self.in_dim = self.out_dim = C
        deg = graph.in_degrees
        ops: dict[str, nn.Module] = {}
        #: (src, dst, key of the op in ``self.edges``) in node order; zero edges are absent.
        self.edge_index: list[tuple[int, int, str]] = []
        for e in sorted(graph.live_edges, key=lambda e: (e.dst, e.src)):
            op = make_op(e.op, C)
            if op is None:  # unreachable: live edges exclude 'none'
                continue
            if isinstance(op, ReLUConvBN):
                tag_edge_(op.conv, source_degree=deg[e.src], target_degree=deg[e.dst])
            key = f"{e.src}_{e.dst}"
            ops[key] = op
            self.edge_index.append((e.src, e.dst, key))
        self.edges = nn.ModuleDict(ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return output_or_zeros(run_dag(x, self.graph.n_nodes, self.edge_index, self.edges), x)

    def node_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every node's features, input first (for signal-propagation checks)."""
        return [
            torch.zeros_like(x) if n is None else n for n in run_dag(x, self.graph.n_nodes, self.edge_index, self.edges)
        ]

    def extra_repr(self) -> str:
        return f"C={self.in_dim}, arch={self.graph}"


class TinyNetwork(nn.Module):
    """NAS-Bench-201's network: 3 stages of ``N`` cells at widths C, 2C, 4C, joined by stride-2
    ResNet blocks. ``forward`` returns logits only (the benchmark returns ``(features, logits)``).
    """

    #: The release's TinyNetwork initialises with Kaiming fan_in (see archscale.init).
    archscale_fan_mode = "fan_in"

    def __init__(self, graph: Graph, C: int = 16, N: int = 5, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        if C < 1 or N < 0 or num_classes < 1 or in_channels < 1:
            raise ValueError(
                f"TinyNetwork needs C >= 1, N >= 0, num_classes >= 1, in_channels >= 1; "
                f"got C={C}, N={N}, num_classes={num_classes}, in_channels={in_channels}"
            )
        if graph.kind != "nb201":
            raise ValueError(f"TinyNetwork needs a NAS-Bench-201 cell graph, got kind {graph.kind!r}")
        self.graph = graph
        self._C, self._layerN = C, N
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        channels = [C] * N + [2 * C] + [2 * C] * N + [4 * C] + [4 * C] * N
        reductions = [False] * N + [True] + [False] * N + [True] + [False] * N
        cells: list[nn.Module] = []
        c_prev = C
        for c_cur, reduction in zip(channels, reductions, strict=True):
            cells.append(ResNetBasicblock(c_prev, c_cur, 2) if reduction else InferCell(graph, c_cur))
            c_prev = c_cur
        self.cells = nn.ModuleList(cells)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = tag_readout_(nn.Linear(c_prev, num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Features after the last BN + ReLU, before pooling (N x 4C x H/4 x W/4)."""
        h = self.stem(x)
        for cell in self.cells:
            h = cell(h)
        return self.lastact(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.global_pooling(self.features(x)).flatten(1))

    def extra_repr(self) -> str:
        return f"C={self._C}, N={self._layerN}, arch={self.graph}"
