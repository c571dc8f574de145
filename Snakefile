# archscale: the workflow that regenerates the figures and tables of "Principled
# Architecture-aware Scaling of Hyperparameters" (Chen, Wu, Wang, Hanin, ICLR 2024).
#
#   snakemake --cores all                          embedded default (digits, CPU, offline)
#   snakemake --cores all --configfile config/paper.yaml --use-conda    the paper (GPUs)
#
# Chain: base_lr_search (shallow base nets) -> scaled_lrs (eq. 8/9 for every target)
#        -> true_max_lr (grid search of sampled targets) / train_nb201 (standard vs principled)
#        -> aggregate_* -> plot_* and tables under figures/.

import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

# This checkout's archscale, whatever Python runs Snakemake (with --use-conda it need not have
# archscale installed: what the Snakefile imports needs only the standard library). Jobs do the
# same through workflow/scripts/_src_path.py.
sys.path.insert(0, f"{workflow.basedir}/src")

from archscale.config_check import ConfigError, check_config, format_schema_error  # noqa: E402

min_version("9.0")


configfile: "config/config.yaml"


# Any config problem stops here, before a job is planned, with one line naming the key path
# (the README's faults section lists the cases): the schema first, then what it cannot check.
try:
    validate(config, f"{workflow.basedir}/src/archscale/schema.yaml")
except WorkflowError as err:
    sys.exit(f"archscale: {format_schema_error(err)}")
try:
    check_config(config)
except ConfigError as err:
    sys.exit(f"archscale: {err}")


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/base_lr.smk"
include: "rules/scaling.smk"
include: "rules/verify.smk"
include: "rules/train.smk"
include: "rules/figures.smk"


# Cheap aggregation and plotting run where Snakemake runs, never as cluster jobs; so do
# downloads (the login node has the network).
localrules:
    all,
    fetch_dataset,
    scaled_lrs,
    aggregate_lr,
    aggregate_nb201,
    plot_lr_figure,
    plot_nb201,
    plot_init_signal,
    plot_evidence,
    tables,
    figures_readme,


rule all:
    input:
        all_targets(),
    default_target: True
