"""Residual MLPs and small ResNet-style CNNs, for testing eq. 8 beyond the paper's DAG spaces.

A block is two parameterised edges in series (``layer -> act -> layer -> act``, the edge form of
the project's DAG networks, no normalisation) plus a shortcut summed into the block's output:
the identity, or, for the first block of the second stage when ``downsample`` is set, a
projection (``Linear`` for MLPs, a stride-2 1x1 ``Conv2d`` for CNNs; the main branch's first
conv then has stride 2 and the width doubles). Path depths and in-degrees come from
:mod:`archscale.trace`, so eq. 4 and eq. 8 need no hand tags.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from archscale.models.dag import make_activation

KINDS: tuple[str, ...] = ("mlp", "cnn")


@dataclass(frozen=True)
class ResidualConfig:
    """One residual network of the study: ``kind`` mlp/cnn, ``blocks``, base ``width``."""

    kind: str
    blocks: int
    width: int
    downsample: bool = False

    @property
    def name(self) -> str:
        return f"res{self.kind}-b{self.blocks}-w{self.width}" + ("-ds" if self.downsample else "")


class ResidualBlock(nn.Module):
    """``shortcut(x) + main(x)``; ``shortcut`` None is the identity (a skip edge)."""

    def __init__(self, main: nn.Module, shortcut: nn.Module | None = None):
        super().__init__()
        self.main = main
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x if self.shortcut is None else self.shortcut(x)) + self.main(x)


class ResidualNet(nn.Module):
    """stem -> blocks -> (global average pool for CNNs) -> linear readout."""

    #: ``init="release"`` uses Kaiming fan_out, as the release's MLP/CNN DAGs do (archscale.init):
    #: a residual MLP/CNN is then initialised exactly like a DAG network with skip edges.
    archscale_fan_mode = "fan_out"

    def __init__(self, stem: nn.Module, blocks: list[nn.Module], readout: nn.Linear, pool: bool):
        super().__init__()
        self.stem = stem
        self.blocks = nn.Sequential(*blocks)
        self.readout = readout
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.stem(x))
        return self.readout(h.mean(dim=(2, 3)) if self.pool else h)


def _stage_start(blocks: int) -> int:
    """Index of the first block of the second stage (the one that downsamples)."""
    return (blocks + 1) // 2


def _check(kind: str, blocks: int, width: int, in_shape: tuple[int, ...]) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown residual kind {kind!r}; choose one of {', '.join(KINDS)}")
    if blocks < 0 or width < 1:
        raise ValueError(f"a residual net needs blocks >= 0 and width >= 1, got blocks={blocks}, width={width}")
    if kind == "cnn" and len(in_shape) != 3:
        raise ValueError(f"a residual CNN needs image input (C, H, W), got in_shape={tuple(in_shape)}")


def residual_net(
    kind: str, blocks: int, width: int, downsample: bool, *, num_classes: int, in_shape: tuple[int, ...],
    activation: str = "relu",
) -> ResidualNet:  # fmt: skip
    """The network of :func:`build_residual`, with torch's default init (untagged)."""
    _check(kind, blocks, width, in_shape)
    act = lambda: make_activation(activation)
    if kind == "mlp":
        stem: nn.Module = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(in_shape), width), act())
        layer = lambda c_in, c_out, stride: nn.Linear(c_in, c_out)
        project = lambda c_in, c_out: nn.Linear(c_in, c_out)
    else:
        stem = nn.Sequential(nn.Conv2d(in_shape[0], width, 3, padding=1), act())
        layer = lambda c_in, c_out, stride: nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1)
        project = lambda c_in, c_out: nn.Conv2d(c_in, c_out, 1, stride=2)
    body: list[nn.Module] = []
    c = width
    for i in range(blocks):
        grow = downsample and i == _stage_start(blocks)
        c_out = 2 * c if grow else c
        main = nn.Sequential(layer(c, c_out, 2 if grow else 1), act(), layer(c_out, c_out, 1), act())
        body.append(ResidualBlock(main, project(c, c_out) if grow else None))
        c = c_out
    return ResidualNet(stem, body, nn.Linear(c, num_classes), pool=kind == "cnn")


def build_residual(
    kind: str,
    blocks: int,
    width: int,
    downsample: bool,
    num_classes: int,
    in_shape: tuple[int, ...],
    seed: int | None = None,
    init: str = "arch_aware",
    activation: str = "relu",
    in_degree: str = "source",
    readout: str | None = None,
) -> ResidualNet:
    """A residual MLP or CNN of ``blocks`` blocks, tagged from its trace and initialised by
    ``init`` (eq. 4 ``arch_aware``, the release's scheme ``release`` or ``kaiming``, with
    ``in_degree`` and ``readout`` as in :func:`archscale.init.init_`; ``seed`` makes the weights
    reproducible).

    Sized for the 8x8 digits: ``in_shape`` (1, 8, 8); ``downsample`` halves 8x8 to 4x4 once.
    """
    from archscale.init import init_
    from archscale.trace import tag_from_trace_

    model = residual_net(
        kind, blocks, width, downsample, num_classes=num_classes, in_shape=in_shape, activation=activation
    )
    tag_from_trace_(model, torch.zeros(1, *in_shape))
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    init_(model, init, in_degree=in_degree, readout=readout, generator=generator)
    model.archscale_family = "residual"
    model.archscale_arch = ResidualConfig(kind, blocks, width, downsample).name
    return model


def residual_lr_factor(config: ResidualConfig, in_shape: tuple[int, ...], num_classes: int = 10) -> float:
    """eq. 8's eta / eta_base for ``config`` from its trace, the base being the 0-block network
    (stem -> readout: one path of depth 2)."""
    from archscale.trace import lr_factor_of

    net = residual_net(
        config.kind, config.blocks, config.width, config.downsample, num_classes=num_classes, in_shape=in_shape
    )
    return lr_factor_of(net, torch.zeros(1, *in_shape), base=[2])
