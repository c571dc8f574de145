"""Residual families of the learning-rate experiments: their names and architecture strings.

``resmlp`` and ``rescnn`` are :func:`archscale.models.resnet.build_residual`'s residual MLPs and
ResNet-style CNNs as workflow families. An architecture is ``b<blocks>`` (identity shortcuts
only) or ``b<blocks>d`` (the first block of the second stage downsamples behind a projection
shortcut), e.g. ``b6`` / ``b6d``; ``b0`` (stem -> readout, one path of 2 layers) is the base
network the rates are scaled from.

Standard library only: the Snakefile and the config checks use it without importing torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: workflow family -> :mod:`archscale.models.resnet` kind
RESIDUAL_FAMILIES: dict[str, str] = {"resmlp": "mlp", "rescnn": "cnn"}
#: the base network of every residual family: no block
RESIDUAL_BASE = "b0"
#: the only kernel size: the blocks' convolutions are 3x3 (eq. 9's factor is 1)
RESIDUAL_KERNEL = 3
_ARCH = re.compile(r"b(\d+)(d?)")
_EXAMPLE = "b6 (6 blocks, identity shortcuts) or b6d (with a downsampling block)"


@dataclass(frozen=True)
class ResidualArch:
    """``blocks`` residual blocks; ``downsample``: block ``(blocks + 1) // 2`` halves the
    resolution (CNN) and doubles the width behind a projection shortcut."""

    blocks: int
    downsample: bool = False

    def __str__(self) -> str:
        return f"b{self.blocks}" + ("d" if self.downsample else "")


def is_residual(family: object) -> bool:
    return isinstance(family, str) and family in RESIDUAL_FAMILIES


def parse_residual(arch: str) -> ResidualArch:
    """``b6`` / ``b6d`` -> :class:`ResidualArch`; a one-line ValueError otherwise."""
    m = _ARCH.fullmatch(arch) if isinstance(arch, str) else None
    if m is None:
        raise ValueError(f"residual architecture {arch!r} is not b<blocks> or b<blocks>d, e.g. {_EXAMPLE}")
    blocks, downsample = int(m.group(1)), m.group(2) == "d"
    if downsample and blocks < 2:
        raise ValueError(
            f"residual architecture {arch!r} has no second stage to downsample into; use d with 2 or more blocks"
        )
    return ResidualArch(blocks, downsample)
