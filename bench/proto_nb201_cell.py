"""Prototype of a proposed change to ``archscale.models.nb201.InferCell.forward`` (not applied to
src/), measured against the current code in the same run, in both trainers.

``InferCell.forward`` returns ``self.node_outputs(x)[-1]``, and ``node_outputs`` materialises
``torch.zeros_like(x)`` for *every* node without live inputs, although ``forward`` only needs
the last node. The NB201 base cell (``|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|``)
has two such nodes, so every cell writes two full activation-sized zero tensors per step
(30 per step at N=5); under the batched grid they are K times larger. Profiling
``batched_sweep`` on the base cell (torch.profiler) put ``zeros_like``/``fill_`` at the top of
the table. Proposed: ``forward`` walks the edges itself and only returns zeros when the output
node is unreachable (``node_outputs`` keeps its current behaviour for signal-propagation
checks). Same function, same parameters.

    python bench/proto_nb201_cell.py                  # base cell, C=16 N=5, fake-cifar10, batch 64
    python bench/proto_nb201_cell.py --device cuda --batch-size 256 --steps 20
"""

from __future__ import annotations

import argparse

import torch
from _common import add_common_args, fmt_times, fresh, header, interleaved, median, setup

from archscale.data import load_dataset
from archscale.graphs import base_arch
from archscale.lr_search import batched_sweep, lr_grid
from archscale.models import build_model
from archscale.models.nb201 import InferCell
from archscale.train import TrainConfig, train

CURRENT_FORWARD = InferCell.forward


def lean_forward(self: InferCell, x: torch.Tensor) -> torch.Tensor:
    nodes: list[torch.Tensor | None] = [x] + [None] * (self.graph.n_nodes - 1)
    for src, dst, key in self.edge_index:
        h = nodes[src]
        if h is None:
            continue
        h = self.edges[key](h)
        nodes[dst] = h if nodes[dst] is None else nodes[dst] + h
    out = nodes[-1]
    return torch.zeros_like(x) if out is None else out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(p)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--cells-per-stage", type=int, default=5)
    p.add_argument("--arch", default=base_arch("nb201"))
    args = p.parse_args(argv)
    device = setup(args)
    steps, repeats, batch = args.steps or 2, args.repeats or 3, args.batch_size
    data = load_dataset("fake-cifar10", split="train", device=device, n=steps * batch)
    base = build_model(
        "nb201", args.arch, width=16, cells_per_stage=args.cells_per_stage, num_classes=10, in_shape=data.in_shape,
        seed=args.seed,
    ).to(device)  # fmt: skip
    lrs = lr_grid(-4, -0.5, 0.5)
    cfg = TrainConfig(
        epochs=1, batch_size=batch, lr=1.0, schedule="constant", momentum=0.0, nesterov=False, weight_decay=0.0,
        augment=True, seed=args.seed,
    )  # fmt: skip
    header("proto_nb201_cell: InferCell.forward current vs lean (zeros only for the output node)", args, device)
    print(f"   nb201 {args.arch} C=16 N={args.cells_per_stage}; batch {batch}; {steps} steps; K={len(lrs)} rates")

    def side(forward, batched: bool):
        def prepare():
            models = [] if batched else [fresh(base) for _ in lrs]
            cfgs = [TrainConfig.from_dict({**cfg.__dict__, "lr": lr}) for lr in lrs]

            def run():
                InferCell.forward = forward
                try:
                    if batched:
                        return batched_sweep(base, data, lrs, cfg)
                    return [train(m, data, None, c, progress=False) for m, c in zip(models, cfgs, strict=True)]
                finally:
                    InferCell.forward = CURRENT_FORWARD

            return run

        return prepare

    times = interleaved(
        {
            "sequential-current": side(CURRENT_FORWARD, False),
            "sequential-lean": side(lean_forward, False),
            "batched-current": side(CURRENT_FORWARD, True),
            "batched-lean": side(lean_forward, True),
        },
        device,
        repeats,
    )
    med = {k: median(v) for k, v in times.items()}
    for k, v in times.items():
        print(f"   {k:18s}: median {med[k]:7.3f} s/grid   (grid times s: {fmt_times(v)})")
    for kind in ("sequential", "batched"):
        r = med[f"{kind}-current"] / med[f"{kind}-lean"]
        print(f"   RATIO {kind} current/lean time = {r:.2f}x  ({device.type})")
    print(f"   RATIO sequential/batched time: current {med['sequential-current'] / med['batched-current']:.2f}x, "
          f"lean {med['sequential-lean'] / med['batched-lean']:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
