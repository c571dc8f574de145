"""Learning-rate grid search, batched: K copies of one network at K rates in one pass.

The K copies start from identical weights and see identical batches (one data order, one
augmentation), so the only difference between them is the rate. One backward of the summed
loss gives every copy's own gradient (the copies never mix), and SGD updates the stacked
parameters in place with a per-copy rate: one update instead of K optimizers. Two engines:

- ``grouped`` (:mod:`archscale.stacked`, the default for this project's MLP/CNN/NB201 models):
  the copies side by side in the channel dimension, Linear as one batched matmul, Conv2d as
  one ``groups=K`` convolution (channels_last), BatchNorm over K*C channels;
- ``vmap``: ``torch.func.vmap(functional_call)`` over stacked parameters, for any module
  (BatchNorm on batch statistics via ``replace_all_batch_norm_modules_``).

The paper's "maximal learning rate" (section 4): train for a budget (one epoch), take the rate
with the smallest training loss at the end; diverged rates are data, excluded from the choice.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.func import functional_call, replace_all_batch_norm_modules_, vmap
from torch.nn import functional as F

from archscale.data import TensorData, augment_batch, iterate_batches
from archscale.stacked import StackedNet, supports, unsupported
from archscale.train import TrainConfig, autocast, check_batch_size, lr_multiplier, oom_message, use_bf16

CRITERIA = ("min_loss", "loss_ratio")
ENGINES = ("auto", "grouped", "vmap")


def lr_grid(lo_exp: float, hi_exp: float, step: float = 0.5) -> list[float]:
    """Powers of two from 2^lo_exp to 2^hi_exp in steps of ``step`` octaves (inclusive)."""
    if not (math.isfinite(lo_exp) and math.isfinite(hi_exp)) or step <= 0 or hi_exp < lo_exp:
        raise ValueError(f"lr grid needs step > 0 and hi >= lo, got lo={lo_exp}, hi={hi_exp}, step={step}")
    n = int(math.floor((hi_exp - lo_exp) / step + 1e-9)) + 1
    return [float(2.0 ** (lo_exp + i * step)) for i in range(n)]


def pick_engine(model: nn.Module, engine: str = "auto") -> str:
    """The batching engine for ``model``: see :func:`batched_sweep`."""
    if engine not in ENGINES:
        raise ValueError(f"unknown grid-search engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if engine == "auto":
        return "grouped" if supports(model) else "vmap"
    if engine == "grouped" and (why := unsupported(model)) is not None:
        raise ValueError(f"engine 'grouped' cannot run this model ({why}); use engine 'vmap' or 'auto'")
    return engine


def _copies(
    model: nn.Module, k: int, x: torch.Tensor, engine: str
) -> tuple[list[torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]:
    """K copies of ``model`` on ``x``'s device: their trainable tensors (``[K, *shape]`` leaves)
    and their batched forward (logits ``[B, K, classes]``)."""
    if engine == "grouped":
        net = StackedNet(model, k, probe=x[: min(2, len(x))])
        return net.params, net.forward
    base = copy.deepcopy(model).to(x.device)
    replace_all_batch_norm_modules_(base)
    params, buffers = _stack(base, k)

    def forward_one(p: dict, b: dict, x: torch.Tensor) -> torch.Tensor:
        return functional_call(base, (p, b), (x,))

    batched_forward = vmap(forward_one, in_dims=(0, 0, None), out_dims=1)
    return list(params.values()), lambda x: batched_forward(params, buffers, x)


def _stack(model: nn.Module, k: int) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    params = {
        n: p.detach().unsqueeze(0).repeat(k, *[1] * p.dim()).requires_grad_() for n, p in model.named_parameters()
    }
    buffers = {n: b.detach().unsqueeze(0).repeat(k, *[1] * b.dim()) for n, b in model.named_buffers()}
    return params, buffers


def chunk_sizes(k: int, chunk: int) -> list[int]:
    """Sizes of the fewest chunks of at most ``chunk`` copies, balanced (7 by 3 -> 3, 2, 2), so
    that no chunk holds a lone copy unless ``chunk`` is 1."""
    if chunk < 1:
        raise ValueError(f"a grid chunk holds at least one rate, got chunk={chunk}")
    n = math.ceil(k / min(chunk, k))
    base, extra = divmod(k, n)
    return [base + 1] * extra + [base] * (n - extra)


def resolve_chunk(chunk: int | str | None, model: nn.Module, train_data: TensorData, cfg: TrainConfig, k: int) -> int:
    """Copies per pass: ``None`` all ``k`` (one pass), an int, or ``"auto"`` (as many as fit in
    the device's free memory, :func:`archscale.memory.auto_chunk`)."""
    if chunk is None:
        return k
    if chunk == "auto":
        from archscale.memory import auto_chunk

        return auto_chunk(model, train_data.in_shape, cfg.batch_size, k, train_data.x.device)
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"grid chunk must be a positive integer or 'auto', got {chunk!r}")
    return min(chunk, k)


