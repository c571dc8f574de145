"""Model builders: one function from (family, architecture) to an initialised torch module."""

from __future__ import annotations

import torch
from torch import nn

from archscale.graphs import Graph, check_family, parse
from archscale.init import init_
from archscale.models.cnn import DagCNN
from archscale.models.mlp import DagMLP
from archscale.residual_arch import RESIDUAL_FAMILIES, RESIDUAL_KERNEL, parse_residual

__all__ = ["build_model", "DagMLP", "DagCNN"]


def build_model(
    family: str,
    arch: str | Graph,
    *,
    width: int,
    num_classes: int,
    in_shape: tuple[int, ...],
    kernel_size: int = 3,
    init: str = "release",
    in_degree: str = "source",
    readout: str | None = None,
    activation: str = "relu",
    cells_per_stage: int = 5,
    seed: int | None = None,
) -> nn.Module:
    """Build and initialise a model of ``family`` (mlp, cnn, nb201, or the residual resmlp,
    rescnn) for architecture ``arch`` (a DAG code, a cell string, or ``b6`` / ``b6d``).

    ``width`` is the hidden width (MLP units, CNN channels, NB201's C, a residual net's first
    stage); ``cells_per_stage`` is NB201's N. ``init`` is ``release`` (the authors' models,
    layer by layer), ``arch_aware`` (eq. 4 on the DAG edges only, ``in_degree`` convention) or
    ``kaiming`` (docs/init.md); ``seed`` makes the initial weights reproducible independently of
    the global RNG. Residual nets are tagged from their trace and use the release's fan_out.
    """
    if width < 1 or num_classes < 1:
        raise ValueError(f"width and num_classes must be positive, got {width} and {num_classes}")
    if family in RESIDUAL_FAMILIES:
        return _build_residual(family, arch, width, num_classes, in_shape, kernel_size, init, in_degree, readout,
                               activation, seed)  # fmt: skip
    graph = parse(check_family(family), arch)
    if family == "mlp":
        model: nn.Module = DagMLP(graph, width=width, num_classes=num_classes, in_shape=in_shape, activation=activation)
    elif family == "cnn":
        model = DagCNN(
            graph,
            width=width,
            num_classes=num_classes,
            in_shape=in_shape,
            kernel_size=kernel_size,
            activation=activation,
        )
    else:
        from archscale.models.nb201 import TinyNetwork

        if activation != "relu":
            raise ValueError("NAS-Bench-201 cells use ReLU only; drop the activation option")
        model = TinyNetwork(graph, C=width, N=cells_per_stage, num_classes=num_classes, in_channels=in_shape[0])
    generator = None
    if seed is not None:
        generator = torch.Generator().manual_seed(seed)
    init_(model, init, in_degree=in_degree, readout=readout, generator=generator)
    model.archscale_family = family
    model.archscale_arch = str(graph)
    return model


def _build_residual(family, arch, width, num_classes, in_shape, kernel_size, init, in_degree, readout, activation,
                    seed) -> nn.Module:  # fmt: skip
    """A residual family's network (:mod:`archscale.models.resnet`; tags from its trace)."""
    from archscale.models.resnet import build_residual

    if family == "rescnn" and kernel_size != RESIDUAL_KERNEL:
        raise ValueError(f"rescnn blocks use {RESIDUAL_KERNEL}x{RESIDUAL_KERNEL} convolutions; kernel_size must be 3")
    a = parse_residual(str(arch))
    kind = RESIDUAL_FAMILIES[family]
    model = build_residual(kind, a.blocks, width, a.downsample, num_classes, tuple(in_shape), seed=seed, init=init,
                           activation=activation, in_degree=in_degree, readout=readout)  # fmt: skip
    model.archscale_family = family
    model.archscale_arch = str(a)
    return model
