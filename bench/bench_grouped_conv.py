"""One conv layer of K copies: K separate convolutions against one ``groups=K`` convolution.

Why the grid's ``grouped`` engine (``archscale.stacked``) runs its convolutions channels_last:
this prints, for one Conv2d(C, C, q, padding=q//2) -> ReLU layer of K copies, forward +
backward (input and weight gradients), the median time of

- ``separate``: K convolutions of ``[B, C, H, W]`` (what K sequential runs do; the reference),
- ``grouped-nchw``: one ``groups=K`` convolution of ``[B, K*C, H, W]``, contiguous,
- ``grouped-cl``: the same in channels_last,

and each grouped variant's ratio separate / grouped (> 1: grouping is faster). Nothing passes
or fails on time.

    python bench/bench_grouped_conv.py                      # digits CNN layer: B=32, C=16, 8x8
    python bench/bench_grouped_conv.py --preset nb201       # NB201 stage-1 conv: B=256, C=16, 32x32
"""

from __future__ import annotations

import argparse

import torch
from _common import add_common_args, fmt_times, header, interleaved, median, setup
from torch.nn import functional as F

PRESETS = {
    "digits": dict(batch=32, channels=16, size=8, kernel=3, repeats=40),
    "nb201": dict(batch=256, channels=16, size=32, kernel=3, repeats=5),
}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="digits")
    p.add_argument("--k", type=int, default=8, help="copies (default 8)")
    p.add_argument("--channels", type=int, default=None, help="channels per copy")
    p.add_argument("--batch-size", type=int, default=None)
    add_common_args(p)
    args = p.parse_args(argv)
    device = setup(args)
    cfg = PRESETS[args.preset]
    k, b = args.k, args.batch_size or cfg["batch"]
    c, s, q = args.channels or cfg["channels"], cfg["size"], cfg["kernel"]
    repeats = args.repeats or cfg["repeats"]
    steps = args.steps or 1
    gen = torch.Generator(device="cpu").manual_seed(args.seed)
    x = torch.randn(b, k * c, s, s, generator=gen).to(device)
    w = (torch.randn(k * c, c, q, q, generator=gen) * 0.1).to(device)
    bias = torch.zeros(k * c, device=device)
    header(f"bench_grouped_conv: {k} copies of Conv2d({c}, {c}, {q}) + ReLU, batch {b}, {s}x{s}", args, device)
    print(f"   forward + backward, {steps} step(s) per timed run, repeats {repeats}")

    def separate():
        xs = [t.detach().clone().requires_grad_() for t in x.chunk(k, dim=1)]
        ws = [t.detach().clone().requires_grad_() for t in w.chunk(k, dim=0)]
        bs = [t.detach().clone().requires_grad_() for t in bias.chunk(k)]

        def run():
            for _ in range(steps):
                for xi, wi, bi in zip(xs, ws, bs, strict=True):
                    F.relu(F.conv2d(xi, wi, bi, padding=q // 2)).sum().backward()

        return run

    def grouped(memory_format: torch.memory_format):
        def make():
            xg = x.detach().contiguous(memory_format=memory_format).requires_grad_()
            wg, bg = w.detach().clone().requires_grad_(), bias.detach().clone().requires_grad_()

            def run():
                for _ in range(steps):
                    F.relu(F.conv2d(xg, wg, bg, padding=q // 2, groups=k)).sum().backward()

            return run

        return make

    sides = {
        "separate": separate,
        "grouped-nchw": grouped(torch.contiguous_format),
        "grouped-cl": grouped(torch.channels_last),
    }
    times = interleaved(sides, device, repeats, log=False)
    med = {n: median(t) for n, t in times.items()}
    for name, t in times.items():
        print(f"   {name:13s}: median {med[name] * 1e3:9.3f} ms   (times ms: {fmt_times([v * 1e3 for v in t])})")
    for name in ("grouped-nchw", "grouped-cl"):
        ratio = med["separate"] / med[name]
        print(f"   RATIO separate/{name} time = {ratio:.2f}x  ({args.preset}, K={k}, {device.type})")


if __name__ == "__main__":
    main()
