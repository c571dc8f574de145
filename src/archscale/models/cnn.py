"""CNN family: stem Conv(q x q) -> act (node 0), a DAG of Conv(q x q, same) -> act edges,
global average pool, linear readout. The kernel size q is eq. 9's q."""

from __future__ import annotations

import torch
from torch import nn

from archscale.graphs import Graph
from archscale.init import tag_readout_
from archscale.models.dag import DagBody, make_activation


class DagCNN(nn.Module):
    #: The release's CNN initialises every layer with Kaiming fan_out (see archscale.init).
    archscale_fan_mode = "fan_out"

    def __init__(
        self,
        graph: Graph,
        *,
        width: int,
        num_classes: int,
        in_shape: tuple[int, ...],
        kernel_size: int = 3,
        activation: str = "relu",
    ):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and positive for 'same' padding, got {kernel_size}")
        if len(in_shape) != 3:
            raise ValueError(f"a CNN needs image input (C, H, W), got in_shape={tuple(in_shape)}")
        pad = kernel_size // 2
        self.stem = nn.Sequential(nn.Conv2d(in_shape[0], width, kernel_size, padding=pad), make_activation(activation))
        self.body = DagBody(graph, lambda: nn.Conv2d(width, width, kernel_size, padding=pad), activation)
        self.readout = tag_readout_(nn.Linear(width, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.body(self.stem(x)).mean(dim=(2, 3)))

    def node_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.body.node_outputs(self.stem(x))
