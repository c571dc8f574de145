"""Signal propagation of eq. 4 at initialisation (beyond the paper): mean squared activation of
every DAG node over that of the input, for Kaiming and the two in-degree conventions. Builds and
runs models, so it is in the measuring tier (not :mod:`archscale.analysis`).
"""

from __future__ import annotations

import pandas as pd


def node_signal(
    family: str,
    arch: str,
    x,
    *,
    width: int,
    init: str,
    in_degree: str = "source",
    seed: int = 0,
    activation: str = "relu",
) -> list[float]:
    """Mean squared activation of every DAG node over that of the body's input ``x``.

    ``x`` enters the DAG body directly (node 0), so it must have ``width`` features (MLP) or
    channels (CNN). Nodes with no input report 0.
    """
    import torch

    from archscale.models import build_model

    in_shape = tuple(x.shape[1:])
    model = build_model(
        family,
        arch,
        width=width,
        num_classes=2,
        in_shape=in_shape,
        init=init,
        in_degree=in_degree,
        seed=seed,
        activation=activation,
    )
    ref = float(x.pow(2).mean())
    with torch.no_grad():
        return [float(h.pow(2).mean()) / ref for h in model.body.node_outputs(x)]


def init_signal_table(*, family: str, n_dags: int, width: int, batch: int, seed: int) -> pd.DataFrame:
    """Signal propagation of eq. 4 over ``n_dags`` random DAGs with a path (seeded): one row
    per (DAG, convention) with mean squared output / input of the DAG body."""
    import torch

    from archscale.graphs import sample_space

    dags = sample_space(family, n_dags, seed=seed)
    shape = (batch, width) if family == "mlp" else (batch, width, 8, 8)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
    rows = []
    for i, dag in enumerate(dags):
        for label, init, deg in (("kaiming", "kaiming", "source"), ("source", "arch_aware", "source"),
                                 ("target", "arch_aware", "target")):  # fmt: skip
            ratio = node_signal(family, dag, x, width=width, init=init, in_degree=deg, seed=seed + i)[-1]
            rows.append({"dag": dag, "convention": label, "ratio": ratio, "width": width})
    return pd.DataFrame(rows)
