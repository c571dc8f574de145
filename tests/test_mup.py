"""The μP baseline through microsoft's mup: MuReadout in place, base shapes on every parameter,
MuSGD's μP rates, a coordinate check against the standard parametrisation, and the μP recipe
reducing exactly to the standard one at the base width."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

mup = pytest.importorskip("mup")

from archscale.data import load_dataset  # noqa: E402
from archscale.graphs import NB201_EXAMPLE  # noqa: E402
from archscale.models import build_model  # noqa: E402
from archscale.mup_recipe import (  # noqa: E402
    BASE_C,
    build_mup_nb201,
    mup_optimizer,
    train_mup_cell,
)
from archscale.recipes import train_cell  # noqa: E402
from archscale.train import TrainConfig, train  # noqa: E402

SETTINGS = {
    "epochs": 1,
    "batch_size": 64,
    "lr": 0.1,
    "momentum": 0.9,
    "nesterov": True,
    "weight_decay": 5e-4,
    "augment": False,
    "checkpoint_every": 0,
}


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", split="train"), load_dataset("digits", split="test")


def mup_net(C: int, base_C: int = BASE_C, seed: int = 0, **kw) -> nn.Module:
    return build_mup_nb201(NB201_EXAMPLE, C=C, N=1, num_classes=10, in_channels=1, base_C=base_C, seed=seed, **kw)


def sp_net(C: int, seed: int = 0) -> nn.Module:
    return build_model(
        "nb201",
        NB201_EXAMPLE,
        width=C,
        cells_per_stage=1,
        num_classes=10,
        in_shape=(1, 8, 8),
        init="kaiming",
        seed=seed,
    )


def test_mureadout_in_place_and_base_shapes_on_every_parameter():
    net = mup_net(C=8)
    assert isinstance(net.classifier, mup.MuReadout) and net.classifier.archscale_role == "readout"
    assert (net.classifier.in_features, net.classifier.out_features) == (32, 10)
    assert all(hasattr(p, "infshape") for p in net.parameters())
    assert net.classifier.weight.infshape.width_mult() == 8 / BASE_C
    cell_conv = net.cells[0].edges["0_1"].conv.weight
    assert cell_conv.infshape.ninf() == 2 and cell_conv.infshape.fanin_fanout_mult_ratio() == 1
    assert net.stem[0].weight.infshape.ninf() == 1  # input layer: channels in are fixed
    assert net(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    assert net.archscale_mup == {"base_C": BASE_C, "delta_C": 2 * BASE_C, "readout_zero_init": False}


def test_base_width_is_the_standard_recipe_and_leaves_global_rng_alone():
    state = torch.get_rng_state()
    mu = mup_net(C=4, base_C=4, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    sp = sp_net(C=4, seed=3)
    mu_sd, sp_sd = mu.state_dict(), sp.state_dict()
    assert mu_sd.keys() == sp_sd.keys()
    for k in mu_sd:
        torch.testing.assert_close(mu_sd[k], sp_sd[k], rtol=0, atol=0, msg=k)
    assert not torch.equal(mup_net(C=4, base_C=4, seed=4).classifier.weight, mu.classifier.weight)


def test_musgd_scales_vector_like_rates_and_steps():
    net = mup_net(C=16, base_C=4)
    opt = mup_optimizer(net, lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    group_of = {id(p): g for g in opt.param_groups for p in g["params"]}
    readout, bn = group_of[id(net.classifier.weight)], group_of[id(net.stem[1].weight)]
    hidden = group_of[id(net.cells[0].edges["0_1"].conv.weight)]
    for g in (readout, bn):  # vector-like: rate x m, decay / m (m = 16 / 4)
        assert g["lr"] == pytest.approx(0.4) and g["weight_decay"] == pytest.approx(1.25e-4) and g["nesterov"]
    assert hidden["lr"] == pytest.approx(0.1) and hidden["weight_decay"] == pytest.approx(5e-4)
    before = copy.deepcopy(net.state_dict())
    x, y = torch.randn(8, 1, 8, 8, generator=torch.Generator().manual_seed(0)), torch.arange(8)
    for _ in range(2):
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert math.isfinite(loss.item())
    assert not torch.equal(before["classifier.weight"], net.classifier.weight)


def test_optimizer_and_builder_errors():
    with pytest.raises(ValueError, match=r"has no base shape; build the model with build_mup_nb201"):
        mup_optimizer(sp_net(C=4), lr=0.1)
    with pytest.raises(ValueError, match=r"different delta_C"):
        mup_net(C=8, base_C=4, delta_C=4)


def output_change(net: nn.Module, opt, x, y, steps: int = 3) -> float:
    """Mean |logit change| on a fixed batch after ``steps`` SGD steps (a coordinate check of the
    network's output; the hidden features are BatchNorm-normalised in both parametrisations)."""
    net.train()
    with torch.no_grad():
        before = net(x)
    for _ in range(steps):
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return (net(x) - before).abs().mean().item()


def test_coordinate_check_mup_flat_standard_grows(digits):
    """Measured (digits, 32 images, 3 SGD steps at 0.1, seeds 0-7, C = 4/8/16, base_C = 4):
    standard parametrisation's logit change grows with width (x1.6-2.9 from C=4 to 16; up to x5
    at C=64); μP's does not grow (x0.5-1.0, levelling off at larger widths) and with mup's
    zero readout init it is flat (max/min <= 1.3 up to C=32). Asserted with margins on seeds 0-1."""
    x, y = digits[0].x[:32], digits[0].y[:32]
    widths = (4, 8, 16)
    ratio = {"sp": [], "mup": [], "mup0": []}
    for seed in (0, 1):
        sp = [output_change(n, torch.optim.SGD(n.parameters(), lr=0.1), x, y) for n in map(sp_net, widths, [seed] * 3)]
        mu = [
            output_change(n, mup_optimizer(n, 0.1, momentum=0.0, weight_decay=0.0), x, y)
            for n in (mup_net(C, base_C=4, seed=seed) for C in widths)
        ]
        mu0 = [
            output_change(n, mup_optimizer(n, 0.1, momentum=0.0, weight_decay=0.0), x, y)
            for n in (mup_net(C, base_C=4, seed=seed, readout_zero_init=True) for C in widths)
        ]
        assert sp[0] == pytest.approx(mu[0], rel=1e-4)  # C = base_C: the same network and update
        assert sp[0] < sp[1] < sp[2]
        ratio["sp"].append(sp[2] / sp[0])
        ratio["mup"].append(mu[2] / mu[0])
        ratio["mup0"].append(max(mu0) / min(mu0))
    assert min(ratio["sp"]) > 1.5
    assert max(ratio["mup"]) < 1.2
    assert max(ratio["mup0"]) < 1.5


def test_musgd_at_base_width_reproduces_train_of_the_standard_recipe(digits):
    """MuSGD at C == base_C is plain SGD, so train() with MuSGD injected must give the numbers of
    train() with torch's SGD on the standard recipe's model."""
    train_data, test_data = digits
    cfg = TrainConfig(epochs=2, batch_size=64, lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4, seed=5)
    mu, sp = mup_net(C=4, base_C=4, seed=1), sp_net(C=4, seed=1)
    make = lambda m: mup_optimizer(m, cfg.lr, cfg.momentum, cfg.nesterov, cfg.weight_decay)  # noqa: E731
    got = train(mu, train_data, test_data, cfg, progress=False, make_optimizer=make)
    want = train(sp, train_data, test_data, cfg, progress=False)
    assert got["first_epoch_losses"] == want["first_epoch_losses"]
    assert got["history"] == want["history"]
    assert got["final"] == want["final"] and got["diverged"] is want["diverged"] is False


def test_train_mup_cell_one_epoch_on_digits(digits):
    train_data, test_data = digits
    row = train_mup_cell(NB201_EXAMPLE, train_data, test_data, settings=SETTINGS, C=4, N=1, seed=0)
    ref = train_cell(NB201_EXAMPLE, train_data, test_data, recipe="standard", settings=SETTINGS, C=4, N=1, seed=0)
    assert list(row) == list(ref)
    assert (row["recipe"], row["init"], row["lr"], row["epochs"], row["seed"]) == ("mup", "mup", 0.1, 1, 0)
    assert math.isnan(row["base_lr"]) and row["diverged"] is False and row["diverged_step"] is None
    assert math.isfinite(row["train_loss"]) and 0 <= row["test_acc"] <= 100 and row["wall_time_s"] > 0


def test_mup_checkpoint_resumes_to_the_same_numbers(digits, tmp_path):
    """With MuSGD injected, train() checkpoints and resumes (per-group μP rates kept)."""
    settings = {**SETTINGS, "epochs": 2, "checkpoint_every": 1}
    whole = train_mup_cell(NB201_EXAMPLE, *digits, settings=settings, C=4, N=1, seed=0)
    ckpt = tmp_path / "mup.pt"
    first = train_mup_cell(NB201_EXAMPLE, *digits, settings=settings, C=4, N=1, seed=0, checkpoint_path=ckpt)
    assert ckpt.exists()
    again = train_mup_cell(NB201_EXAMPLE, *digits, settings=settings, C=4, N=1, seed=0, checkpoint_path=ckpt)
    keys = ("train_loss", "test_acc", "test_loss")
    assert [first[k] for k in keys] == [whole[k] for k in keys] == [again[k] for k in keys]
