"""The paper's DAG of any PyTorch module, traced with ``torch.fx``: path depths and in-degrees.

Why: eq. 4 needs each layer's in-degrees and eq. 8/9 the depth L_p of every input->output path.
The project's parsers read them off a DAG code; for anyone else's network (a ResNet) they are
read off the module's own computation graph here, so the rate and the init take one call.

The reduction (docs/your_model.md):

- parameterised layers (``nn.Linear``, ``nn.Conv1d/2d/3d`` and subclasses) are layer edges;
- normalisation, activations, pooling, dropout, padding, reshapes and flatten are not layers: a
  value passes through them unchanged in the DAG;
- an addition (``+``, ``+=``, ``torch.add``, ``Tensor.add``; subtraction likewise) of two or more
  activations is a node that sums its inputs; a chain of additions whose partial sums are used
  nowhere else is one node (``a + b + c`` has in-degree 3);
- what feeds an addition without a layer (an identity shortcut) is a skip edge, depth 0; a
  shortcut with a layer (a 1x1 downsample conv) is a layer edge, depth 1.

A node's in-degree is the number of its non-zero inputs; the input has in-degree 1, and so has
a layer's output that feeds the next layer alone. A layer's source in-degree is that of the node
feeding it, its target in-degree that of the node its output is summed into (1 if none). Path
depth L_p counts every parameterised layer on the path, stem and readout included; depths are
counted per node by dynamic programming, so 2^40 paths cost nothing.

Anything outside this DAG (concatenation, attention, products of two activations,
data-dependent control flow, an op the rules do not know) raises :class:`TraceRefused`.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import fx, nn

#: Module types that are layer edges (subclasses included).
LAYER_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
#: ``torch.nn`` files whose modules act without mixing activations: not layers, not nodes.
_PASS_MODULE_FILES = frozenset(
    f"torch.nn.modules.{m}"
    for m in ("activation", "pooling", "dropout", "normalization", "batchnorm", "instancenorm", "flatten", "padding")
)
#: Modules that are attention, whatever file they live in.
_ATTENTION_MODULES = (nn.MultiheadAttention, nn.Transformer, nn.TransformerEncoderLayer, nn.TransformerDecoderLayer,
                      nn.TransformerEncoder, nn.TransformerDecoder)  # fmt: skip

_ADD = frozenset({"add", "add_", "iadd", "sub", "sub_", "isub"})
_MUL = frozenset({"mul", "mul_", "imul", "div", "div_", "truediv", "itruediv", "true_divide"})
_MATMUL = frozenset({"matmul", "imatmul", "mm", "bmm", "baddbmm", "addmm", "einsum", "linear", "bilinear",
                     "conv1d", "conv2d", "conv3d"})  # fmt: skip
_ATTENTION = frozenset({"scaled_dot_product_attention", "multi_head_attention_forward"})
_CONCAT = frozenset(
    {"cat", "concat", "concatenate", "stack", "hstack", "vstack", "dstack", "column_stack", "row_stack"}
)
#: Ops whose result does not carry the input's signal (shapes, fresh tensors shaped like it).
_NO_SIGNAL = frozenset({"size", "dim", "numel", "zeros_like", "ones_like", "empty_like", "full_like", "rand_like",
                        "randn_like", "new_zeros", "new_ones", "new_empty", "new_full", "_assert_is_none"})  # fmt: skip
_META_ATTRS = frozenset({"shape", "dtype", "device", "ndim", "is_cuda", "requires_grad", "layout"})
#: Ops that act on one activation without mixing it with another (functional and method forms).
_PASS = frozenset({
    "relu", "relu_", "relu6", "gelu", "silu", "mish", "sigmoid", "tanh", "hardtanh", "hardswish", "hardsigmoid",
    "leaky_relu", "elu", "selu", "celu", "softplus", "softsign", "softmax", "log_softmax",
    "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout", "stochastic_depth",
    "flatten", "reshape", "view", "permute", "transpose", "contiguous", "squeeze", "unsqueeze", "clone", "float",
    "to", "type_as", "neg", "mean", "pad",
    "avg_pool1d", "avg_pool2d", "avg_pool3d", "max_pool1d", "max_pool2d", "max_pool3d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
    "batch_norm", "layer_norm", "group_norm", "instance_norm", "rms_norm", "getitem",
})  # fmt: skip

_FIX = "tag its layers by hand with archscale.init.tag_edge_/tag_readout_ and pass path depths as a list"


class TraceRefused(ValueError):
    """The module's computation is not the paper's DAG (or cannot be traced); one line."""


@dataclass(frozen=True)
class TracedLayer:
    """One call of a parameterised layer: its DAG in-degrees and whether it lies on a path."""

    name: str
    type: str
    source_degree: int
    target_degree: int
    on_path: bool


@dataclass(frozen=True)
class TracedGraph:
    """A module reduced to the paper's DAG.

    ``depth_counts`` maps each distinct path depth L (parameterised layers on the path) to the
    number of input->output paths of that depth, ascending. ``layers`` lists every layer call
    in execution order; ``readout`` is the layer that alone produces the output (None when the
    output is a sum or a skip, e.g. one NAS-Bench-201 cell).
    """

    depth_counts: dict[int, int]
    layers: tuple[TracedLayer, ...]
    readout: str | None
    n_nodes: int

    @property
    def n_paths(self) -> int:
        return sum(self.depth_counts.values())

    def depth_sum(self, offset: int = 0) -> int:
        """sum_p (L_p + offset)^3, eq. 8's architecture term."""
        return sum(n * (d + offset) ** 3 for d, n in self.depth_counts.items())

    def depths(self, offset: int = 0, limit: int = 1_000_000) -> list[int]:
        """Every path's depth (+ ``offset``), ascending; refuses more than ``limit`` paths."""
        if self.n_paths > limit:
            raise ValueError(f"{self.n_paths} paths are too many to list; use depth_counts or depth_sum()")
        return [d + offset for d, n in self.depth_counts.items() for _ in range(n)]

    def degrees(self) -> dict[str, tuple[int, int]]:
        """(source, target) in-degree by layer name; a layer called twice must agree with itself."""
        out: dict[str, tuple[int, int]] = {}
        for layer in self.layers:
            deg = (layer.source_degree, layer.target_degree)
            if out.setdefault(layer.name, deg) != deg:
                raise TraceRefused(
                    f"layer '{layer.name}' is applied more than once with different in-degrees {out[layer.name]} "
                    f"and {deg}; {_FIX}"
                )
        return out


