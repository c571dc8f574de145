"""The μP baseline on NAS-Bench-201 (paper fig. 8), through microsoft's ``mup`` package.

Built the way mup's README prescribes:

1. the output layer is a ``mup.MuReadout`` (TinyNetwork's ``classifier``, 4C -> classes, is
   swapped for one; ``readout_zero_init`` is MuReadout's option, off by default as in mup);
2. a base model and a delta model differing in every width: TinyNetwork at ``base_C`` and
   ``delta_C`` (C, 2C and 4C all scale with C), built on the meta device (shapes only);
3. ``set_base_shapes(model, base, delta=delta)``, before any re-initialisation;
4. re-initialisation with ``mup.init`` in place of ``torch.nn.init``: the standard recipe's
   Kaiming fan-in normal (gain sqrt 2) for every conv, ``mup.init.kaiming_normal_`` (gain 1)
   for the readout, zero biases, BN weight 1 / bias 0. At ``C == base_C`` this is exactly the
   standard recipe's model (same weights for the same seed, see :func:`mup_init_`);
5. ``mup.MuSGD`` with the NB201 recipe's rate (0.1), momentum, nesterov and weight decay.

What μP changes for SGD here (``p.infshape`` from step 3): conv weights between two width
dimensions keep the rate (fan-in and fan-out multipliers cancel); the vector-like parameters
(stem conv, BN affine, readout) get rate x m and weight decay / m, m = C / base_C; the readout
divides its input by m.

``base_C`` defaults to 1 and ``delta_C`` to 2 x base_C: the README's ``MyModel(width=1)`` and
``MyModel(width=2)``. The paper says only that it followed the README; a base at the width the
recipe was tuned at (the benchmark's C = 16) would make μP identical to the standard recipe at
C = 16, which is not what fig. 8 shows. ``base_C`` is a parameter so that choice can be varied.

Checked with mup 1.0.0 and torch 2.14.1: imports, ``set_base_shapes``, ``mup.init`` and
``MuSGD`` work unchanged (tests/test_mup.py, including a coordinate check).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from archscale.data import TensorData
from archscale.graphs import parse_nb201
from archscale.init import reset_norm_, tag_readout_
from archscale.models.nb201 import TinyNetwork

try:
    import mup
except ImportError as err:  # optional dependency
    raise ImportError("the μP baseline needs microsoft's mup: pip install 'archscale[mup]'") from err

__all__ = ["BASE_C", "build_mup_nb201", "mup_init_", "mup_optimizer", "train_mup_cell"]

#: Width of mup's base model (the README's ``width=1``); the delta model is twice as wide.
BASE_C = 1


def _tiny_mup_network(cell: str, C: int, N: int, num_classes: int, in_channels: int, readout_zero_init: bool):
    """TinyNetwork with its classifier swapped for a MuReadout (tagged as the readout)."""
    net = TinyNetwork(parse_nb201(cell), C=C, N=N, num_classes=num_classes, in_channels=in_channels)
    old = net.classifier
    net.classifier = tag_readout_(
        mup.MuReadout(old.in_features, old.out_features, bias=old.bias is not None, readout_zero_init=readout_zero_init)
    )
    return net


@torch.no_grad()
def mup_init_(model: nn.Module, *, readout_zero_init: bool = False, seed: int | None = None) -> nn.Module:
    """Re-initialise a model whose base shapes are set, with ``mup.init`` (in place).

    Convs (and any non-readout Linear): ``mup.init.kaiming_normal_(fan_in, relu)``; the
    MuReadout: ``mup.init.kaiming_normal_(fan_in, linear)`` or zeros; biases 0; norm weights 1,
    biases 0. Modules are visited in the order :func:`archscale.init.kaiming_init_` visits them,
    so with ``seed`` and ``C == base_C`` the weights are the standard recipe's. ``seed`` draws
    from a forked CPU generator, leaving the global RNG as it was.
    """
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.default_generator.manual_seed(seed)
        for m in model.modules():
            if isinstance(m, mup.MuReadout):
                if readout_zero_init:
                    m.weight.zero_()
                else:
                    mup.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="linear")
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.Linear | nn.Conv2d):
                mup.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                if m.bias is not None:
                    m.bias.zero_()
            else:
                reset_norm_(m)
    return model


def build_mup_nb201(
    cell: str,
    *,
    C: int,
    N: int,
    num_classes: int,
    in_channels: int,
    base_C: int = BASE_C,
    delta_C: int | None = None,
    readout_zero_init: bool = False,
    seed: int | None = None,
) -> nn.Module:
    """A NAS-Bench-201 TinyNetwork in μP: MuReadout classifier, base shapes set from TinyNetworks
    at ``base_C`` and ``delta_C`` (default 2 x base_C, same N), re-initialised by
    :func:`mup_init_`. Every parameter carries ``.infshape``; train it with :func:`mup_optimizer`.
    """
    delta_C = 2 * base_C if delta_C is None else delta_C
    if base_C < 1 or delta_C < 1 or delta_C == base_C:
        raise ValueError(f"μP needs base_C >= 1 and a different delta_C >= 1, got base_C={base_C}, delta_C={delta_C}")

    def network(width: int) -> TinyNetwork:
        return _tiny_mup_network(cell, width, N, num_classes, in_channels, readout_zero_init)

    with torch.device("meta"):  # shapes only: no memory, no random draws
        base, delta = network(base_C), network(delta_C)
    with torch.random.fork_rng(devices=[]):  # PyTorch's default init on construction draws from the global RNG
        model = network(C)
    mup.set_base_shapes(model, base, delta=delta)
    mup_init_(model, readout_zero_init=readout_zero_init, seed=seed)
    model.archscale_family = "nb201"
    model.archscale_arch = str(model.graph)
    model.archscale_mup = {"base_C": base_C, "delta_C": delta_C, "readout_zero_init": readout_zero_init}
    return model


def mup_optimizer(
    model: nn.Module,
    lr: float,
    momentum: float = 0.9,
    nesterov: bool = True,
    weight_decay: float = 5e-4,
) -> torch.optim.Optimizer:
    """``mup.MuSGD`` over ``model``'s parameters (base shapes must be set): per-group rates and
    weight decays scaled by μP from the global ``lr`` and ``weight_decay``.

    A training loop must scale each group's own rate (not overwrite every group with one
    value), else the μP ratios are lost; see :func:`train_mup_cell`.
    """
    missing = [name for name, p in model.named_parameters() if not hasattr(p, "infshape")]
    if missing:
        raise ValueError(
            f"parameter {missing[0]} has no base shape; build the model with build_mup_nb201 "
            "(or call mup.set_base_shapes) before making a MuSGD optimizer"
        )
    return mup.MuSGD(
        model.parameters(),
        lr=lr,
        momentum=momentum,
        nesterov=nesterov and momentum > 0,
        weight_decay=weight_decay,
    )


def train_mup_cell(
    cell: str,
    train_data: TensorData,
    test_data: TensorData,
    *,
    settings: dict[str, Any],
    C: int,
    N: int,
    seed: int,
    checkpoint_path: str | None = None,
) -> dict[str, Any]:
    """Train one NAS-Bench-201 cell in μP with MuSGD at the recipe's ``lr``: the ``mup`` recipe
    of :func:`archscale.recipes.train_cell` (``settings['mup_base_C']`` sets base_C)."""
    from archscale.recipes import train_cell

    return train_cell(
        cell, train_data, test_data, recipe="mup", settings=settings, C=C, N=N, seed=seed,
        checkpoint_path=checkpoint_path,
    )  # fmt: skip
