"""archscale's ``train()`` against a conventional training loop, same model, steps and batch.

The reference is written the way the NAS-Bench-201 release (and most CIFAR code) does it: a
torch ``Dataset`` holding the split as uint8 HWC numpy images, decoded per sample to a PIL
image (as ``torchvision.datasets.CIFAR10.__getitem__`` does) and passed through per-sample
torchvision transforms (``RandomHorizontalFlip`` + ``RandomCrop(pad 4)`` when augmenting, then
``ToTensor`` + ``Normalize``), a ``DataLoader`` (shuffle=True, ``--num-workers`` workers,
pin_memory on CUDA), fp32, ``torch.optim.SGD`` (momentum 0.9, nesterov, weight decay 5e-4) with
a per-step cosine schedule, and ``loss.item()`` every step.

archscale's side is ``archscale.train.train`` with the same optimiser settings on the same
images, resident on the device (``load_dataset``), with its own on-device augmentation and its
default precision (fp32 on CPU, bf16 autocast on CUDA; ``--precision fp32`` to match the
reference's arithmetic on CUDA too).

Both sides start every run from deep copies of one model built with one seed, run exactly
``--steps`` SGD steps in whole epochs (the training split is cut to ``steps_per_epoch * batch``
samples so ``train()``'s epochs line up), and share ``torch.set_num_threads``. A run's time
includes everything its loop does per epoch (the reference's DataLoader worker start-up, the
trainer's once-per-epoch host sync) but not building or copying the model. Printed: median
seconds per step (run time / steps, median over repeats), images/s, and the ratio
reference time / archscale time (> 1: archscale is faster). Nothing passes or fails on time.

    python bench/bench_trainer.py                          # digits MLP, CPU defaults
    python bench/bench_trainer.py --workload nb201         # NB201 C=16 N=1, fake-cifar10, augment, 4 steps
    python bench/bench_trainer.py --workload nb201 --device cuda   # C=16 N=5, 100 steps
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch
from _common import add_common_args, epochs_for, fmt_times, fresh, header, interleaved, median, setup, subset
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from archscale.data import DATASETS, TensorData, load_dataset
from archscale.graphs import NB201_EXAMPLE
from archscale.models import build_model
from archscale.train import TrainConfig, train

# name -> settings; "cpu"/"cuda" keys override per device.
WORKLOADS = {
    "digits-mlp": dict(
        family="mlp",
        arch="2_12_112_2112",  # an N5 DAG code with five Linear edges and four skips
        width=64,
        dataset="digits",
        batch=32,
        augment=False,
        cpu=dict(steps=200, repeats=5),
        cuda=dict(steps=400, repeats=5),
    ),
    "nb201": dict(
        family="nb201",
        arch=NB201_EXAMPLE,
        width=16,
        dataset="fake-cifar10",
        batch=256,
        augment=True,
        cpu=dict(N=1, steps=4, repeats=3),  # ~1.7 s/step on 1 busy core: ~60 s in all
        cuda=dict(N=5, steps=100, repeats=3),
    ),
}

MOMENTUM, WEIGHT_DECAY = 0.9, 5e-4


class UInt8Images(Dataset):
    """A split held as uint8 N x H x W x C numpy images plus int labels, with per-sample
    transforms on a PIL image, like ``torchvision.datasets.CIFAR10``."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: transforms.Compose):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        img = self.images[i]
        img = Image.fromarray(img[:, :, 0] if img.shape[2] == 1 else img)
        return self.transform(img), int(self.labels[i])


def to_uint8_hwc(data: TensorData) -> tuple[np.ndarray, np.ndarray]:
    """Undo ``load_dataset``'s normalisation: the same images as uint8 HWC arrays on the host."""
    info = DATASETS[data.name]
    mean = torch.tensor(info.mean).view(1, -1, 1, 1)
    std = torch.tensor(info.std).view(1, -1, 1, 1)
    x = (data.x.detach().cpu() * std + mean).mul(255).round().clamp(0, 255).to(torch.uint8)
    return x.permute(0, 2, 3, 1).contiguous().numpy(), data.y.cpu().numpy()