# ---------------------------------------------------------------------------------------------
# tracing
# ---------------------------------------------------------------------------------------------


class _Tracer(fx.Tracer):
    """fx's tracer with every Linear/Conv (subclasses too) a leaf, remembering where a trace
    failed so the refusal can name the module."""

    def __init__(self) -> None:
        super().__init__()
        self.failed_in: str | None = None

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, LAYER_TYPES) or super().is_leaf_module(m, qualname)

    def call_module(self, m, forward, args, kwargs):
        try:
            return super().call_module(m, forward, args, kwargs)
        except Exception:
            if self.failed_in is None:
                with contextlib.suppress(NameError):
                    self.failed_in = self.path_of_module(m) or "<top>"
            raise


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _concrete_args(model: nn.Module) -> dict:
    """Forward arguments after the input, fixed to their defaults (``mask=None`` and the like)."""
    params = list(inspect.signature(model.forward).parameters.values())[1:]
    out = {}
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is p.empty:
            raise TraceRefused(
                f"{type(model).__name__}.forward takes more than one input ({p.name!r}); trace a module whose "
                f"forward takes one tensor, or {_FIX}"
            )
        out[p.name] = p.default
    return out


def _fx_graph(model: nn.Module) -> fx.Graph:
    tracer = _Tracer()
    try:
        return tracer.trace(model, concrete_args=_concrete_args(model) or None)
    except TraceRefused:
        raise
    except Exception as err:  # fx raises TraceError, TypeError, ... from inside the user's forward
        where = f" in module '{tracer.failed_in}'" if tracer.failed_in else ""
        raise TraceRefused(
            f"cannot trace {type(model).__name__}{where} with torch.fx ({_first_line(err)}): data-dependent "
            f"control flow or a Python operation on a tensor; {_FIX}"
        ) from None


