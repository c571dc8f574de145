"""K copies of one network as one network of grouped layers (the grid search's fast path).

``torch.func.vmap`` runs any module K-fold but pays for it in Python dispatch on every op and,
on CPU, in split BatchNorm affines and layout copies. The networks of this project are built
from a handful of layers that all act per channel, so K copies fit side by side in the channel
dimension instead: an activation ``[B, K*C, ...]`` holds copy k in channels ``k*C..(k+1)*C``.
Then

- ``Linear`` is one batched matmul (``baddbmm``) over ``[K, B, C]`` views,
- ``Conv2d`` is one convolution with ``groups=K`` (K*C channels),
- ``BatchNorm`` is one ``batch_norm`` over K*C channels (batch statistics, as in training),
- ReLU/GELU/pooling/flatten/skip sums need nothing: they are per channel already.

A layer fed the un-copied input (C channels rather than K*C: the first layer) runs once with
all K copies' weights stacked along its output channels (no K-fold copy of the batch).

Each parameter of the K copies is one ``[K, *shape]`` leaf tensor that its layer reads
directly, so one backward gives all K gradients and SGD updates each tensor in place with a
per-copy rate.

Only module types whose forward is known to act per channel are accepted
(:func:`supports`); anything else (a custom layer, LayerNorm, muP's ``MuReadout``) goes
through the vmap path in :mod:`archscale.lr_search`.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

from archscale.models.cnn import DagCNN
from archscale.models.dag import DagBody
from archscale.models.mlp import DagMLP
from archscale.models.nb201 import InferCell, ReLUConvBN, ResNetBasicblock, TinyNetwork
from archscale.models.resnet import ResidualBlock, ResidualNet

#: Containers whose forward code only composes its children, sums, channel-major flattens and
#: spatial means.
_CONTAINERS = (
    nn.Sequential,
    nn.ModuleList,
    nn.ModuleDict,
    DagMLP,
    DagCNN,
    DagBody,
    TinyNetwork,
    InferCell,
    ResNetBasicblock,
    ReLUConvBN,
    ResidualNet,
    ResidualBlock,
)
#: Parameter-free leaves that act per channel (or elementwise).
_PER_CHANNEL = (nn.ReLU, nn.GELU, nn.Identity, nn.AvgPool2d, nn.AdaptiveAvgPool2d)


def unsupported(model: nn.Module) -> str | None:
    """Why ``model`` cannot be stacked (the first offending submodule), or None if it can."""
    for name, m in model.named_modules():
        kind = type(m)
        where = name or "the model"
        if kind in _CONTAINERS or kind in _PER_CHANNEL or kind in (nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d):
            continue
        if kind is nn.Conv2d:
            if m.padding_mode != "zeros" or isinstance(m.padding, str):
                return f"{where}: Conv2d with padding {m.padding!r}/{m.padding_mode!r}"
            continue
        if kind is nn.Flatten:
            if m.start_dim != 1 or m.end_dim != -1:
                return f"{where}: Flatten({m.start_dim}, {m.end_dim}) mixes copies"
            continue
        return f"{where}: {kind.__name__} is not a known per-channel module"
    return None


def supports(model: nn.Module) -> bool:
    return unsupported(model) is None


class _Stacked(nn.Module):
    """A layer of K copies whose tensors are ``[K, *shape]`` views bound by :class:`StackedNet`."""

    k: int
    weight: torch.Tensor | None
    bias: torch.Tensor | None

    def __init__(self, k: int):
        super().__init__()
        self.k = k
        self.weight = self.bias = None


class StackedLinear(_Stacked):
    def __init__(self, src: nn.Linear, k: int):
        super().__init__(k)
        self.in_features, self.out_features = src.in_features, src.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, n_in, n_out = self.k, self.in_features, self.out_features
        w, b = self.weight, self.bias
        if x.shape[-1] == n_in:  # shared input: one matmul, the copies stacked as outputs
            out = F.linear(x, w.reshape(k * n_out, n_in))
        elif x.shape[-1] == k * n_in:
            lead = x.shape[:-1]
            xk = x.reshape(-1, k, n_in).transpose(0, 1)  # [K, M, in]
            out = torch.bmm(xk, w.transpose(1, 2)).transpose(0, 1).reshape(*lead, k * n_out)
        else:
            raise ValueError(f"stacked Linear expects {n_in} or {k}x{n_in} features, got {x.shape[-1]}")
        return out if b is None else _CopyBias.apply(out, b)


class _CopyBias(torch.autograd.Function):
    """``out [..., K*n] + bias [K, n]``, whose bias gradient is each copy's own sum over a
    contiguous block: autograd's sum over the leading dims of ``[M, K*n]`` is vectorised across
    the K*n columns, so its rounding depends on K, and a chunk of the copies (a grid split to
    fit the device) would not reproduce the whole grid's numbers bit for bit."""

    @staticmethod
    def forward(ctx, out: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        ctx.k, ctx.n = bias.shape
        return out + bias.reshape(-1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g = grad.reshape(-1, ctx.k, ctx.n).transpose(0, 1).contiguous()  # [K, M, n]
        return grad, g.sum(1)


class StackedConv2d(_Stacked):
    def __init__(self, src: nn.Conv2d, k: int):
        super().__init__(k)
        self.in_channels, self.out_channels, self.groups = src.in_channels, src.out_channels, src.groups
        self.stride, self.padding, self.dilation = src.stride, src.padding, src.dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, c_in = self.k, self.in_channels
        if x.shape[1] == c_in and self.groups > 1:  # shared input of a grouped conv: give each copy its own
            x = x.repeat(1, k, *[1] * (x.dim() - 2))
        if x.shape[1] == c_in:  # shared input: one conv, the copies stacked as output channels
            groups = self.groups
        elif x.shape[1] == k * c_in:
            groups = k * self.groups
        else:
            raise ValueError(f"stacked Conv2d expects {c_in} or {k}x{c_in} channels, got {x.shape[1]}")
        w = self.weight.reshape(k * self.out_channels, *self.weight.shape[2:])
        b = None if self.bias is None else self.bias.reshape(-1)
        return F.conv2d(x, w, b, self.stride, self.padding, self.dilation, groups)


class StackedBatchNorm(_Stacked):
    """Batch statistics always (the grid search only trains), per channel of each copy."""

    def __init__(self, src: nn.modules.batchnorm._BatchNorm, k: int):
        super().__init__(k)
        self.num_features, self.eps = src.num_features, src.eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == self.num_features and self.k > 1:
            x = x.repeat(1, self.k, *[1] * (x.dim() - 2))
        elif x.shape[1] != self.k * self.num_features:
            raise ValueError(f"stacked BatchNorm expects {self.k}x{self.num_features} channels, got {x.shape[1]}")
        w = None if self.weight is None else self.weight.reshape(-1)
        b = None if self.bias is None else self.bias.reshape(-1)
        return F.batch_norm(x, None, None, w, b, training=True, momentum=0.0, eps=self.eps)


_STACKED: dict[type[nn.Module], type[_Stacked]] = {
    nn.Linear: StackedLinear,
    nn.Conv2d: StackedConv2d,
    nn.BatchNorm1d: StackedBatchNorm,
    nn.BatchNorm2d: StackedBatchNorm,
}


class StackedNet:
    """K copies of ``model`` (not modified) with identical starting weights.

    ``params`` are the copies' trainable tensors, each ``[K, *shape]`` and a leaf that requires
    grad (the layers hold them directly: an in-place update is all a step needs), ``names``
    their names in ``model``; only layers that the forward calls have them, and frozen
    parameters (``requires_grad=False``) are held but not listed. ``forward(x)`` returns
    ``[B, K, classes]`` logits.
    """

    def __init__(self, model: nn.Module, k: int, probe: torch.Tensor):
        why = unsupported(model)
        if why is not None:
            raise ValueError(f"cannot stack this model: {why}")
        self.k = k
        self.net = copy.deepcopy(model).to(probe.device)
        reached, self.n_out = _modules_reached(self.net, probe)
        self.params: list[torch.Tensor] = []
        self.names: list[str] = []  # ``model``'s name of each of ``params``
        self.channels_last = False
        for name, m in list(self.net.named_modules()):
            kind = _STACKED.get(type(m))
            if kind is None:
                continue
            layer = kind(m, k)
            _replace(self.net, name, layer)
            if name not in reached:  # its input node is unreachable: it never runs, so it is never trained
                continue
            # grouped convolutions are fast in channels_last (on CPU, NCHW grouped convs ran 1.6-2x slower)
            self.channels_last |= isinstance(layer, StackedConv2d)
            for attr in ("weight", "bias"):
                p = getattr(m, attr, None)
                if isinstance(p, torch.Tensor):
                    stacked = p.detach().to(probe.device).unsqueeze(0).repeat(k, *[1] * p.dim())
                    object.__setattr__(layer, attr, stacked)
                    if p.requires_grad:
                        self.params.append(stacked.requires_grad_())
                        self.names.append(f"{name}.{attr}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        out = self.net(x)
        if out.dim() != 2 or out.shape[1] != self.k * self.n_out:
            raise ValueError(f"stacked network returned {tuple(out.shape)}, expected [batch, {self.k}x{self.n_out}]")
        return out.view(out.shape[0], self.k, self.n_out)

    __call__ = forward


def _replace(root: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, new)


@torch.no_grad()
def _modules_reached(model: nn.Module, probe: torch.Tensor) -> tuple[set[str], int]:
    """Names of the parameterised layers one forward of ``probe`` calls (a cell's edge out of an
    unreachable node is never called, so it needs no trainable copies), and the number of
    outputs. Updates ``model``'s BatchNorm running statistics: pass a copy."""
    names = {m: n for n, m in model.named_modules() if type(m) in _STACKED}
    seen: set[str] = set()
    hooks = [m.register_forward_pre_hook(lambda mod, _: seen.add(names[mod])) for m in names]
    try:
        out = model.train()(probe)
    finally:
        for h in hooks:
            h.remove()
    if out.dim() != 2:
        raise ValueError(f"cannot stack a model whose output is not [batch, classes]: got {tuple(out.shape)}")
    return seen, out.shape[1]