def reference_transform(data: TensorData, augment: bool) -> transforms.Compose:
    info = DATASETS[data.name]
    ops: list = []
    if augment:  # NAS-Bench-201's CIFAR recipe order
        ops += [transforms.RandomHorizontalFlip(), transforms.RandomCrop(data.in_shape[1], padding=4)]
    ops += [transforms.ToTensor(), transforms.Normalize(info.mean, info.std)]
    return transforms.Compose(ops)


def reference_train(
    model: nn.Module, dataset: Dataset, steps: int, batch: int, lr: float, device: torch.device, num_workers: int
) -> float:
    """The conventional loop; returns the mean loss (read with ``.item()`` every step)."""
    loader = DataLoader(
        dataset, batch_size=batch, shuffle=True, num_workers=num_workers, pin_memory=device.type == "cuda"
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM, nesterov=True, weight_decay=WEIGHT_DECAY)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    criterion = nn.CrossEntropyLoss()
    model.train()
    step, total = 0, 0.0
    while step < steps:
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = criterion(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.item()
            step += 1
            if step == steps:
                break
    return total / steps


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workload", choices=sorted(WORKLOADS), default="digits-mlp")
    add_common_args(p)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--width", type=int, default=None, help="MLP units / NB201 C")
    p.add_argument("--cells-per-stage", type=int, default=None, help="NB201 N (default 1 on CPU, 5 on CUDA)")
    p.add_argument("--arch", default=None)
    p.add_argument("--num-workers", type=int, default=2, help="reference DataLoader workers (default 2)")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto", help="archscale side only")
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

    if w["dataset"] == "fake-cifar10":
        epochs, spe = 1, steps
        data = load_dataset("fake-cifar10", split="train", device=device, n=steps * batch)
    else:
        full = load_dataset(w["dataset"], split="train", device=device)
        epochs, spe = epochs_for(steps, batch, len(full))
        data = subset(full, spe * batch)
    images, labels = to_uint8_hwc(data)
    ref_data = UInt8Images(images, labels, reference_transform(data, w["augment"]))

    base = build_model(
        w["family"],
        arch,
        width=width,
        num_classes=data.num_classes,
        in_shape=data.in_shape,
        cells_per_stage=n_cells,
        seed=args.seed,
    ).to(device)
    n_params = sum(p.numel() for p in base.parameters())
    cfg = TrainConfig(
        epochs=epochs,
        batch_size=batch,
        lr=args.lr,
        momentum=MOMENTUM,
        nesterov=True,
        weight_decay=WEIGHT_DECAY,
        augment=w["augment"],
        precision=args.precision,
        seed=args.seed,
    )
    bf16 = args.precision == "bf16" or (args.precision == "auto" and device.type == "cuda")

    header(f"bench_trainer: archscale.train() vs DataLoader reference ({args.workload})", args, device)
    size = f"C={width} N={n_cells}" if w["family"] == "nb201" else f"width={width}"
    print(
        f"   model {w['family']} {arch} {size} ({n_params:,} params); data {w['dataset']} {len(data)} train images "
        f"{data.in_shape}; batch {batch}; {steps} steps = {epochs} epoch(s) x {spe}; augment {w['augment']}"
    )
    print(
        f"   reference: Dataset(uint8 HWC numpy -> PIL -> torchvision transforms) + DataLoader(shuffle, "
        f"num_workers={args.num_workers}, pin_memory={device.type == 'cuda'}), fp32, loss.item() per step"
    )
    print(f"   archscale: train(), device-resident data, {'bf16 autocast' if bf16 else 'fp32'}; repeats {repeats}")

    def make_archscale():
        m = fresh(base)
        return lambda: train(m, data, None, cfg, progress=False)

    def make_reference():
        m = fresh(base)
        return lambda: reference_train(m, ref_data, steps, batch, args.lr, device, args.num_workers)

    times = interleaved({"reference": make_reference, "archscale": make_archscale}, device, repeats)
    images_per_run = steps * batch
    med = {k: median(v) for k, v in times.items()}
    for name in ("reference", "archscale"):
        print(
            f"   {name:9s}: median {med[name] / steps * 1e3:8.3f} ms/step, {images_per_run / med[name]:10.0f} images/s"
            f"   (run times s: {fmt_times(times[name])})"
        )
    ratio = med["reference"] / med["archscale"]
    assert math.isfinite(ratio)
    print(f"   RATIO reference/archscale time = {ratio:.2f}x  ({args.workload}, {device.type})")


if __name__ == "__main__":
    main()