class _Value:
    """A traced activation as the DAG sees it: the sum of ``contribs``, each (source node,
    layer call or None for a skip). ``node`` caches the DAG node once it is materialised."""

    __slots__ = ("contribs", "node")

    def __init__(self, contribs: tuple[tuple[int, int | None], ...], node: int | None = None):
        self.contribs = contribs
        self.node = node

    @classmethod
    def at(cls, node: int) -> _Value:
        return cls(((node, None),), node)


def _op_name(n: fx.Node) -> str:
    return n.target if isinstance(n.target, str) else getattr(n.target, "__name__", str(n.target))


def _where(n: fx.Node) -> str:
    stack = n.meta.get("nn_module_stack") or {}
    if not stack:
        return "in the top-level forward"
    path, cls = list(stack.values())[-1]
    return f"in module '{path}' ({getattr(cls, '__name__', cls)})"


class _Reducer:
    """Walks an fx graph once, building the DAG: nodes (input = 0) with their incoming edges."""

    def __init__(self, graph: fx.Graph, model: nn.Module):
        self.modules = dict(model.named_modules())
        self.preds: list[list[tuple[int, int | None]]] = [[]]
        self.calls: list[dict] = []
        self.values: dict[fx.Node, _Value | None] = {}
        self.uses: Counter[fx.Node] = Counter()
        for n in graph.nodes:
            self.uses.update(self.inputs(n))
        self.output: _Value | None = None
        seen_input = False
        for n in graph.nodes:
            if n.op == "placeholder":
                self.values[n] = None if seen_input else _Value.at(0)
                seen_input = True
            elif n.op == "get_attr":
                self.values[n] = None
            elif n.op == "output":
                self.output = self.result(n)
            else:
                self.values[n] = self.visit(n)

    @staticmethod
    def inputs(n: fx.Node) -> list[fx.Node]:
        out: list[fx.Node] = []
        fx.node.map_arg((n.args, n.kwargs), out.append)
        return out

    def signal(self, n: fx.Node) -> list[fx.Node]:
        """Input nodes of ``n`` that carry the model input's signal, one per occurrence."""
        return [a for a in self.inputs(n) if self.values.get(a) is not None]

    def materialise(self, v: _Value) -> int:
        if v.node is None:
            self.preds.append(list(v.contribs))
            v.node = len(self.preds) - 1
            for _, call in v.contribs:
                if call is not None:
                    self.calls[call]["target"] = v.node
                    self.calls[call]["target_degree"] = len(v.contribs)
        return v.node

    def take(self, a: fx.Node) -> _Value | None:
        """``a``'s value for a consumer that passes it on; a value used twice becomes a node."""
        v = self.values[a]
        if v is not None and self.uses[a] > 1:
            return _Value.at(self.materialise(v))
        return v

    def refuse(self, what: str, n: fx.Node) -> TraceRefused:
        return TraceRefused(f"{what} {_where(n)} is outside the paper's DAG of sums of layer paths; {_FIX}")

    def visit(self, n: fx.Node) -> _Value | None:
        if n.op == "call_module":
            return self.visit_module(n)
        name = _op_name(n)
        sig = self.signal(n)
        if name in _NO_SIGNAL or (name == "getattr" and n.args[1] in _META_ATTRS) or not sig:
            return None
        if name in _ADD:
            return self.add(sig) if len(sig) > 1 else self.take(sig[0])
        if name in _ATTENTION:
            raise self.refuse(f"attention ({name})", n)
        if name in _MATMUL:
            if len(sig) > 1:
                raise self.refuse(f"a product of two activations ({name}, as in attention)", n)
            raise self.refuse(f"a functional layer ({name} with a weight outside nn.Linear/nn.Conv)", n)
        if name in _CONCAT:
            if len(sig) > 1:
                raise self.refuse(f"concatenation ({name})", n)
            return self.take(sig[0])
        if name in _MUL:
            if len(sig) > 1:
                raise self.refuse(f"a product of two activations ({name})", n)
            return self.take(sig[0])
        if name in _PASS or (name == "getattr" and n.args[1] in ("T", "mT")):
            if len(sig) > 1:
                raise self.refuse(f"{name} of two activations", n)
            return self.take(sig[0])
        raise self.refuse(f"the operation {name!r}", n)

    def visit_module(self, n: fx.Node) -> _Value | None:
        m = self.modules[n.target]
        sig = self.signal(n)
        where = f"module '{n.target}' ({type(m).__name__})"
        if isinstance(m, _ATTENTION_MODULES):
            raise TraceRefused(f"attention in {where} is outside the paper's DAG of sums of layer paths; {_FIX}")
        if isinstance(m, LAYER_TYPES):
            src = self.materialise(self.values[sig[0]]) if sig else None  # None: fed a constant
            self.calls.append({"name": n.target, "type": type(m).__name__, "source": src, "target": None,
                               "target_degree": 1})  # fmt: skip
            return None if src is None else _Value(((src, len(self.calls) - 1),))
        if isinstance(m, nn.Identity) or type(m).__module__ in _PASS_MODULE_FILES:
            if len(sig) > 1:
                raise TraceRefused(f"{where} takes two activations; {_FIX}")
            return self.take(sig[0]) if sig else None
        raise TraceRefused(f"{where} is neither a layer (Linear/Conv) nor a known per-feature op; {_FIX}")

    def add(self, sig: list[fx.Node]) -> _Value:
        contribs: list[tuple[int, int | None]] = []
        for a in sig:
            v = self.values[a]
            if self.uses[a] > 1 or v.node is not None:
                contribs.append((self.materialise(v), None))
            else:
                contribs.extend(v.contribs)
        for _, call in contribs:
            if call is not None:
                self.calls[call]["target_degree"] = len(contribs)
        return _Value(tuple(contribs))

    def result(self, n: fx.Node) -> _Value | None:
        out = n.args[0]
        if not isinstance(out, fx.Node):
            raise TraceRefused(
                f"the module returns {type(out).__name__}, not one tensor; trace the submodule that returns the "
                f"logits (region=...), or {_FIX}"
            )
        return self.values[out]

    def graph(self) -> TracedGraph:
        out, readout = None, None
        if self.output is not None:
            out = self.materialise(self.output)
            if len(self.preds[out]) == 1 and self.preds[out][0][1] is not None:
                readout = self.calls[self.preds[out][0][1]]["name"]
        degree = [1] + [len(p) for p in self.preds[1:]]
        counts: list[Counter[int]] = [Counter({0: 1})]
        for preds in self.preds[1:]:
            c: Counter[int] = Counter()
            for src, call in preds:
                step = 0 if call is None else 1
                for d, k in counts[src].items():
                    c[d + step] += k
            counts.append(c)
        reach = set() if out is None else {out}
        for t in range(len(self.preds) - 1, -1, -1):
            if t in reach:
                reach.update(s for s, _ in self.preds[t])
        layers = tuple(
            TracedLayer(
                name=c["name"],
                type=c["type"],
                source_degree=1 if c["source"] is None else degree[c["source"]],
                target_degree=c["target_degree"],
                on_path=c["target"] in reach,
            )
            for c in self.calls
        )
        depth_counts = {} if out is None else dict(sorted(counts[out].items()))
        return TracedGraph(depth_counts=depth_counts, layers=layers, readout=readout, n_nodes=len(self.preds))


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode for the trace (the inference graph: batch-1 BatchNorm works), then every
    submodule's own mode back."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, mode in modes:
            m.training = mode