def batched_sweep(
    model: nn.Module,
    train_data: TensorData,
    lrs: Sequence[float],
    cfg: TrainConfig,
    *,
    steps: int | None = None,
    engine: str = "auto",
    chunk: int | str | None = None,
) -> dict[str, Any]:
    """Train ``len(lrs)`` copies of ``model`` (not modified) at rates ``lrs`` for ``cfg.epochs``
    epochs (or ``steps`` steps), SGD as in :func:`archscale.train.train` with ``cfg``'s momentum,
    nesterov, weight decay and schedule (``cfg.lr`` is ignored: each copy has its own rate).

    ``engine``: ``grouped`` (:mod:`archscale.stacked`: the copies side by side in grouped
    layers), ``vmap`` (``torch.func.vmap`` over stacked parameters: any
    module), or ``auto`` (grouped when the model is built from layers it knows, else vmap).

    ``chunk``: at most this many copies at once (:func:`resolve_chunk`; ``"auto"``: as many
    as fit in the device's memory), the passes one after another. Every pass starts from the
    model's weights and replays the seed's data order and augmentation, and each copy's
    arithmetic does not depend on how many copies share its pass, so the losses are
    bit-identical to one pass (on CPU; tested). A lone copy would take other kernels, so a
    chunk of one runs beside a duplicate of its rate, which is dropped.

    Returns ``losses`` (steps x K array of per-step training losses, NaN after divergence),
    ``diverged_step`` (K entries, -1 when the copy did not diverge) and ``num_classes`` (the
    chance-level loss is its log: criteria applied later compare losses with it).
    """
    if not lrs or any(not (lr > 0 and math.isfinite(lr)) for lr in lrs):
        raise ValueError(f"learning rates must be positive and finite, got {list(lrs)}")
    check_batch_size(cfg.batch_size, train_data)
    if steps is not None and steps < 1:
        raise ValueError(f"a sweep needs at least one step, got steps={steps}")
    k = len(lrs)
    engine = pick_engine(model, engine)
    steps_per_epoch = len(train_data) // cfg.batch_size
    total = steps if steps is not None else cfg.epochs * steps_per_epoch
    size = resolve_chunk(chunk, model, train_data, cfg, k)
    parts, start = [], 0
    for n in chunk_sizes(k, size):
        rates = list(lrs[start : start + n])
        start += n
        lone = n == 1 and k > 1
        got = _sweep_pass(model, train_data, rates * 2 if lone else rates, cfg, total, steps_per_epoch, engine)
        parts.append(got[:, :1] if lone else got)
    # One sync per pass. A copy diverges at its first non-finite (or > max_loss) loss, as
    # train() stops there; later steps of that copy are NaN. Its own numbers may run on as NaN,
    # harmlessly: no layer, norm or loss mixes copies, so the others never see them.
    host = np.concatenate([p.cpu().numpy() for p in parts], axis=1)
    bad = ~np.isfinite(host) | (host > cfg.max_loss)
    diverged_step = np.where(bad.any(axis=0), bad.argmax(axis=0), -1)
    host[np.arange(total)[:, None] >= np.where(diverged_step >= 0, diverged_step, total)] = np.nan
    return {
        "lrs": list(map(float, lrs)),
        "losses": host,
        "diverged_step": diverged_step,
        "steps_per_epoch": steps_per_epoch,
        "num_classes": train_data.num_classes,
        "chunk": size,
    }


