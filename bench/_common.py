"""Shared helpers for the benchmarks in this folder (timing, devices, data subsets).

Rules every benchmark here follows: the reference is measured in the same process and run as
the thing it is compared with; both sides use the same model (built once with one seed and
deep-copied per run), the same number of steps, the same batch size and the same
``torch.set_num_threads``; one warm-up run per side, then ``repeats`` timed runs with the two
sides interleaved (A B, B A, A B, ...) so a noisy neighbour hurts both; medians are reported
together with every raw time, and nothing ever passes or fails on time.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import torch

from archscale.data import TensorData, resolve_device


def add_common_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default auto)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads for the whole process, so identical for both sides (default: 1 on CPU, where "
        "2 intra-op threads on 2 shared cores made runs 3-10x slower and far noisier; torch's default on CUDA)",
    )
    p.add_argument("--repeats", type=int, default=None, help="timed runs per side after one warm-up")
    p.add_argument("--steps", type=int, default=None, help="SGD steps per run (same on both sides)")
    p.add_argument("--seed", type=int, default=0, help="model-initialisation seed")


def setup(args: argparse.Namespace) -> torch.device:
    device = resolve_device(args.device)
    if args.threads is None and device.type == "cpu":
        args.threads = 1
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    args.threads = torch.get_num_threads()
    return device


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device) -> tuple[float, Any]:
    """Wall time of ``fn()`` with the device drained before and after (CUDA work is async)."""
    sync(device)
    t0 = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - t0, out


def interleaved(
    sides: dict[str, Callable[[], Callable[[], Any]]], device: torch.device, repeats: int, *, log: bool = True
) -> dict[str, list[float]]:
    """One warm-up run per side, then ``repeats`` timed runs per side, alternating the order.

    ``sides[name]()`` prepares a run (fresh model copies: not timed) and returns the callable
    that does it (timed)."""
    names = list(sides)
    for name in names:
        dt, _ = timed(sides[name](), device)
        if log:
            print(f"  warm-up {name}: {dt:.3f} s", flush=True)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            dt, _ = timed(sides[name](), device)
            times[name].append(dt)
        if log:
            print("  repeat {}: {}".format(r + 1, ", ".join(f"{n} {times[n][-1]:.3f} s" for n in names)), flush=True)
    return times


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def fmt_times(xs: list[float]) -> str:
    return "[" + ", ".join(f"{x:.3f}" for x in xs) + "]"


def fresh(model: torch.nn.Module) -> torch.nn.Module:
    """A deep copy: every run of either side starts from the same initial weights."""
    return copy.deepcopy(model)


def subset(data: TensorData, n: int) -> TensorData:
    """The first ``n`` samples of ``data`` (so an epoch is exactly ``n // batch`` steps)."""
    if n > len(data):
        raise ValueError(f"{data.name} has {len(data)} samples, {n} needed; lower --steps or --batch-size")
    return TensorData(
        x=data.x[:n].contiguous(), y=data.y[:n].contiguous(), num_classes=data.num_classes, name=data.name
    )


def epochs_for(steps: int, batch: int, available: int) -> tuple[int, int]:
    """(epochs, steps_per_epoch) with epochs * steps_per_epoch == steps exactly and
    steps_per_epoch * batch <= available, fewest epochs first."""
    max_spe = available // batch
    if max_spe < 1:
        raise ValueError(f"batch {batch} is larger than the {available} available samples")
    for epochs in range(max(1, -(-steps // max_spe)), steps + 1):
        if steps % epochs == 0 and steps // epochs <= max_spe:
            return epochs, steps // epochs
    raise ValueError(f"cannot split {steps} steps into whole epochs of at most {max_spe} steps")


def header(title: str, args: argparse.Namespace, device: torch.device) -> None:
    print(f"== {title}")
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    dev = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(
        f"   date {when}; python {sys.version.split()[0]}; torch {torch.__version__}; device {device} ({dev}); "
        f"os.cpu_count {os.cpu_count()}; torch threads {args.threads} (both sides)"
    )
