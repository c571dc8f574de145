"""The training loop: one plain function, data on the device, no host sync inside the loop.

``train(model, train_data, test_data, cfg)`` runs SGD (momentum, nesterov, weight decay) with a
closed-form cosine schedule written into the optimizer's param groups, on whole-tensor batches
(``archscale.data.iterate_batches``) with on-device augmentation. Per-step losses stay on the
device and come to the host once per epoch, which is also where divergence (a non-finite or
exploding loss) is detected: a diverged run stops and is *recorded*, never raised.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from archscale import __version__
from archscale.atomic import atomic_torch_save
from archscale.data import TensorData, augment_batch, iterate_batches

SCHEDULES = ("cosine", "constant")
PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class TrainConfig:
    """Every setting a training run depends on (units in the names' comments)."""

    epochs: int = 1  # passes over the training split
    batch_size: int = 128  # samples per SGD step
    lr: float = 0.1  # peak learning rate
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "cosine"  # cosine (to 0 at the last step) or constant
    warmup_epochs: float = 0.0  # linear warm-up length, in epochs
    label_smoothing: float = 0.0
    augment: bool = False  # random crop (pad 4) + flip, on the device
    seed: int = 0  # data order and augmentation
    precision: str = "auto"  # auto: bf16 autocast on CUDA, fp32 on CPU
    compile: bool = False  # torch.compile the model (CUDA runs; tests keep it off)
    checkpoint_every: int = 0  # epochs between checkpoints; 0 = never
    max_loss: float = 1e3  # a loss above this (or non-finite) marks the run diverged

    def __post_init__(self) -> None:
        checks = {
            "epochs": self.epochs >= 1,
            "batch_size": self.batch_size >= 1,
            "lr": self.lr > 0 and math.isfinite(self.lr),
            "momentum": 0 <= self.momentum < 1,
            "weight_decay": self.weight_decay >= 0,
            "warmup_epochs": 0 <= self.warmup_epochs <= self.epochs,
            "label_smoothing": 0 <= self.label_smoothing < 1,
            "checkpoint_every": self.checkpoint_every >= 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(
                    f"invalid training option {name}={getattr(self, name)!r}; see archscale.train.TrainConfig"
                )
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown training option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**d)

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


def lr_multiplier(step: int, total_steps: int, cfg: TrainConfig, steps_per_epoch: int) -> float:
    """Closed-form schedule as a fraction of the peak rate: linear warm-up, then cosine to 0
    (or constant)."""
    warm = int(round(cfg.warmup_epochs * steps_per_epoch))
    if step < warm:
        return (step + 1) / warm
    if cfg.schedule == "constant":
        return 1.0
    progress = (step - warm) / max(total_steps - warm, 1)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def check_batch_size(cfg_batch: int, data: TensorData) -> None:
    if cfg_batch > len(data):
        raise ValueError(
            f"batch_size {cfg_batch} is larger than the {data.name} training split ({len(data)} samples); "
            "lower batch_size"
        )


def use_bf16(cfg: TrainConfig, device: torch.device) -> bool:
    if cfg.precision == "bf16":
        return True
    return cfg.precision == "auto" and device.type == "cuda"


def autocast(enabled: bool, device: torch.device) -> contextlib.AbstractContextManager:
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def oom_message(cfg_batch: int) -> str:
    return (
        f"out of device memory at batch_size {cfg_batch}; lower batch_size in the config "
        "(or --batch-size on the command line), or run on a device with more memory"
    )


@torch.no_grad()
def evaluate(model: nn.Module, data: TensorData, *, batch_size: int = 1024, bf16: bool = False) -> dict[str, float]:
    """Mean loss and accuracy over a whole split (model in eval mode, restored after)."""
    was_training = model.training
    model.eval()
    total_loss = torch.zeros((), device=data.x.device)
    correct = torch.zeros((), device=data.x.device)
    for i in range(0, len(data), batch_size):
        x, y = data.x[i : i + batch_size], data.y[i : i + batch_size]
        with autocast(bf16, data.x.device):
            out = model(x).float()
        total_loss += F.cross_entropy(out, y, reduction="sum")
        correct += (out.argmax(1) == y).sum()
    model.train(was_training)
    n = len(data)
    loss, acc = (total_loss / n).item(), (correct / n).item()  # one sync per evaluation
    return {"loss": loss if math.isfinite(loss) else float("nan"), "acc": acc}


def model_fingerprint(model: nn.Module) -> str:
    """Hash of a model's kind, architecture, parameter names, shapes and *current* values:
    taken before training, it tells apart another family, width, init scheme or init seed."""
    h = hashlib.sha256()
    kind = (type(model).__name__, getattr(model, "archscale_family", ""), getattr(model, "archscale_arch", ""))
    h.update("|".join(kind).encode())
    for name, t in model.state_dict().items():
        h.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def _checkpoint_meta(cfg: TrainConfig, fingerprint: str) -> dict[str, Any]:
    return {"version": __version__, "config": cfg.digest(), "model": fingerprint}


def load_checkpoint(path: Path, cfg: TrainConfig, fingerprint: str) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if it was written by this version for this config and this
    initial model; a mismatching or unreadable one is ignored (and reported), never reused."""
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file: start over, say why
        print(f"archscale: ignoring unreadable checkpoint {path}: {err}", file=sys.stderr)
        return None
    meta = _checkpoint_meta(cfg, fingerprint)
    if state.get("meta") != meta:
        print(f"archscale: ignoring checkpoint {path}: written for {state.get('meta')}, now {meta}", file=sys.stderr)
        return None
    return state


def train(
    model: nn.Module,
    train_data: TensorData,
    test_data: TensorData | None,
    cfg: TrainConfig,
    *,
    checkpoint_path: str | os.PathLike | None = None,
    progress: bool | None = None,
    make_optimizer: Callable[[nn.Module], torch.optim.Optimizer] | None = None,
) -> dict[str, Any]:
    """Train ``model`` in place; return a JSON-ready record of the run.

    The record has per-epoch train/test loss and accuracy (``history``), the first epoch's
    per-step losses, ``diverged`` and ``diverged_step``, and wall time. With
    ``checkpoint_path`` and ``cfg.checkpoint_every`` the run saves atomically every N epochs and
    resumes from a matching checkpoint, giving the same numbers as an uninterrupted run on CPU.
    ``make_optimizer(model)`` replaces the default ``torch.optim.SGD`` (e.g. μP's MuSGD); the
    schedule then scales each param group's own initial rate.
    """
    device = train_data.x.device
    check_batch_size(cfg.batch_size, train_data)
    model.to(device)
    bf16 = use_bf16(cfg, device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    fingerprint = model_fingerprint(model)
    if make_optimizer is not None:
        optimizer = make_optimizer(model)
    else:
        optimizer = torch.optim.SGD(
            model.parameters(),
            lr=cfg.lr,
            momentum=cfg.momentum,
            nesterov=cfg.nesterov and cfg.momentum > 0,
            weight_decay=cfg.weight_decay,
        )
    peaks = [group["lr"] for group in optimizer.param_groups]
    step_fn = torch.compile(model) if cfg.compile else model
    generator = torch.Generator(device=device).manual_seed(cfg.seed)
    steps_per_epoch = len(train_data) // cfg.batch_size
    total_steps = cfg.epochs * steps_per_epoch
    record: dict[str, Any] = {
        "history": [],
        "first_epoch_losses": [],
        "diverged": False,
        "diverged_step": None,
        "epochs_done": 0,
    }
    start_epoch, elapsed = 0, 0.0
    ckpt = Path(checkpoint_path) if checkpoint_path else None
    if ckpt is not None and (state := load_checkpoint(ckpt, cfg, fingerprint)) is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        record = json.loads(state["record"])
        start_epoch, elapsed = record["epochs_done"], record.get("wall_time_s", 0.0)

    show = sys.stderr.isatty() if progress is None else progress
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.epochs, initial=start_epoch, desc="train", unit="epoch", leave=False)
    t0 = time.perf_counter()
    model.train()
    try:
        for epoch in range(start_epoch, cfg.epochs):
            losses = torch.empty(steps_per_epoch, device=device)
            correct = torch.zeros((), device=device)
            for i, (x, y) in enumerate(iterate_batches(train_data, cfg.batch_size, generator=generator)):
                step = epoch * steps_per_epoch + i
                mult = lr_multiplier(step, total_steps, cfg, steps_per_epoch)
                for group, peak in zip(optimizer.param_groups, peaks, strict=True):
                    group["lr"] = peak * mult
                if cfg.augment:
                    x = augment_batch(x, generator=generator)
                if device.type == "cuda":
                    x = x.contiguous(memory_format=torch.channels_last)
                with autocast(bf16, device):
                    out = step_fn(x)
                    loss = F.cross_entropy(out.float(), y, label_smoothing=cfg.label_smoothing)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses[i] = loss.detach()
                correct += (out.detach().argmax(1) == y).sum()
            host_losses = losses.cpu()  # one sync per epoch
            if epoch == 0:
                record["first_epoch_losses"] = [float(v) for v in host_losses]
            bad = ~torch.isfinite(host_losses) | (host_losses > cfg.max_loss)
            if bool(bad.any()):
                record["diverged"] = True
                record["diverged_step"] = epoch * steps_per_epoch + int(bad.nonzero()[0, 0])
                record["epochs_done"] = epoch + 1
                break
            entry = {
                "epoch": epoch + 1,
                "train_loss": float(host_losses.mean()),
                "train_acc": float(correct.item() / (steps_per_epoch * cfg.batch_size)),
            }
            if test_data is not None:
                ev = evaluate(model, test_data, bf16=bf16)
                entry.update(test_loss=ev["loss"], test_acc=ev["acc"])
            record["history"].append(entry)
            record["epochs_done"] = epoch + 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{entry['train_loss']:.3f}")
            if ckpt is not None and cfg.checkpoint_every and (epoch + 1) % cfg.checkpoint_every == 0:
                record["wall_time_s"] = elapsed + time.perf_counter() - t0
                atomic_torch_save(
                    {
                        "meta": _checkpoint_meta(cfg, fingerprint),
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "generator": generator.get_state(),
                        "record": json.dumps(record),
                    },
                    ckpt,
                )
    except torch.OutOfMemoryError as err:
        raise RuntimeError(oom_message(cfg.batch_size)) from err
    finally:
        if bar is not None:
            bar.close()
    record["wall_time_s"] = elapsed + time.perf_counter() - t0
    record["steps_per_epoch"] = steps_per_epoch
    last = record["history"][-1] if record["history"] else {}
    record["final"] = {
        "train_loss": float("nan") if record["diverged"] else last.get("train_loss", float("nan")),
        "train_acc": last.get("train_acc", float("nan")),
        "test_loss": last.get("test_loss", float("nan")),
        "test_acc": float("nan") if record["diverged"] else last.get("test_acc", float("nan")),
    }
    return record