def _region_input(model: nn.Module, example_input: torch.Tensor, region: str | None) -> tuple[nn.Module, torch.Tensor]:
    """The module to trace and its input: ``model`` itself, or its submodule ``region`` fed by
    one forward pass of ``example_input`` (which also checks the input fits)."""
    target = model
    if region:
        try:
            target = model.get_submodule(region)
        except AttributeError:
            names = [n for n, _ in model.named_children()]
            raise ValueError(f"{type(model).__name__} has no submodule {region!r}; its children: {names}") from None
    captured: list[torch.Tensor] = []
    hook = target.register_forward_pre_hook(lambda _m, args: captured.append(args[0]) if not captured else None)
    try:
        with torch.no_grad():
            model(example_input)
    except Exception as err:
        shape = tuple(getattr(example_input, "shape", ()))
        raise ValueError(
            f"the example input of shape {shape} does not fit {type(model).__name__} ({_first_line(err)}); "
            "pass an input the model accepts (CLI: --input-shape 1,3,32,32)"
        ) from None
    finally:
        hook.remove()
    if not captured:
        raise ValueError(f"submodule {region!r} is not called in {type(model).__name__}'s forward; pick one that is")
    return target, captured[0]


def graph_of(model: nn.Module, example_input: torch.Tensor, *, region: str | None = None) -> TracedGraph:
    """Trace ``model`` (or its submodule ``region``, e.g. ``"cells.0"`` of a NAS-Bench-201
    network) into the paper's DAG: path depth counts, per-layer in-degrees, readout.

    ``example_input`` is one input the model accepts (batch 1 is enough); it is run once, in eval
    mode without gradients, to check it fits and to find ``region``'s input. Raises
    :class:`TraceRefused` for what the DAG does not cover.
    """
    with _eval_mode(model):
        target, _ = _region_input(model, example_input, region)
        graph = _fx_graph(target)
    return _Reducer(graph, target).graph()


