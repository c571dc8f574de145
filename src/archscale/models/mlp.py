"""MLP family: stem Linear -> act (node 0), a DAG of Linear -> act edges, a linear readout."""

from __future__ import annotations

import math

import torch
from torch import nn

from archscale.graphs import Graph
from archscale.init import tag_readout_
from archscale.models.dag import DagBody, make_activation


class DagMLP(nn.Module):
    #: The release's MLP initialises every layer with Kaiming fan_out (see archscale.init).
    archscale_fan_mode = "fan_out"

    def __init__(
        self,
        graph: Graph,
        *,
        width: int,
        num_classes: int,
        in_shape: tuple[int, ...],
        activation: str = "relu",
    ):
        super().__init__()
        self.stem = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(in_shape), width), make_activation(activation))
        self.body = DagBody(graph, lambda: nn.Linear(width, width), activation)
        self.readout = tag_readout_(nn.Linear(width, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.body(self.stem(x)))

    def node_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.body.node_outputs(self.stem(x))