def _sweep_pass(
    model: nn.Module,
    train_data: TensorData,
    lrs: Sequence[float],
    cfg: TrainConfig,
    total: int,
    steps_per_epoch: int,
    engine: str,
) -> torch.Tensor:
    """One pass of :func:`batched_sweep` over copies at ``lrs``: the ``[total, K]`` losses, on
    the device."""
    device = train_data.x.device
    k = len(lrs)
    try:
        plist, logits = _copies(model, k, train_data.x, engine)
        momenta = [torch.zeros_like(p) for p in plist]
        rates = torch.tensor(list(lrs), device=device, dtype=torch.float32)
        bf16 = use_bf16(cfg, device)

        def batched_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            # logits [B, K, classes] -> [K*B, classes], copy-major: each copy's mean is a reduction
            # over its own contiguous row, computed the same way whatever K is (a mean over dim 0
            # of [B, K] is not), so a chunk of the copies gives bit-identical losses
            out = logits(x).float().transpose(0, 1).reshape(k * len(y), -1)
            per = F.cross_entropy(out, y.repeat(k), reduction="none", label_smoothing=cfg.label_smoothing)
            return per.view(k, len(y)).mean(1)

        losses = torch.empty((total, k), device=device)
        generator = torch.Generator(device=device).manual_seed(cfg.seed)
        step = 0
        while step < total:
            for x, y in iterate_batches(train_data, cfg.batch_size, generator=generator):
                if step >= total:
                    break
                if cfg.augment:
                    x = augment_batch(x, generator=generator)
                with autocast(bf16, device):
                    per_copy = batched_loss(x, y)
                grads = torch.autograd.grad(per_copy.sum(), plist, allow_unused=True)
                scale = lr_multiplier(step, total, cfg, steps_per_epoch)
                with torch.no_grad():
                    losses[step] = per_copy
                    _sgd_update(plist, grads, momenta, rates if scale == 1.0 else rates * scale, cfg)
                step += 1
    except torch.OutOfMemoryError as err:
        raise RuntimeError(f"{oom_message(cfg.batch_size)}; or search fewer rates at once (chunk, --chunk)") from err
    return losses


@torch.no_grad()
def _sgd_update(
    params: list[torch.Tensor],
    grads: Sequence[torch.Tensor | None],
    momenta: list[torch.Tensor],
    rates: torch.Tensor,
    cfg: TrainConfig,
) -> None:
    """torch.optim.SGD's update (weight decay, momentum with buffer = g on the first step,
    nesterov) on stacked parameters with one rate per copy, in place. A parameter off every
    input->output path has no gradient and, as in torch.optim.SGD, is not updated."""
    for p, g, m in zip(params, grads, momenta, strict=True):
        if g is None:
            continue
        if cfg.weight_decay:
            g = g.add(p, alpha=cfg.weight_decay)
        if cfg.momentum:
            m.mul_(cfg.momentum).add_(g)
            g = g.add(m, alpha=cfg.momentum) if cfg.nesterov else m
        p.sub_(rates.view(-1, *[1] * (p.dim() - 1)) * g)


