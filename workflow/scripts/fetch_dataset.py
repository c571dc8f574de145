"""fetch_dataset: a dataset's files under data_root, md5-verified (downloaded by torchvision when
missing or corrupt), then the marker that the dataset's training jobs wait for."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115

import _src_path  # noqa: E402, F401  (this checkout's archscale, in any env)

from archscale.atomic import atomic_write_text  # noqa: E402
from archscale.data import fetch_dataset  # noqa: E402

sm = snakemake  # noqa: F821
folder = fetch_dataset(sm.wildcards.dataset, sm.params.root)
print(f"{sm.wildcards.dataset}: files md5-verified in {folder}", file=sys.stderr)
atomic_write_text(sm.output.marker, f"{sm.wildcards.dataset} md5-verified in {folder}\n")
