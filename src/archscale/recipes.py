"""NAS-Bench-201 training recipes (paper figs. 4 and 8, and this project's ablations): which
init and rate each uses, and one training of one cell with one of them (a training job is a
loop over this). Separate from :mod:`archscale.experiments` (the grid searches), so an edit of
one re-runs only its own jobs."""

from __future__ import annotations

import math
from typing import Any

from archscale.data import TensorData
from archscale.models import build_model
from archscale.scaling import scaled_lr
from archscale.train import TrainConfig, train

#: NAS-Bench-201 training recipes: name -> (init, rate). Paper figs. 4 and 8 use the first
#: three; ``principled_init`` and ``principled_lr`` are the ablations that change one of the two.
#: Rate ``fixed`` is the recipe's ``lr`` setting, ``eq8`` the eq. 8 rate from the base cell's.
RECIPES: dict[str, tuple[str, str]] = {
    "standard": ("kaiming", "fixed"),
    "principled": ("release", "eq8"),
    "mup": ("mup", "fixed"),
    "principled_init": ("release", "fixed"),
    "principled_lr": ("kaiming", "eq8"),
}
#: Recipes whose rate is scaled from the base cell's measured maximal rate (they need base_lr).
BASE_LR_RECIPES = tuple(r for r, (_, rate) in RECIPES.items() if rate == "eq8")
def recipe_init_lr(recipe: str, cell: str, settings: dict[str, Any], base_lr: float | None) -> tuple[str, float]:
    """The init scheme and rate a recipe trains ``cell`` with (see :data:`RECIPES`)."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    init, rate = RECIPES[recipe]
    if rate == "fixed":
        return init, settings["lr"]
    if base_lr is None:
        raise ValueError(f"the {recipe} recipe needs the base cell's maximal rate (base_lr)")
    return init, scaled_lr(base_lr, cell)


def train_cell(
    cell: str,
    train_data: TensorData,
    test_data: TensorData,
    *,
    recipe: str,
    settings: dict[str, Any],
    C: int,
    N: int,
    seed: int,
    base_lr: float | None = None,
    checkpoint_path: str | None = None,
) -> dict[str, Any]:
    """Train one NAS-Bench-201 cell with a recipe; one tidy row.

    ``standard``: Kaiming init, the recipe's fixed ``lr``. ``principled``: the release's eq. 4
    init and the eq. 8 rate from ``base_lr`` (the base cell's measured maximal rate).
    ``principled_init`` / ``principled_lr``: only one of the two (the other as ``standard``).
    ``mup``: μP through microsoft's ``mup`` (MuReadout, base shapes at
    ``settings['mup_base_C']``, MuSGD at ``lr``; see :mod:`archscale.mup_recipe`)."""
    init, lr = recipe_init_lr(recipe, cell, settings, base_lr)
    cfg = TrainConfig(
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        lr=lr,
        momentum=settings["momentum"],
        nesterov=settings["nesterov"],
        weight_decay=settings["weight_decay"],
        augment=settings["augment"],
        checkpoint_every=settings.get("checkpoint_every", 0),
        seed=seed,
    )
    make_optimizer = None
    if recipe == "mup":
        from archscale.mup_recipe import BASE_C, build_mup_nb201, mup_optimizer

        net = build_mup_nb201(
            cell, C=C, N=N, num_classes=train_data.num_classes, in_channels=train_data.in_shape[0],
            base_C=settings.get("mup_base_C", BASE_C), seed=seed,
        )  # fmt: skip
        make_optimizer = lambda m: mup_optimizer(m, cfg.lr, cfg.momentum, cfg.nesterov, cfg.weight_decay)
    else:
        net = build_model(
            "nb201", cell, width=C, cells_per_stage=N, num_classes=train_data.num_classes,
            in_shape=train_data.in_shape, init=init, seed=seed,
        )  # fmt: skip
    record = train(net, train_data, test_data, cfg, checkpoint_path=checkpoint_path, make_optimizer=make_optimizer)
    final = record["final"]
    return {
        "arch": cell,
        "recipe": recipe,
        "seed": seed,
        "init": init,
        "lr": lr,
        "base_lr": base_lr if base_lr is not None else math.nan,
        "epochs": cfg.epochs,
        "train_loss": final["train_loss"],
        "train_acc": final["train_acc"],
        "test_loss": final["test_loss"],
        "test_acc": 100.0 * final["test_acc"],
        "diverged": record["diverged"],
        "diverged_step": record["diverged_step"],
        "wall_time_s": record["wall_time_s"],
    }
