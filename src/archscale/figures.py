"""The figure registry: one declaration per figure of the paper (and of this project).

Each :class:`FigureSpec` names the figure's output stem, the experiments it draws, the table its
numbers live in, the :mod:`archscale.plots` function that draws it, the :mod:`archscale.report`
function that summarises it in ``figures/README.md``, its title and caption, and the paper's
numbers. The workflow's rules, the plots, the tables, the HTML report's captions and
``figures/README.md`` all read this module, so adding a figure is one entry here plus one plot
function (README, "Adding a figure").

Standard library only: the Snakefile imports it in whatever Python runs Snakemake. It is in the
reading tier: editing it re-runs tables, plots and the report, never a training or grid job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["lr", "nb201", "signal", "evidence"]


@dataclass(frozen=True)
class FigureSpec:
    """One figure. ``kind`` decides its inputs: ``lr`` figures draw the measured-vs-predicted
    tables of their ``experiments`` (config ``lr_experiments`` keys; one output per dataset,
    ``figures/<name>_<dataset>.png``), ``nb201`` figures the per-dataset NAS-Bench-201 tables
    (``figures/<name>.png``), ``signal`` the init-signal table, ``evidence`` the workflow table
    ``table`` names (``figures/<table>.csv``; one output, ``figures/<name>.png``)."""

    name: str
    kind: Kind
    title: str
    caption: str
    plot: str
    summary: str
    table: str
    experiments: tuple[str, ...] = ()
    #: the paper's numbers: Pearson r per experiment (lr), mean accuracy gain per dataset (nb201)
    paper: dict[str, float] = field(default_factory=dict)
    #: nb201 figures: recipes that must be configured for the figure to exist
    needs_recipes: tuple[str, ...] = ()


_LR_CAPTION = (
    "Each point is one architecture: the geometric mean over seeds of the grid-searched maximal rate "
    "under the first configured criterion (default min_loss, the paper's: smallest final training loss; "
    "bars: min-max over seeds) against the eq. 8/9 prediction from the base network's rate under the same "
    "criterion; each panel title gives Pearson r on log rates with its bootstrap 95% interval over "
    "architectures, the paper's r, Spearman rho and n (architectures). Other criteria: fig_criteria; "
    "other laws: fig_laws."
)
_CI = "Bars: bootstrap 95% intervals over architectures (seed means resampled; docs/evidence.md)."

FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec(
        name="fig2_mlp_topology",
        kind="lr",
        title="Fig. 2, MLP topologies (eq. 8)",
        caption=f"Paper fig. 2: MLPs of different topologies, measured vs eq. 8 predicted maximal rate. {_LR_CAPTION}",
        plot="fig_lr_scaling",
        summary="lr_summary",
        table="table_lr_correlation",
        experiments=("fig2_mlp_topology",),
        paper={"fig2_mlp_topology": 0.838},
    ),
    FigureSpec(
        name="fig3_cnn_topology",
        kind="lr",
        title="Fig. 3, CNN topologies (eq. 9)",
        caption=f"Paper fig. 3: CNNs of different topologies at kernel sizes q (base q = 3), eq. 9. {_LR_CAPTION}",
        plot="fig_lr_scaling",
        summary="lr_summary",
        table="table_lr_correlation",
        experiments=("fig3_cnn_topology",),
        paper={"fig3_cnn_topology": 0.856},
    ),
    FigureSpec(
        name="fig5_mlp_depth",
        kind="lr",
        title="Fig. 5, plain MLPs of depth L (eq. 8)",
        caption=f"Paper fig. 5: plain MLPs of depth L, eq. 8 (L^-3/2 scaling). {_LR_CAPTION}",
        plot="fig_lr_scaling",
        summary="lr_summary",
        table="table_lr_correlation",
        experiments=("fig5_mlp_depth",),
        paper={"fig5_mlp_depth": 0.962},
    ),
    FigureSpec(
        name="fig6_imagenet",
        kind="lr",
        title="Fig. 6, figs. 5 and 2 on the ImageNet dataset of the config",
        caption=(
            "Paper fig. 6: figs. 5 and 2 on ImageNet (offline: digits16, 8x8 digits upsampled to 16x16, stands in). "
            + _LR_CAPTION
        ),
        plot="fig_lr_scaling",
        summary="lr_summary",
        table="table_lr_correlation",
        experiments=("fig6_mlp_depth", "fig6_mlp_topology"),
        paper={"fig6_mlp_depth": 0.856, "fig6_mlp_topology": 0.729},
    ),
    FigureSpec(
        name="fig7_gelu",
        kind="lr",
        title="Fig. 7, GELU instead of ReLU (eq. 8/9)",
        caption=f"Paper fig. 7: GELU instead of ReLU for MLP depth, MLP topology and CNN. {_LR_CAPTION}",
        plot="fig_lr_scaling",
        summary="lr_summary",
        table="table_lr_correlation",
        experiments=("fig7_gelu_mlp_depth", "fig7_gelu_mlp_topology", "fig7_gelu_cnn"),
        paper={"fig7_gelu_mlp_depth": 0.920, "fig7_gelu_mlp_topology": 0.680, "fig7_gelu_cnn": 0.949},
    ),
    FigureSpec(
        name="fig10_residual",
        kind="lr",
        title="Residual MLPs and CNNs (eq. 8 from the traced DAG)",
        caption=(
            "Beyond the paper: residual MLPs (resmlp) and small ResNet-style CNNs (rescnn) of b blocks (two "
            "layers and a shortcut each; 'd': one block downsamples behind a projection shortcut), eq. 8 "
            "from the path depths of their torch.fx trace (every Linear/Conv counted, base: the 0-block "
            f"network, one path of depth 2). {_LR_CAPTION}"
        ),
        plot="fig_lr_scaling",
        summary="lr_summary",
        table="table_lr_correlation",
        experiments=("fig10_resmlp", "fig10_rescnn"),
    ),
    FigureSpec(
        name="fig11_cnn_depth",
        kind="lr",
        title="Plain CNNs of depth L at kernel sizes q (eq. 9)",
        caption=(
            "Beyond the paper (fig. 5's depth law on CNNs): plain CNN chains of depth L at kernel sizes q, "
            f"eq. 9 (L^-3/2 x 3/q) from the base at q = 3. {_LR_CAPTION}"
        ),
        plot="fig_lr_scaling",
        summary="lr_summary",
        table="table_lr_correlation",
        experiments=("fig11_cnn_depth",),
    ),
    FigureSpec(
        name="fig4_nb201",
        kind="nb201",
        title="Fig. 4, NAS-Bench-201: principled recipe (eq. 4 + eq. 8) vs the reference",
        caption=(
            "Paper fig. 4: per dataset, (a) test accuracy of each sampled cell under the principled recipe "
            "(eq. 4 init, eq. 8 rate) against the reference (the benchmark's published accuracies when a "
            "NATS-Bench folder is configured, else the standard recipe), with the mean gain and its bootstrap "
            "95% interval over cells, (b) Kendall tau between the two "
            "rankings within the reference's top-K% cells (K = 100 ... 1), (c) pairwise accuracy gaps."
        ),
        plot="fig_nb201",
        summary="nb201_summary",
        table="table_nb201",
        paper={"cifar10": 0.44, "cifar100": 1.24, "imagenet16-120": 2.09},
    ),
    FigureSpec(
        name="fig8_mup_nb201",
        kind="nb201",
        title="Fig. 8, NAS-Bench-201: principled vs μP vs standard",
        caption=(
            "Paper fig. 8: per dataset, test accuracy of the sampled cells under the standard recipe, the "
            "principled recipe (eq. 4 + eq. 8) and μP (microsoft's mup: MuReadout, base shapes, MuSGD at the "
            "recipe's rate), mean over seeds per cell."
        ),
        plot="fig_mup_nb201",
        summary="mup_summary",
        table="table_nb201",
        needs_recipes=("mup",),
    ),
    FigureSpec(
        name="fig9_kendall_seeds",
        kind="nb201",
        title="Fig. 9, ranking agreement: principled vs reference, and reference seed vs seed",
        caption=(
            "Paper fig. 9: Kendall tau, within the reference's top-K% cells, between the principled recipe "
            "and the reference, against the reference's own seed-to-seed agreement (paper: seed-to-seed "
            "agreement is higher)."
        ),
        plot="fig_kendall_seeds",
        summary="kendall_seeds_summary",
        table="table_nb201_top",
    ),
    FigureSpec(
        name="fig_criteria",
        kind="evidence",
        title="Maximal-rate criteria: Pearson r of measured vs eq. 8/9 predicted rates",
        caption=(
            "Beyond the paper: per experiment (and kernel size q), Pearson r of log measured vs log eq. 8/9 "
            "predicted maximal rate under each criterion applied to the same stored grids: min_loss (the "
            "paper's: smallest final training loss), loss_ratio (largest rate whose final loss is below "
            "ratio x the initial loss), speed (smallest rate whose final loss reaches speed_level x "
            "ln(classes), log-interpolated); the base rate follows the same criterion. Crosses: the paper's r. "
            + _CI
        ),
        plot="fig_criteria",
        summary="criteria_summary",
        table="table_lr_correlation",
    ),
    FigureSpec(
        name="fig_laws",
        kind="evidence",
        title="Which law fits the measured maximal rates? (paper's criterion)",
        caption=(
            "Beyond the paper: per experiment (and kernel size q), Pearson r of log measured rate (first "
            "configured criterion, default min_loss) vs log rate predicted by eq. 8/9's (sum_p L_p^3)^-1/2 "
            "(eq8, the paper's), the shortest path's L^-3/2, the longest path's L^-3/2, and the number of "
            "paths n^-1/2 (paths), each relative to the base network and times the same kernel factor "
            "q_base/q for CNNs; the best law per experiment is named. Plain chains have one path, so there "
            "all depth laws coincide and the paths law is constant (no r). " + _CI
        ),
        plot="fig_laws",
        summary="laws_summary",
        table="table_lr_laws",
    ),
    FigureSpec(
        name="fig_init_signal",
        kind="signal",
        title="Signal propagation of eq. 4 at initialisation",
        caption=(
            "Beyond the paper: mean squared output over mean squared input of the DAG body over random N5 "
            "DAGs at initialisation, for Kaiming fan-in init and eq. 4 with the source or the target node's "
            "in-degree."
        ),
        plot="fig_init_signal",
        summary="signal_summary",
        table="results/init_signal/signal.csv",
    ),
)

#: The workflow's tables: name -> caption (HTML report, figures/README.md).
TABLES: dict[str, str] = {
    "table_lr_correlation": (
        "Per learning-rate experiment, kernel size and maximal-rate criterion (column criterion; the "
        "base rate follows the same criterion): n (architectures), n_seeds, Pearson r of log measured vs "
        "log eq. 8/9 predicted maximal rate with its bootstrap 95% interval (ci_low, ci_high), Spearman "
        "rho, median |log2 ratio|, and the paper's r (its criterion is min_loss)."
    ),
    "table_lr_laws": (
        "The same under competing laws (column law: eq8 = eq. 8/9's (sum_p L_p^3)^-1/2, shortest / "
        "longest = that path's L^-3/2, paths = n_paths^-1/2; CNNs times q_base/q under every law), one "
        "row per experiment x kernel size x criterion x law; best marks the law with the highest r. A "
        "table of its own so that table_lr_correlation stays the paper's comparison."
    ),
    "table_nb201": (
        "Per dataset and NAS-Bench-201 recipe: accuracy, gain over the reference with its bootstrap 95% "
        "interval over cells (gain_ci_low, gain_ci_high), rank agreement."
    ),
    "table_nb201_top": "Kendall tau within the reference's top-K% NAS-Bench-201 cells, per dataset.",
}

BY_NAME: dict[str, FigureSpec] = {f.name: f for f in FIGURES}


def figure(name: str) -> FigureSpec:
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no figure {name!r} in archscale.figures (known: {', '.join(BY_NAME)})") from None


def figures_of(kind: Kind) -> list[FigureSpec]:
    return [f for f in FIGURES if f.kind == kind]


def figure_of_experiment(experiment: str) -> FigureSpec:
    """The lr figure that draws ``experiment`` (each experiment is drawn in exactly one)."""
    for f in figures_of("lr"):
        if experiment in f.experiments:
            return f
    raise KeyError(
        f"no figure in archscale.figures draws experiment {experiment!r}; add it to a figure's experiments "
        "(README: Adding a figure)"
    )

