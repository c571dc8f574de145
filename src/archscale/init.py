"""Architecture-aware initialisation (eq. 4): the release's exact scheme, the library's
``arch_aware`` variant, and the Kaiming fan-in baseline.

eq. 4: a parameterised edge s -> t gets ``W ~ N(0, 2 / (d_in * fan_in))``, d_in the number of
non-zero edges into a node, so that a node that sums d_in branches keeps its features on the
same scale as a node with one. Kaiming fan-in init is the case d_in = 1.

Which node's in-degree? eq. 4 writes the edge's *source* node, the appendix derivation the
*target* node; the authors' release uses the source. Both are offered (``in_degree=``); the
release's is the default.

``release`` (the default of :func:`init_`) reproduces the authors' models layer by layer: MLP and
CNN DAGs use Kaiming ``fan_out`` everywhere (stem included) and a readout of std 2 / fan_out;
NAS-Bench-201 uses ``fan_in``, divides the reduction blocks' ``conv_a`` and shortcut conv by 2
and gives the classifier std 2 / fan_in. ``arch_aware`` applies eq. 4 to the DAG edges only
(fan-in, everything else plain Kaiming) with a μP-style readout. docs/init.md compares them.

The functions work on any module whose layers carry the tags set by :func:`tag_edge_` and
:func:`tag_readout_` (the builders in :mod:`archscale.models` tag theirs), and mirror
``torch.nn.init``: in place, trailing underscore, return the module.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

InDegree = Literal["source", "target"]
Readout = Literal["mup", "release", "kaiming"]
INIT_SCHEMES: tuple[str, ...] = ("release", "arch_aware", "kaiming")
FAN_MODES: tuple[str, ...] = ("fan_in", "fan_out")
IN_DEGREES: tuple[str, ...] = ("source", "target")
READOUTS: tuple[str, ...] = ("mup", "release", "kaiming")

#: Layers whose weights the init functions set.
WEIGHT_LAYERS = (nn.Linear, nn.Conv2d)


def tag_edge_(module: nn.Module, *, source_degree: int, target_degree: int) -> nn.Module:
    """Mark ``module`` (a Linear/Conv2d) as the layer on a DAG edge with these in-degrees."""
    module.archscale_role = "edge"
    module.archscale_degrees = {"source": int(source_degree), "target": int(target_degree)}
    return module


def tag_readout_(module: nn.Module) -> nn.Module:
    """Mark ``module`` (a Linear) as the readout, which gets the readout rule."""
    module.archscale_role = "readout"
    return module


def tag_release_degree_(module: nn.Module, degree: int) -> nn.Module:
    """Mark a layer outside the DAG whose release init divides its variance by ``degree``
    (NAS-Bench-201's reduction block: ``conv_a`` and the shortcut conv get 2). Only the
    ``release`` scheme reads this tag."""
    module.archscale_release_degree = int(degree)
    return module


def fan_in(weight: torch.Tensor) -> int:
    """Inputs per output unit: in_features, or in_channels * k * k for a conv."""
    return math.prod(weight.shape[1:])


def fan_out(weight: torch.Tensor) -> int:
    """Outputs per input unit: out_features, or out_channels * k * k for a conv (torch's)."""
    return weight.shape[0] * math.prod(weight.shape[2:])


def edge_std(fan: int, degree: int, gain: float = 2.0) -> float:
    """eq. 4's standard deviation: sqrt(gain / (max(d_in, 1) * fan_in))."""
    return math.sqrt(gain / (max(degree, 1) * fan))


def readout_std(fan: int, rule: str) -> float:
    """μP-style ``mup``: variance 2 / n^2; ``release``: std 2 / n (the authors' TinyNetwork);
    ``kaiming``: variance 1 / n (standard fan-in for a linear output)."""
    if rule == "mup":
        return math.sqrt(2.0) / fan
    if rule == "release":
        return 2.0 / fan
    if rule == "kaiming":
        return math.sqrt(1.0 / fan)
    raise ValueError(f"unknown readout rule {rule!r}; choose one of {', '.join(READOUTS)}")


def _check(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")


NORM_LAYERS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


@torch.no_grad()
def reset_norm_(m: nn.Module) -> None:
    """Normalisation layers start as the identity map: weight 1, bias 0 (others: no-op)."""
    if isinstance(m, NORM_LAYERS):
        if getattr(m, "weight", None) is not None:
            m.weight.fill_(1.0)
        if getattr(m, "bias", None) is not None:
            m.bias.zero_()


@torch.no_grad()
def _apply_(model: nn.Module, std_for, generator: torch.Generator | None) -> nn.Module:
    """Normal weights with ``std_for(layer)``, zero biases, unit/zero norm affine params."""
    for m in model.modules():
        if isinstance(m, WEIGHT_LAYERS):
            m.weight.normal_(0.0, std_for(m), generator=generator)
            if m.bias is not None:
                m.bias.zero_()
        else:
            reset_norm_(m)
    return model


def arch_aware_init_(
    model: nn.Module,
    *,
    in_degree: str = "source",
    readout: str = "mup",
    gain: float = 2.0,
    generator: torch.Generator | None = None,
    example_input: torch.Tensor | None = None,
) -> nn.Module:
    """eq. 4 in place: tagged edge layers get N(0, gain / (d_in fan_in)), the readout its rule,
    every other Linear/Conv2d Kaiming fan-in (d_in = 1); biases 0, norm weights 1, biases 0.

    With ``example_input`` the tags come from tracing the model on it instead of by hand
    (:func:`archscale.trace.tag_from_trace_`: any module the trace covers, e.g. a ResNet)."""
    _check("in-degree convention", in_degree, IN_DEGREES)
    _check("readout rule", readout, READOUTS)
    if example_input is not None:
        from archscale.trace import tag_from_trace_

        tag_from_trace_(model, example_input)

    def std_for(m: nn.Module) -> float:
        role = getattr(m, "archscale_role", None)
        if role == "readout":
            return readout_std(fan_in(m.weight), readout)
        degree = m.archscale_degrees[in_degree] if role == "edge" else 1
        return edge_std(fan_in(m.weight), degree, gain)

    return _apply_(model, std_for, generator)


def kaiming_init_(
    model: nn.Module,
    *,
    readout: str = "kaiming",
    gain: float = 2.0,
    generator: torch.Generator | None = None,
) -> nn.Module:
    """The standard baseline: Kaiming fan-in normal everywhere (d_in = 1 for every edge)."""
    _check("readout rule", readout, READOUTS)

    def std_for(m: nn.Module) -> float:
        if getattr(m, "archscale_role", None) == "readout":
            return readout_std(fan_in(m.weight), readout)
        return edge_std(fan_in(m.weight), 1, gain)

    return _apply_(model, std_for, generator)


def release_stds(
    model: nn.Module,
    *,
    mode: str | None = None,
    in_degree: str = "source",
    readout: str = "release",
) -> dict[str, float]:
    """The std the ``release`` scheme gives each Linear/Conv2d of ``model``, by module name.

    Every layer: sqrt(2 / (d * fan)), fan by ``mode`` (default: the model's
    ``archscale_fan_mode``, else ``fan_in``); d = the edge's in-degree for tagged edges, the
    :func:`tag_release_degree_` degree for tagged blocks, else 1. The readout rule ``release``
    gives std 2 / fan (the release's ``std_power=2``); ``mup``/``kaiming`` use fan-in as in
    :func:`readout_std`.
    """
    mode = mode or getattr(model, "archscale_fan_mode", "fan_in")
    _check("fan mode", mode, FAN_MODES)
    _check("in-degree convention", in_degree, IN_DEGREES)
    _check("readout rule", readout, READOUTS)
    fan = fan_in if mode == "fan_in" else fan_out
    stds = {}
    for name, m in model.named_modules():
        if not isinstance(m, WEIGHT_LAYERS):
            continue
        role = getattr(m, "archscale_role", None)
        if role == "readout":
            stds[name] = 2.0 / fan(m.weight) if readout == "release" else readout_std(fan_in(m.weight), readout)
            continue
        degree = m.archscale_degrees[in_degree] if role == "edge" else getattr(m, "archscale_release_degree", 1)
        stds[name] = edge_std(fan(m.weight), degree)
    return stds


def release_init_(
    model: nn.Module,
    *,
    mode: str | None = None,
    in_degree: str = "source",
    readout: str = "release",
    generator: torch.Generator | None = None,
) -> nn.Module:
    """The authors' init in place (stds from :func:`release_stds`); biases 0, norms 1 / 0."""
    stds = release_stds(model, mode=mode, in_degree=in_degree, readout=readout)
    by_module = {id(m): stds[name] for name, m in model.named_modules() if name in stds}
    return _apply_(model, lambda m: by_module[id(m)], generator)


def init_(
    model: nn.Module,
    scheme: str = "release",
    *,
    in_degree: str = "source",
    readout: str | None = None,
    generator: torch.Generator | None = None,
) -> nn.Module:
    """Initialise by name: ``release`` (the authors' models), ``arch_aware`` (eq. 4 on the DAG
    edges) or ``kaiming``. ``readout`` defaults to the scheme's own rule (``release``, ``mup``,
    ``kaiming`` respectively)."""
    _check("init scheme", scheme, INIT_SCHEMES)
    _check("in-degree convention", in_degree, IN_DEGREES)
    if scheme == "release":
        return release_init_(model, in_degree=in_degree, readout=readout or "release", generator=generator)
    if scheme == "arch_aware":
        return arch_aware_init_(model, in_degree=in_degree, readout=readout or "mup", generator=generator)
    return kaiming_init_(model, readout=readout or "kaiming", generator=generator)