def summarise(sweep: dict[str, Any], *, tail_frac: float = 0.1) -> pd.DataFrame:
    """One row per rate: initial, final (mean of the last ``tail_frac`` of steps) and minimum
    training loss, the loss at each quarter of the budget, divergence, and the dataset's
    ``num_classes`` (when the sweep records it). Everything any rate-choice criterion needs
    (:mod:`archscale.criteria`, applied at aggregation) is stored here, once per rate."""
    losses = sweep["losses"]
    total = losses.shape[0]
    tail = max(1, int(round(total * tail_frac)))
    rows = []
    for j, lr in enumerate(sweep["lrs"]):
        curve = losses[:, j]
        dstep = int(sweep["diverged_step"][j])
        row = {
            "lr": lr,
            "log2_lr": math.log2(lr),
            "initial_loss": float(curve[0]) if np.isfinite(curve[0]) else float("nan"),
            "final_loss": float(np.mean(curve[-tail:])) if dstep < 0 else float("nan"),
            "min_loss": float(np.nanmin(curve)) if np.isfinite(curve).any() else float("nan"),
            "diverged": dstep >= 0,
            "diverged_step": dstep if dstep >= 0 else None,
            "steps": total,
        }
        if "num_classes" in sweep:
            row["num_classes"] = int(sweep["num_classes"])
        for q in (0.25, 0.5, 0.75):
            v = curve[max(0, int(total * q) - 1)]
            row[f"loss_at_{int(q * 100)}pct"] = float(v) if np.isfinite(v) else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def choose_max_lr(
    table: pd.DataFrame,
    criterion: str = "min_loss",
    *,
    ratio: float = 0.9,
) -> float:
    """The "maximal learning rate" of a grid.

    ``min_loss`` (the paper's): the rate with the smallest final training loss, diverged rates
    excluded. ``loss_ratio``: the largest rate whose final loss is below ``ratio`` x the
    initial loss. NaN when no rate qualifies.
    """
    if criterion not in CRITERIA:
        raise ValueError(f"unknown max-lr criterion {criterion!r}; choose one of {', '.join(CRITERIA)}")
    ok = table[~table["diverged"] & np.isfinite(table["final_loss"])]
    if ok.empty:
        return float("nan")
    if criterion == "min_loss":
        return float(ok.loc[ok["final_loss"].idxmin(), "lr"])
    good = ok[ok["final_loss"] < ratio * ok["initial_loss"]]
    return float(good["lr"].max()) if not good.empty else float("nan")


def search_max_lr(
    model: nn.Module,
    train_data: TensorData,
    lrs: Sequence[float],
    cfg: TrainConfig,
    *,
    criterion: str = "min_loss",
    ratio: float = 0.9,
    tail_frac: float = 0.1,
    refine: int = 0,
    steps: int | None = None,
    engine: str = "auto",
    chunk: int | str | None = None,
) -> tuple[pd.DataFrame, float]:
    """Grid search plus an optional refinement: ``refine`` extra rates spaced evenly (in log2)
    strictly between the best grid point's neighbours. Returns the table (one row per rate,
    ``stage`` grid/refine, ``chosen`` marks the pick) and the maximal rate. ``engine`` and
    ``chunk``: see :func:`batched_sweep`."""
    sweep = batched_sweep(model, train_data, lrs, cfg, steps=steps, engine=engine, chunk=chunk)
    table = summarise(sweep, tail_frac=tail_frac)
    table["stage"] = "grid"
    best = choose_max_lr(table, criterion, ratio=ratio)
    if refine > 0 and math.isfinite(best) and len(lrs) > 1:
        grid = sorted(lrs)
        i = grid.index(best)
        lo = math.log2(grid[max(i - 1, 0)])
        hi = math.log2(grid[min(i + 1, len(grid) - 1)])
        extra = [2.0**e for e in np.linspace(lo, hi, refine + 2)[1:-1] if not np.isclose(2.0**e, best)]
        if extra:
            more = summarise(
                batched_sweep(model, train_data, extra, cfg, steps=steps, engine=engine, chunk=chunk),
                tail_frac=tail_frac,
            )
            more["stage"] = "refine"
            table = pd.concat([table, more], ignore_index=True).sort_values("lr", ignore_index=True)
            best = choose_max_lr(table, criterion, ratio=ratio)
    table["chosen"] = np.isclose(table["lr"], best) if math.isfinite(best) else False
    return table, best
