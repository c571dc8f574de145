"""K copies as one network of grouped layers (archscale.stacked): copy j of the stacked network
computes exactly what the original network computes with copy j's weights, for every family,
and models it does not know go to the vmap engine."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from archscale.data import TensorData, load_dataset
from archscale.graphs import NB201_EXAMPLE, base_arch
from archscale.lr_search import batched_sweep, pick_engine
from archscale.models import build_model
from archscale.mup_recipe import build_mup_nb201
from archscale.stacked import StackedNet, supports, unsupported
from archscale.train import TrainConfig

K = 3


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", split="train")


MODELS = {
    "mlp": dict(family="mlp", arch="2_12_112", width=8),
    "mlp-gelu-base": dict(family="mlp", arch=base_arch("mlp"), width=8, activation="gelu"),
    "cnn-k5": dict(family="cnn", arch="1_02_120", width=4, kernel_size=5),
    "nb201": dict(family="nb201", arch=NB201_EXAMPLE, width=4, cells_per_stage=1),
    "nb201-base-N2": dict(family="nb201", arch=base_arch("nb201"), width=4, cells_per_stage=2),
    "resmlp-b3d": dict(family="resmlp", arch="b3d", width=8),
    "rescnn-b3d": dict(family="rescnn", arch="b3d", width=4),
}


def build(spec: dict, data: TensorData, seed: int = 0) -> nn.Module:
    spec = dict(spec)
    return build_model(
        spec.pop("family"),
        spec.pop("arch"),
        num_classes=data.num_classes,
        in_shape=data.in_shape,
        seed=seed,
        **spec,
    )


def perturbed(net: StackedNet, seed: int = 0) -> None:
    """Give each copy its own weights, so a layout mix-up between copies cannot hide."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.params:
            p.add_(0.3 * p.std().nan_to_num(1.0).clamp_min(0.05) * torch.randn(p.shape, generator=g))


def copy_j(model: nn.Module, net: StackedNet, j: int) -> nn.Module:
    import copy

    one = copy.deepcopy(model).train()
    with torch.no_grad():
        for name, p in zip(net.names, net.params, strict=True):
            one.get_parameter(name).copy_(p[j])
    return one


def check_copies(model: nn.Module, x: torch.Tensor, *, rtol: float = 1e-4, atol: float = 1e-5) -> StackedNet:
    net = StackedNet(model, K, probe=x[:2])
    perturbed(net)
    out = net(x)
    assert out.shape == (len(x), K, net.n_out)
    for j in range(K):
        torch.testing.assert_close(out[:, j], copy_j(model, net, j)(x), rtol=rtol, atol=atol, msg=f"copy {j}")
    # gradients: copy j's gradient is the original's gradient at copy j's weights
    out.logsumexp(-1).sum().backward()
    for j in (0, K - 1):
        one = copy_j(model, net, j)
        one(x).logsumexp(-1).sum().backward()
        for name, p in zip(net.names, net.params, strict=True):
            ref = one.get_parameter(name).grad
            if p.grad is None or ref is None:  # a layer whose output feeds nothing: no gradient either way
                assert p.grad is None and ref is None, name
                continue
            torch.testing.assert_close(p.grad[j], ref, rtol=1e-3, atol=1e-5, msg=name)
    return net


@pytest.mark.parametrize("spec", MODELS.values(), ids=MODELS.keys())
def test_each_copy_is_the_original_network_with_its_own_weights(digits, spec):
    model = build(spec, digits)
    assert supports(model) and unsupported(model) is None
    before = {k: v.clone() for k, v in model.state_dict().items()}
    net = check_copies(model, digits.x[:16])
    for k, v in model.state_dict().items():  # BatchNorm statistics and weights untouched
        assert torch.equal(v, before[k]), k
    n_trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert sum(p[0].numel() for p in net.params) <= n_trained
    assert net.channels_last == (spec["family"] not in ("mlp", "resmlp"))


def test_a_custom_sequential_with_a_grouped_first_conv_and_a_frozen_layer():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, groups=2),  # grouped conv on the shared input
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Conv2d(4, 6, 1, bias=False),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(6 * 3 * 3, 5),
    )
    model[3].weight.requires_grad_(False)
    net = check_copies(model, torch.randn(8, 2, 6, 6))
    assert "3.weight" not in net.names and "0.weight" in net.names


def test_layers_that_never_run_get_no_parameters(digits):
    model = build(dict(family="mlp", arch="0_02_100", width=8), digits)  # edge 1->2 from unreached node 1
    assert "1_2" in model.body.edges
    net = StackedNet(model, K, probe=digits.x[:2])
    assert net.names == ["stem.1.weight", "stem.1.bias", "readout.weight", "readout.bias"]


def test_unknown_modules_are_refused_by_name_and_go_to_vmap(digits):
    mup = build_mup_nb201(NB201_EXAMPLE, C=4, N=1, num_classes=10, in_channels=1, seed=0)
    assert "MuReadout" in unsupported(mup)
    assert pick_engine(mup) == "vmap"
    odd = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.LayerNorm(16), nn.Linear(16, 10))
    assert unsupported(odd) == "2: LayerNorm is not a known per-channel module"
    assert "Flatten(2, -1)" in unsupported(nn.Sequential(nn.Flatten(2), nn.Linear(8, 10)))
    assert pick_engine(odd, "auto") == "vmap" and pick_engine(odd, "vmap") == "vmap"
    with pytest.raises(ValueError, match="engine 'grouped' cannot run this model .*LayerNorm.*use engine 'vmap'"):
        pick_engine(odd, "grouped")
    with pytest.raises(ValueError, match="cannot stack this model: 2: LayerNorm"):
        StackedNet(odd, K, probe=digits.x[:2])
    with pytest.raises(ValueError, match="unknown grid-search engine 'fast'; choose one of auto, grouped, vmap"):
        batched_sweep(odd, digits, [0.1], TrainConfig(), engine="fast")
    # auto runs such a model through vmap, and it trains
    sweep = batched_sweep(odd, digits, [0.01, 0.1], TrainConfig(batch_size=32), steps=5)
    assert sweep["losses"].shape == (5, 2)
    assert (sweep["losses"][-1] < sweep["losses"][0]).all()
