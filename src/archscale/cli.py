"""``archscale`` command line: the library's answers without the workflow.

    archscale lr --family nb201 --arch '|nor_conv_3x3~0|+...' --base-lr 0.46
    archscale paths --model torchvision:resnet18
    archscale lr --model torchvision:resnet34 --base-model torchvision:resnet18 --base-lr 0.1
    archscale lr-table --family mlp --base-lr 0.5 --out mlp_lrs.csv
    archscale init-check --family mlp --arch 2_12_112 --width 512
    archscale train --family mlp --arch 2_02_002 --dataset digits --lr 0.1 --out run.json
    archscale lr-search --family mlp --arch 1_01_001 --dataset digits --out grid.csv
    archscale plan --configfile config/paper.yaml
    archscale data fetch cifar10 --root data

Every error a user can cause is printed as one line, ``archscale: error: ...``, exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from archscale import __version__
from archscale.schema import defaults


def _family_args(p: argparse.ArgumentParser, arch: bool = True, required: bool = True) -> None:
    p.add_argument("--family", required=required, choices=["mlp", "cnn", "nb201"], help="architecture family")
    if arch:
        p.add_argument("--arch", required=required, help="DAG code (mlp/cnn, e.g. 2_02_002) or NB201 cell string")


def _traced_args(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument(
        "--model", required=required, help="any PyTorch model: torchvision:NAME or module:pkg.mod:factory (traced)"
    )
    p.add_argument("--input-shape", help="example input shape, e.g. 1,3,32,32 (torchvision default 1,3,224,224)")
    p.add_argument("--region", help="trace only this submodule, e.g. cells.0 of a NAS-Bench-201 network")


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--width", type=int, default=64, help="hidden width: MLP units, CNN channels, NB201 C")
    p.add_argument("--kernel-size", type=int, default=3, help="CNN kernel size q")
    p.add_argument("--cells", type=int, default=1, help="NB201 cells per stage (N)")
    p.add_argument(
        "--init",
        default="release",
        choices=["release", "arch_aware", "kaiming"],
        help="release: the authors' models layer by layer; arch_aware: eq. 4 on DAG edges only (docs/init.md)",
    )
    p.add_argument("--in-degree", default="source", choices=["source", "target"], help="eq. 4 in-degree convention")
    p.add_argument("--activation", default="relu", choices=["relu", "gelu"])


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dataset", default="digits", help="digits, digits16, cifar10, cifar100, imagenet16-120, fake-cifar10"
    )
    p.add_argument("--root", default="data", help="dataset folder")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32)
    recipe = defaults("nb201")  # the benchmark's optimiser, as the workflow's NB201 trainings use it
    p.add_argument("--momentum", type=float, default=recipe["momentum"])
    p.add_argument("--no-nesterov", action="store_true", help="plain momentum (default: nesterov, as nb201.nesterov)")
    p.add_argument("--weight-decay", type=float, default=recipe["weight_decay"])
    p.add_argument("--schedule", default="cosine", choices=["cosine", "constant"])
    p.add_argument("--augment", action="store_true", help="random crop + flip on the device")
    p.add_argument("--seed", type=int, default=0)


def _chunk(text: str) -> int | str:
    """``--chunk``: a positive integer or ``auto``."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or auto, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="archscale", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"archscale {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("lr", help="eq. 8/9 learning rate of one architecture (--family/--arch) or model (--model)")
    _family_args(p, required=False)
    p.add_argument("--base-lr", type=float, required=True, help="maximal rate measured on the base network")
    p.add_argument("--kernel-size", type=int, default=None, help="CNN kernel size q (applies q_base/q)")
    p.add_argument("--base-kernel-size", type=int, default=3)
    _traced_args(p, required=False)
    p.add_argument("--base-model", help="the base network of --model (same spec forms, same input)")
    p.add_argument("--base-depths", help="or the base network's path depths, e.g. 2 or 3,4")
    p.add_argument("--depth-offset", type=int, default=0, help="added to every traced depth (1: the release's)")

    p = sub.add_parser("paths", help="path depths of any PyTorch model, traced: '<depth> <count>' per line")
    _traced_args(p, required=True)

    p = sub.add_parser("lr-table", help="eq. 8/9 learning rate of every architecture of a search space")
    _family_args(p, arch=False)
    p.add_argument("--base-lr", type=float, required=True)
    p.add_argument("--kernel-size", type=int, default=None)
    p.add_argument("--nodes", type=int, default=5, help="nodes of the MLP/CNN DAG space (5 = N5)")
    p.add_argument("--out", required=True, help="CSV file to write")

    p = sub.add_parser("init-check", help="per-node mean squared activations after Kaiming and eq. 4 init")
    _family_args(p)
    _model_args(p)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("train", help="train one architecture, write one JSON result")
    _family_args(p)
    _model_args(p)
    _train_args(p)
    p.add_argument("--lr", type=float, required=True, help="learning rate (or the base rate with --lr-autoscale)")
    p.add_argument("--lr-autoscale", action="store_true", help="scale --lr from the base network by eq. 8/9")
    p.add_argument("--checkpoint-every", type=int, default=0)
    p.add_argument("--out", required=True, help="JSON file to write")

    p = sub.add_parser(
        "lr-search",
        help="the workflow's learning-rate grid search on one architecture, write a CSV",
        description="Defaults are the workflow's (lr_search in src/archscale/schema.yaml): with no options this "
        "is the grid search of a true_max_lr job, and gives the same maximal rate for the same network, data "
        "and seed.",
    )
    _family_args(p)
    _model_args(p)
    p.add_argument(
        "--dataset", default="digits", help="digits, digits16, cifar10, cifar100, imagenet16-120, fake-cifar10"
    )
    p.add_argument("--root", default="data", help="dataset folder")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--seed", type=int, default=0, help="weights and data order")
    search = defaults("lr_search")
    for key, kind, text in (
        ("lr_min_exp", float, "grid starts at 2^this"),
        ("lr_max_exp", float, "grid ends at 2^this"),
        ("lr_step", float, "grid step in octaves"),
        ("epochs", int, "training budget per rate"),
        ("batch_size", int, "batch size"),
        ("momentum", float, "SGD momentum"),
        ("weight_decay", float, "weight decay"),
        ("ratio", float, "loss_ratio threshold"),
        ("tail_frac", float, "final loss = mean over this last fraction of steps"),
        ("refine", int, "extra rates between the best point's neighbours"),
    ):
        dest = key.removeprefix("lr_")  # the schema's name: --lr-min-exp sets lr_search.min_exp
        flag = f"--{key.replace('_', '-')}"
        p.add_argument(flag, dest=dest, type=kind, default=search[dest], help=f"{text} (default %(default)s)")
    p.add_argument("--criterion", default=search["criterion"], choices=["min_loss", "loss_ratio"])
    p.add_argument(
        "--engine",
        default="auto",
        choices=["auto", "grouped", "vmap"],
        help="how the K copies are batched: grouped layers (the project's models) or torch.func.vmap (any model); "
        "auto picks grouped when it can",
    )
    p.add_argument(
        "--chunk",
        type=_chunk,
        default=None,
        help="train at most this many rates at once (an int, or auto: as many as fit in the device's free memory); "
        "the numbers are those of one pass; default: all in one pass",
    )
    p.add_argument("--out", required=True, help="CSV file to write")

    p = sub.add_parser("plan", help="the workflow's jobs and their estimated device-seconds, before running it")
    p.add_argument(
        "--configfile",
        action="append",
        default=[],
        help="config file on top of config/config.yaml, as snakemake's --configfile (repeat: later ones win)",
    )
    p.add_argument("--directory", default=".", help="the workflow's folder (holding the Snakefile)")
    p.add_argument("--remaining", action="store_true", help="only the jobs Snakemake would run now")
    p.add_argument("--device", default="auto", help="device to calibrate on: auto, cpu, cuda, cuda:N")

    p = sub.add_parser("data", help="dataset management")
    dsub = p.add_subparsers(dest="data_command", required=True)
    f = dsub.add_parser("fetch", help="download and verify a dataset (cifar10, cifar100)")
    f.add_argument("name")
    f.add_argument("--root", default="data")
    return parser


def _traced_model(spec: str, shape_text: str | None):
    """A model from its spec and its example input (zeros of --input-shape or the default)."""
    import torch

    from archscale.trace import model_from_spec, parse_shape

    model, default = model_from_spec(spec)
    return model, torch.zeros(parse_shape(shape_text, default, spec))


def cmd_paths(a: argparse.Namespace) -> None:
    from archscale.trace import graph_of

    model, x = _traced_model(a.model, a.input_shape)
    g = graph_of(model, x, region=a.region)
    for depth, count in g.depth_counts.items():
        print(f"{depth} {count}")
    print(f"paths {g.n_paths}")
    print(f"sum_L3 {g.depth_sum()}")
    print(f"layers {len(g.layers)} readout {g.readout or '-'}")


def cmd_lr_model(a: argparse.Namespace) -> None:
    from archscale.scaling import scaled_lr
    from archscale.trace import graph_of

    model, x = _traced_model(a.model, a.input_shape)
    if (a.base_model is None) == (a.base_depths is None):
        raise ValueError("give the base network of --model: --base-model SPEC or --base-depths, e.g. --base-depths 2")
    if a.base_model is not None:
        base, _ = _traced_model(a.base_model, a.input_shape)
    else:
        try:
            base = [int(d) for d in a.base_depths.split(",")]
        except ValueError:
            raise ValueError(
                f"--base-depths {a.base_depths!r} must be integers separated by commas, e.g. 3,4"
            ) from None
    lr = scaled_lr(
        a.base_lr, model, base=base, example_input=x, kernel_size=a.kernel_size, base_kernel_size=a.base_kernel_size,
        depth_offset=a.depth_offset, region=a.region,
    )  # fmt: skip
    g = graph_of(model, x, region=a.region)
    print(f"lr {lr:.4f}")
    print(f"paths {g.n_paths} sum_L3 {g.depth_sum(a.depth_offset)}")
    print(f"exact {lr!r}")


def cmd_lr(a: argparse.Namespace) -> None:
    from archscale.graphs import parse
    from archscale.scaling import path_depths, scaled_lr

    if a.model is not None:
        return cmd_lr_model(a)
    if a.family is None or a.arch is None:
        raise ValueError("give --family and --arch (a DAG code or NB201 cell), or --model for any PyTorch model")
    g = parse(a.family, a.arch)
    kernel = a.kernel_size if a.family == "cnn" else None
    lr = scaled_lr(a.base_lr, g, kernel_size=kernel, base_kernel_size=a.base_kernel_size)
    print(f"lr {lr:.4f}")
    print(f"path_depths {path_depths(g)}")
    print(f"exact {lr!r}")


def cmd_lr_table(a: argparse.Namespace) -> None:
    from archscale.atomic import atomic_write_csv
    from archscale.predict import lr_table

    df = lr_table(a.family, a.base_lr, kernel_size=a.kernel_size if a.family == "cnn" else None, n_nodes=a.nodes)
    atomic_write_csv(a.out, df)
    print(f"wrote {len(df)} architectures ({df['lr'].isna().sum()} untrainable) to {a.out}")


def _build(a: argparse.Namespace, in_shape, num_classes: int, init: str | None = None):
    from archscale.models import build_model

    return build_model(
        a.family,
        a.arch,
        width=a.width,
        num_classes=num_classes,
        in_shape=in_shape,
        kernel_size=a.kernel_size,
        init=init or a.init,
        in_degree=a.in_degree,
        activation=a.activation,
        cells_per_stage=a.cells,
        seed=a.seed,
    )


def cmd_init_check(a: argparse.Namespace) -> None:
    import torch

    from archscale.signal import node_signal

    if a.family == "nb201":
        raise ValueError("init-check covers the mlp and cnn families (NB201 cells normalise with BatchNorm)")
    in_shape = (a.width,) if a.family == "mlp" else (a.width, 8, 8)
    x = torch.randn(a.batch, *in_shape, generator=torch.Generator().manual_seed(a.seed))
    print(f"{a.family} {a.arch} width {a.width}: mean squared activation per node / input")
    for scheme, deg in (("kaiming", "source"), ("arch_aware", "source"), ("arch_aware", "target")):
        ratios = node_signal(a.family, a.arch, x, width=a.width, init=scheme, in_degree=deg, seed=a.seed)
        label = scheme if scheme == "kaiming" else f"{scheme}({deg})"
        print(f"  {label:<20} " + "  ".join(f"{r:7.3f}" for r in ratios))


def _data(a: argparse.Namespace):
    from archscale.data import load_dataset, resolve_device

    device = resolve_device(a.device)
    train = load_dataset(a.dataset, a.root, "train", device)
    test = load_dataset(a.dataset, a.root, "test", device)
    return train, test


def _train_config(a: argparse.Namespace, lr: float):
    from archscale.train import TrainConfig

    return TrainConfig(
        epochs=a.epochs,
        batch_size=a.batch_size,
        lr=lr,
        momentum=a.momentum,
        nesterov=not a.no_nesterov,
        weight_decay=a.weight_decay,
        schedule=a.schedule,
        augment=a.augment,
        seed=a.seed,
        checkpoint_every=getattr(a, "checkpoint_every", 0),
    )


def cmd_train(a: argparse.Namespace) -> None:
    from archscale.atomic import atomic_write_json
    from archscale.scaling import scaled_lr
    from archscale.train import train

    lr = a.lr
    if a.lr_autoscale:
        lr = scaled_lr(a.lr, a.arch, kernel_size=a.kernel_size if a.family == "cnn" else None)
    cfg = _train_config(a, lr)
    tr, te = _data(a)
    model = _build(a, tr.in_shape, tr.num_classes)
    ckpt = Path(a.out).with_suffix(".ckpt") if a.checkpoint_every else None
    record = train(model, tr, te, cfg, checkpoint_path=ckpt)
    record.update(family=a.family, arch=a.arch, dataset=a.dataset, lr=lr, init=a.init, width=a.width)
    atomic_write_json(a.out, record)
    f = record["final"]
    print(f"lr {lr:.4g} diverged {record['diverged']} train_loss {f['train_loss']:.4f} test_acc {f['test_acc']:.4f}")


def cmd_lr_search(a: argparse.Namespace) -> None:
    from archscale.atomic import atomic_write_csv
    from archscale.data import load_dataset, resolve_device
    from archscale.experiments import measure_max_lr

    tr = load_dataset(a.dataset, a.root, "train", resolve_device(a.device))
    search = {k: getattr(a, k) for k in defaults("lr_search")}
    model = {"family": a.family, "width": a.width, "kernel_size": a.kernel_size, "activation": a.activation,
             "cells_per_stage": a.cells, "init": a.init, "in_degree": a.in_degree}  # fmt: skip
    # the workflow's own call (true_max_lr / base_lr_search)
    table = measure_max_lr(a.arch, tr, model=model, search=search, seed=a.seed, engine=a.engine)
    best = float(table["max_lr"].iloc[0])
    atomic_write_csv(a.out, table)
    print(f"max lr {best:.4g} ({a.criterion}; {int(table['diverged'].sum())} of {len(table)} rates diverged)")


def cmd_plan(a: argparse.Namespace) -> None:
    from archscale.plan import format_plan, make_plan

    plan = make_plan(a.directory, a.configfile, remaining=a.remaining, device=a.device)
    print(format_plan(plan, a.configfile))


def cmd_data(a: argparse.Namespace) -> None:
    from archscale.data import fetch_dataset

    print(f"{a.name} ready in {fetch_dataset(a.name, a.root)}")


COMMANDS = {
    "lr": cmd_lr,
    "paths": cmd_paths,
    "lr-table": cmd_lr_table,
    "init-check": cmd_init_check,
    "train": cmd_train,
    "lr-search": cmd_lr_search,
    "plan": cmd_plan,
    "data": cmd_data,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except (ValueError, OverflowError, OSError, RuntimeError, json.JSONDecodeError) as err:
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"archscale: error: {msg}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
