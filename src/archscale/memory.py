"""How much memory one training copy of a network needs, and how much the device has free.

The grid search (``lr_search.chunk: auto``) splits its K rates into chunks that fit, and
``archscale plan`` reports each job's peak. The estimate is a formula on a probe, not a
measurement of the allocator (a CPU has none to ask):

    per copy = ACTIVATION_FACTOR x (bytes of every leaf module's output in one forward at the
               batch size) + PARAM_FACTOR x (bytes of the parameters)

The activations come from one forward of two zero samples with forward hooks on the leaf
modules, scaled linearly to the batch (activations are per sample). ACTIVATION_FACTOR 3:
autograd keeps the outputs (and often the inputs) of the layers for the backward, which holds
a gradient of the same size again. PARAM_FACTOR 4: weights, gradient, momentum and an update
temporary. The budget is a safety fraction of the free memory, because the allocator
fragments and the estimate ignores workspace (cuDNN) and the dataset already on the device.
"""

from __future__ import annotations

import copy
import os

import torch
from torch import nn

ACTIVATION_FACTOR = 3
PARAM_FACTOR = 4
#: Fraction of the free memory a grid may plan to use: CUDA's free memory is exact, a CPU's
#: "available" RAM is shared with every other process of the machine.
SAFETY = {"cuda": 0.7, "cpu": 0.5}


@torch.no_grad()
def copy_bytes(model: nn.Module, in_shape: tuple[int, ...], batch_size: int) -> int:
    """Estimated bytes one training copy of ``model`` needs at ``batch_size`` (see the module
    docstring). ``model`` is not modified (the probe runs on a copy: BatchNorm statistics)."""
    probe_model = copy.deepcopy(model).cpu().train()
    total = [0]

    def count(_module: nn.Module, _inputs: object, out: object) -> None:
        if isinstance(out, torch.Tensor):
            total[0] += out.numel() * out.element_size()

    leaves = [m for m in probe_model.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    try:
        probe_model(torch.zeros(2, *in_shape))
    finally:
        for h in hooks:
            h.remove()
    activations = total[0] * batch_size / 2
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    return int(ACTIVATION_FACTOR * activations + PARAM_FACTOR * params)


def free_bytes(device: torch.device) -> int:
    """Free memory of ``device``: CUDA's ``mem_get_info``, on CPU the available RAM."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:  # psutil is optional: the kernel's count of free pages
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def budget_bytes(device: torch.device) -> int:
    """What a job may plan to use on ``device``: :data:`SAFETY` x its free memory."""
    return int(SAFETY.get(device.type, SAFETY["cuda"]) * free_bytes(device))


def auto_chunk(model: nn.Module, in_shape: tuple[int, ...], batch_size: int, k: int, device: torch.device) -> int:
    """How many of ``k`` copies of ``model`` fit in ``device``'s budget at once (1..k)."""
    per_copy = max(1, copy_bytes(model, in_shape, batch_size))
    return max(1, min(k, budget_bytes(device) // per_copy))