def tag_from_trace_(model: nn.Module, example_input: torch.Tensor) -> TracedGraph:
    """Tag ``model``'s layers for :mod:`archscale.init` from its trace: the readout with
    ``tag_readout_``, every other traced layer with ``tag_edge_`` and its traced in-degrees
    (replacing hand tags). Layers the forward never calls keep theirs. Returns the trace."""
    from archscale.init import tag_edge_, tag_readout_

    traced = graph_of(model, example_input)
    for name, (source, target) in traced.degrees().items():
        layer = model.get_submodule(name)
        if name == traced.readout:
            tag_readout_(layer)
        else:
            tag_edge_(layer, source_degree=source, target_degree=target)
    return traced


# ---------------------------------------------------------------------------------------------
# eq. 8/9 for traced modules
# ---------------------------------------------------------------------------------------------


def _base_sum(base, example_input: torch.Tensor, region: str | None, depth_offset: int) -> int:
    if isinstance(base, nn.Module):
        return _depth_sum(graph_of(base, example_input, region=region), depth_offset, "base model")
    if base is None or isinstance(base, str | bytes) or not isinstance(base, Sequence) or not base:
        raise ValueError(
            "a traced model needs base=: the model whose maximal rate base_lr is (same example input), "
            "or its path depths as a list, e.g. base=[2] for stem -> readout"
        )
    if any(not isinstance(d, int) or d < 1 for d in base):
        raise ValueError(f"base path depths must be positive integers, got {list(base)}")
    return sum(d**3 for d in base)


def _depth_sum(graph: TracedGraph, depth_offset: int, what: str) -> int:
    from archscale.scaling import UntrainableArchitecture

    if not graph.depth_counts:
        raise UntrainableArchitecture(f"the {what} has no input->output path: its output does not depend on its input")
    if min(graph.depth_counts) + depth_offset < 1:
        raise ValueError(
            f"the {what} has a path with no parameterised layer (depth {min(graph.depth_counts)}); eq. 8 needs "
            "L_p >= 1: raise depth_offset"
        )
    return graph.depth_sum(depth_offset)


