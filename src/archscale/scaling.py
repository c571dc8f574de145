"""Architecture-aware learning rates: eq. 8 (MLPs) and eq. 9 (CNNs).

μP heuristic: pick the rate so that one SGD step moves the pre-activations by a fixed amount
whatever the architecture. For a DAG whose input->output paths have L_p parameterised layers,

    eta*  ~  c * (sum_p L_p^3)^(-1/2) [* q^(-1) for a q x q conv net]

and c is measured once, on the shallow base network, so a target's rate is
``base_lr * sqrt(sum_base L^3 / sum_target L^3) * (q_base / q_target)``.

How L_p is counted is a convention (docs/method.md, section 3); :class:`DepthConvention` makes it
explicit, and the two conventions of the authors' release are the defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from archscale.graphs import Graph, parse_dag, parse_nb201

if TYPE_CHECKING:
    import torch
    from torch import nn


class UntrainableArchitecture(ValueError):
    """The architecture has no input->output path: nothing reaches the readout through it."""


@dataclass(frozen=True)
class DepthConvention:
    """How to turn a graph's paths into depths L_p.

    ``L_p = offset + (parameterised edges on p)``. ``no_param_paths`` says what happens when no
    path has a parameterised edge: ``"base"`` uses ``[offset]`` (the base rate; the release's
    MLP/CNN rule), ``"count"`` keeps one depth per path. ``no_path`` says what happens when the
    graph has no input->output path at all: ``"base"`` or ``"error"``.
    """

    name: str
    offset: int
    base_depths: tuple[int, ...]
    no_param_paths: Literal["base", "count"] = "count"
    no_path: Literal["base", "error"] = "error"

    def __post_init__(self) -> None:
        if self.offset < 1 or any(d < 1 for d in self.base_depths) or not self.base_depths:
            raise ValueError(f"depth convention {self.name!r}: offset and base depths must be >= 1")
        if self.no_param_paths not in ("base", "count"):
            raise ValueError(f"depth convention {self.name!r}: no_param_paths must be 'base' or 'count'")
        if self.no_path not in ("base", "error"):
            raise ValueError(f"depth convention {self.name!r}: no_path must be 'base' or 'error'")

    def depths(self, graph: Graph) -> list[int]:
        counts = list(graph.param_counts())
        if not counts:
            if self.no_path == "error":
                raise UntrainableArchitecture(
                    f"architecture {graph} has no input->output path over non-zero edges, so "
                    "nothing it learns reaches the readout; pick a cell with a path from node 0 "
                    f"to node {graph.output}"
                )
            return [self.offset]
        if self.no_param_paths == "base" and not any(counts):
            return [self.offset]
        return [self.offset + c for c in counts]


#: The release's MLP/CNN counting: +3 for stem, one hidden layer and readout; base depths [3].
RELEASE_DAG = DepthConvention("release-dag", 3, (3,), no_param_paths="base", no_path="base")
#: The release's NAS-Bench-201 counting: 1 + convs on the path; base [1]; no path is an error.
RELEASE_NB201 = DepthConvention("release-nb201", 1, (1,), no_param_paths="count", no_path="error")
#: A bare reading of eq. 8: L_p = parameterised layers on p plus the stem (1), base [1].
PLAIN = DepthConvention("plain", 1, (1,), no_param_paths="count", no_path="error")

CONVENTIONS: dict[str, DepthConvention] = {c.name: c for c in (RELEASE_DAG, RELEASE_NB201, PLAIN)}


def as_graph(arch: str | Graph) -> Graph:
    """A :class:`Graph` from a graph or a string (NB201 strings start with ``|``)."""
    if isinstance(arch, Graph):
        return arch
    return parse_nb201(arch) if arch.strip().startswith("|") else parse_dag(arch)


def default_convention(graph: Graph) -> DepthConvention:
    return RELEASE_NB201 if graph.kind == "nb201" else RELEASE_DAG


def get_convention(convention: str | DepthConvention | None, graph: Graph) -> DepthConvention:
    if convention is None:
        return default_convention(graph)
    if isinstance(convention, DepthConvention):
        return convention
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown depth convention {convention!r}; choose one of {', '.join(CONVENTIONS)}")
    return CONVENTIONS[convention]


def path_depths(graph: str | Graph, convention: str | DepthConvention | None = None) -> list[int]:
    """L_p for every input->output path of ``graph`` (release conventions by default)."""
    g = as_graph(graph)
    return get_convention(convention, g).depths(g)


def depth_sum(depths: list[int] | tuple[int, ...]) -> int:
    """sum_p L_p^3, the architecture term of eq. 8."""
    return sum(d**3 for d in depths)


def lr_factor(
    graph: str | Graph,
    *,
    kernel_size: int | None = None,
    base_graph: str | Graph | None = None,
    base_kernel_size: int = 3,
    convention: str | DepthConvention | None = None,
) -> float:
    """eta_target / eta_base from eq. 8 (and eq. 9 when ``kernel_size`` is given)."""
    g = as_graph(graph)
    conv = get_convention(convention, g)
    base = conv.base_depths if base_graph is None else conv.depths(as_graph(base_graph))
    factor = math.sqrt(depth_sum(base) / depth_sum(conv.depths(g)))
    if kernel_size is not None:
        if kernel_size <= 0 or base_kernel_size <= 0:
            raise ValueError(f"kernel sizes must be positive, got {kernel_size} and {base_kernel_size}")
        factor *= base_kernel_size / kernel_size
    return factor


def scaled_lr(
    base_lr: float,
    graph: str | Graph | nn.Module,
    *,
    kernel_size: int | None = None,
    base_graph: str | Graph | None = None,
    base_kernel_size: int = 3,
    convention: str | DepthConvention | None = None,
    base: nn.Module | list[int] | None = None,
    example_input: torch.Tensor | None = None,
    depth_offset: int = 0,
    region: str | None = None,
) -> float:
    """The target's learning rate from the base network's measured maximal rate (eq. 8/9).

    ``kernel_size`` applies the CNN factor q_base / q (eq. 9); leave it ``None`` for MLPs and
    NAS-Bench-201 cells. Raises :class:`UntrainableArchitecture` for an NB201 cell with no
    input->output path.

    ``graph`` may also be any ``torch.nn.Module``: its path depths are traced
    (:mod:`archscale.trace`) on ``example_input``; ``base`` is the base network (a module,
    same input) or its path depths (a list); ``depth_offset`` and ``region`` as in
    :func:`archscale.trace.lr_factor_of`.
    """
    if not base_lr > 0 or not math.isfinite(base_lr):
        raise ValueError(f"base learning rate must be a positive number, got {base_lr}")
    if not isinstance(graph, str | Graph):
        from archscale.trace import lr_factor_of

        if example_input is None:
            raise ValueError("a model needs example_input=: one input it accepts, e.g. torch.zeros(1, 3, 32, 32)")
        return base_lr * lr_factor_of(
            graph, example_input, base=base, kernel_size=kernel_size, base_kernel_size=base_kernel_size,
            depth_offset=depth_offset, region=region,
        )  # fmt: skip
    if base is not None or example_input is not None:
        raise ValueError("base= and example_input= are for models; for an architecture string use base_graph=")
    return base_lr * lr_factor(
        graph,
        kernel_size=kernel_size,
        base_graph=base_graph,
        base_kernel_size=base_kernel_size,
        convention=convention,
    )


def sgd_param_groups(model, lr: float, **group_options) -> list[dict]:
    """Plain ``torch.optim.SGD`` param groups at the scaled rate (one rate for the whole net,
    as eq. 8/9 prescribe), so users keep their own optimizer and loop."""
    return [{"params": [p for p in model.parameters() if p.requires_grad], "lr": lr, **group_options}]
