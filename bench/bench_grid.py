"""Batched learning-rate grid search against the same grid run one rate at a time.

Batched side: one ``archscale.lr_search.batched_sweep`` call training K copies of the model at
K rates at once (``torch.func.vmap`` over stacked parameters). Sequential side: K calls of
``archscale.train.train``, one per rate, each on a fresh deep copy of the same model. Both
sides use the grid search's optimiser (``archscale.experiments.search_config`` with the
project's ``lr_search`` settings: constant rate, momentum 0, weight decay 0 unless flags say
otherwise), the same rates, the same data, the same number of steps (whole epochs: the
training split is cut to ``steps_per_epoch * batch`` samples) and the same
``torch.set_num_threads``. Neither side evaluates on a test split.

Printed: median seconds per grid (all K rates), per step of the grid, "model-images/s"
(K * steps * batch / time: images pushed through one copy of the network), and the ratio
sequential / batched (> 1: batching is faster). Nothing passes or fails on time.
``--profile`` adds a torch.profiler table of one batched run (top ops by self CPU time).

    python bench/bench_grid.py                               # digits MLP base net, width 128
    python bench/bench_grid.py --workload digits-cnn         # DAG CNN at fig. 3's width (8), kernel 3
    python bench/bench_grid.py --workload nb201-base --device cuda   # NB201 base cell C=16 N=5
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
import yaml
from _common import add_common_args, epochs_for, fmt_times, fresh, header, interleaved, median, setup, subset

from archscale.data import load_dataset
from archscale.graphs import base_arch
from archscale.lr_search import batched_sweep, lr_grid, pick_engine
from archscale.models import build_model
from archscale.train import TrainConfig, train

# The digits workloads use the default config's sizes: the MLP width of figs. 2/5, the CNN width
# and first kernel size of fig. 3, the grid search's batch size.
DEFAULTS = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "config.yaml").read_text())
FIG3 = DEFAULTS["lr_experiments"]["fig3_cnn_topology"]
WORKLOADS = {
    "digits-mlp": dict(
        family="mlp",
        arch=base_arch("mlp"),  # 1_01_001_0001: the N5 base network
        width=DEFAULTS["lr_experiments"]["fig5_mlp_depth"]["width"],
        kernel=3,
        dataset="digits",
        batch=DEFAULTS["lr_search"]["batch_size"],
        augment=False,
        cpu=dict(steps=400, repeats=5),  # ~1-2 s per grid: tens of seconds in all
        cuda=dict(steps=400, repeats=5),
    ),
    "digits-cnn": dict(
        family="cnn",
        arch="2_12_112_2112",  # an N5 DAG with five conv edges (the base net is a single conv)
        width=FIG3["width"],
        kernel=FIG3["kernel_sizes"][0],
        dataset="digits",
        batch=DEFAULTS["lr_search"]["batch_size"],
        augment=False,
        cpu=dict(steps=80, repeats=3),  # conv-bound on CPU: ~4 s per sequential grid
        cuda=dict(steps=400, repeats=5),
    ),
    "nb201-base": dict(
        family="nb201",
        arch=base_arch("nb201"),
        width=16,
        kernel=3,
        dataset="fake-cifar10",
        batch=256,
        augment=True,
        cpu=dict(N=5, steps=2, repeats=2),  # for completeness only: minutes per grid on a CPU
        cuda=dict(N=5, steps=50, repeats=3),
    ),
}


def profile_batched(run, top: int = 25) -> None:
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    with profile(activities=acts) as prof:
        run()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workload", choices=sorted(WORKLOADS), default="digits-mlp")
    add_common_args(p)
    p.add_argument("--k", type=int, default=8, help="rates in the grid (default 8)")
    p.add_argument("--min-exp", type=float, default=-4.0, help="grid is 2^min_exp, 2^(min_exp+0.5), ... (K points)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--width", type=int, default=None)
    p.add_argument("--kernel", type=int, default=None, help="CNN kernel size q")
    p.add_argument("--cells-per-stage", type=int, default=None, help="NB201 N")
    p.add_argument("--arch", default=None)
    p.add_argument("--momentum", type=float, default=0.0)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto")
    p.add_argument(
        "--engine",
        choices=("auto", "grouped", "vmap"),
        default="auto",
        help="batched side's engine (lr_search.batched_sweep; auto = grouped layers for the project's models)",
    )
    p.add_argument("--profile", action="store_true", help="print a torch.profiler table of one batched run")
    args = p.parse_args(argv)
    device = setup(args)
    w = WORKLOADS[args.workload]
    per_dev = w["cuda" if device.type == "cuda" else "cpu"]
    steps = args.steps or per_dev["steps"]
    repeats = args.repeats or per_dev["repeats"]
    batch = args.batch_size or w["batch"]
    width = args.width or w["width"]
    arch = args.arch or w["arch"]
    n_cells = args.cells_per_stage or per_dev.get("N", 5)
    lrs = lr_grid(args.min_exp, args.min_exp + 0.5 * (args.k - 1), 0.5)

    if w["dataset"] == "fake-cifar10":
        epochs, spe = 1, steps
        data = load_dataset("fake-cifar10", split="train", device=device, n=steps * batch)
    else:
        full = load_dataset(w["dataset"], split="train", device=device)
        epochs, spe = epochs_for(steps, batch, len(full))
        data = subset(full, spe * batch)
    base = build_model(
        w["family"],
        arch,
        width=width,
        num_classes=data.num_classes,
        in_shape=data.in_shape,
        kernel_size=args.kernel or w["kernel"],
        cells_per_stage=n_cells,
        seed=args.seed,
    ).to(device)
    n_params = sum(p.numel() for p in base.parameters())
    # archscale.experiments.search_config's optimiser: constant rate, nesterov only with momentum.
    cfg = TrainConfig(
        epochs=epochs,
        batch_size=batch,
        lr=1.0,
        schedule="constant",
        momentum=args.momentum,
        nesterov=args.momentum > 0,
        weight_decay=args.weight_decay,
        augment=w["augment"],
        precision=args.precision,
        seed=args.seed,
    )
    bf16 = args.precision == "bf16" or (args.precision == "auto" and device.type == "cuda")

    header(
        f"bench_grid: batched_sweep (K={len(lrs)}) vs {len(lrs)} sequential train() runs ({args.workload})",
        args,
        device,
    )
    size = f"C={width} N={n_cells}" if w["family"] == "nb201" else f"width={width}"
    if w["family"] == "cnn":
        size += f" kernel={args.kernel or w['kernel']}"
    print(
        f"   model {w['family']} {arch} {size} ({n_params:,} params); data {w['dataset']} {len(data)} train images "
        f"{data.in_shape}; batch {batch}; {steps} steps = {epochs} epoch(s) x {spe}; augment {w['augment']}"
    )
    print(
        f"   rates 2^{args.min_exp:g} .. 2^{args.min_exp + 0.5 * (len(lrs) - 1):g} (K={len(lrs)}); momentum "
        f"{args.momentum:g}, weight decay {args.weight_decay:g}, constant schedule; {'bf16' if bf16 else 'fp32'}; "
        f"repeats {repeats}; batched engine {pick_engine(base, args.engine)}"
    )

    def make_batched():
        return lambda: batched_sweep(base, data, lrs, cfg, engine=args.engine)  # copies the model itself

    def make_sequential():
        models = [fresh(base) for _ in lrs]
        cfgs = [TrainConfig.from_dict({**cfg.__dict__, "lr": lr}) for lr in lrs]
        return lambda: [train(m, data, None, c, progress=False) for m, c in zip(models, cfgs, strict=True)]

    times = interleaved({"sequential": make_sequential, "batched": make_batched}, device, repeats)
    work = len(lrs) * steps * batch
    med = {k: median(v) for k, v in times.items()}
    for name in ("sequential", "batched"):
        print(
            f"   {name:10s}: median {med[name]:8.3f} s/grid, {med[name] / steps * 1e3:8.2f} ms/grid-step, "
            f"{work / med[name]:10.0f} model-images/s   (grid times s: {fmt_times(times[name])})"
        )
    ratio = med["sequential"] / med["batched"]
    assert math.isfinite(ratio)
    print(f"   RATIO sequential/batched time = {ratio:.2f}x  ({args.workload}, K={len(lrs)}, {device.type})")
    if args.profile:
        profile_batched(make_batched())


if __name__ == "__main__":
    main()
