"""Puts this checkout's ``src/`` first on ``sys.path``, so a job runs the archscale code of the
workflow that planned it, in whatever Python runs the job.

Every script imports this before archscale. Snakemake appends the script's own folder to
``sys.path`` (that is how this module is found), runs the job with the Python of the rule's
conda env under ``--use-conda`` (or of Snakemake itself without it), and copies nothing else. A
path computed from this file's location works for any ``--conda-prefix``, on a cluster's shared
file system, and without installing archscale into any env; the README's "Environments" section
says why this beats an install.
"""

import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[2] / "src")
if sys.path[:1] != [SRC]:
    sys.path.insert(0, SRC)