def lr_factor_of(
    model: nn.Module,
    example_input: torch.Tensor,
    *,
    base,
    kernel_size: int | None = None,
    base_kernel_size: int = 3,
    depth_offset: int = 0,
    region: str | None = None,
) -> float:
    """eta_target / eta_base (eq. 8, eq. 9 with ``kernel_size``) for a traced module.

    ``base`` is the base network (a module, traced with the same ``example_input`` and
    ``region``) or its path depths (a list, taken as given). ``depth_offset`` is added to every
    traced depth: 0 counts the layers (default); 1 reproduces the release's MLP/CNN counting on
    :func:`archscale.models.build_model` networks and its NAS-Bench-201 counting on one cell.
    """
    if depth_offset < 0:
        raise ValueError(f"depth_offset must be >= 0, got {depth_offset}")
    target = _depth_sum(graph_of(model, example_input, region=region), depth_offset, "model")
    factor = math.sqrt(_base_sum(base, example_input, region, depth_offset) / target)
    if kernel_size is not None:
        if kernel_size <= 0 or base_kernel_size <= 0:
            raise ValueError(f"kernel sizes must be positive, got {kernel_size} and {base_kernel_size}")
        factor *= base_kernel_size / kernel_size
    return factor


# ---------------------------------------------------------------------------------------------
# models by name (the CLI's --model)
# ---------------------------------------------------------------------------------------------

#: Default example input per model source (None: the user must give one).
DEFAULT_INPUT_SHAPES: dict[str, tuple[int, ...] | None] = {"torchvision": (1, 3, 224, 224), "module": None}


def model_from_spec(spec: str) -> tuple[nn.Module, tuple[int, ...] | None]:
    """``torchvision:NAME`` (``torchvision.models.NAME(weights=None)``) or
    ``module:pkg.mod:factory`` (calls the factory with no arguments) -> (model, default input
    shape or None)."""
    source, _, rest = spec.partition(":")
    if source == "torchvision" and rest:
        import torchvision

        if rest not in torchvision.models.list_models():
            raise ValueError(f"torchvision has no model {rest!r}; e.g. torchvision:resnet18 (see torchvision.models)")
        return torchvision.models.get_model(rest, weights=None), DEFAULT_INPUT_SHAPES["torchvision"]
    if source == "module" and rest.count(":") == 1:
        mod_name, factory_name = rest.split(":")
        try:
            factory = getattr(importlib.import_module(mod_name), factory_name)
        except (ImportError, AttributeError) as err:
            raise ValueError(f"cannot load {spec!r}: {_first_line(err)}; is {mod_name} on PYTHONPATH?") from None
        try:
            model = factory()
        except Exception as err:  # the user's factory: one line, not its traceback
            raise ValueError(f"{spec!r} failed: {_first_line(err)}; it must build a model with no arguments") from None
        if not isinstance(model, nn.Module):
            raise ValueError(f"{spec!r} returned {type(model).__name__}, not a torch.nn.Module")
        return model, DEFAULT_INPUT_SHAPES["module"]
    raise ValueError(f"model {spec!r} is not 'torchvision:NAME' or 'module:pkg.mod:factory'; e.g. torchvision:resnet18")


def parse_shape(text: str | None, default: tuple[int, ...] | None, spec: str) -> tuple[int, ...]:
    """An input shape from ``1,3,32,32`` text, else the source's default."""
    if text is None:
        if default is None:
            raise ValueError(f"{spec} has no default input shape; give one, e.g. --input-shape 1,3,32,32")
        return default
    try:
        shape = tuple(int(s) for s in text.split(","))
    except ValueError:
        shape = ()
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"input shape {text!r} is not positive integers separated by commas, e.g. 1,3,32,32")
    return shape
