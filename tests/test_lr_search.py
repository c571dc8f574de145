"""Learning-rate search: the grid, the batched sweep (K copies in one pass, through grouped
layers or vmap, must train exactly like K separate ``train()`` runs, BatchNorm included),
divergence as data, the max-rate criteria, refinement, the CLI and the experiment wrappers."""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from torch.nn import functional as F

from archscale.cli import main as cli_main
from archscale.criteria import choose_rate
from archscale.data import iterate_batches, load_dataset
from archscale.experiments import measure_max_lr, search_config
from archscale.graphs import NB201_EXAMPLE
from archscale.lr_search import batched_sweep, choose_max_lr, lr_grid, search_max_lr, summarise
from archscale.models import build_model
from archscale.predict import combine_base_lr
from archscale.train import TrainConfig, train

NB201_DEAD_CONV = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"  # conv 0->1 feeds nothing


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", split="train")


def make(family: str, arch: str, data, width: int, seed: int = 0):
    return build_model(
        family, arch, width=width, num_classes=data.num_classes, in_shape=data.in_shape, cells_per_stage=1, seed=seed
    )


# --------------------------------------------------------------------------- lr_grid


def test_lr_grid_endpoints_and_count():
    grid = lr_grid(-2, 2, 0.5)
    assert len(grid) == 9
    assert grid[0] == 0.25 and grid[-1] == 4.0
    assert grid == [2.0 ** (-2 + 0.5 * i) for i in range(9)]
    assert np.allclose(np.diff(np.log2(grid)), 0.5)
    assert all(isinstance(v, float) for v in grid)
    assert lr_grid(0, 0) == [1.0]
    assert lr_grid(-9, 2.5) == [2.0 ** (-9 + 0.5 * i) for i in range(24)]  # the CLI default
    # the top end is kept despite rounding (0.3 / 0.1 = 2.9999999999999996), never exceeded
    assert len(lr_grid(0, 0.3, 0.1)) == 4
    assert lr_grid(0, 1, 0.3) == pytest.approx([1.0, 2**0.3, 2**0.6, 2**0.9])


@pytest.mark.parametrize(("lo", "hi", "step"), [(0, 1, 0), (0, 1, -0.5), (2, 1, 0.5)])
def test_lr_grid_rejects_bad_arguments(lo, hi, step):
    with pytest.raises(ValueError, match="lr grid"):
        lr_grid(lo, hi, step)


def test_lr_grid_rejects_infinite_bound():
    with pytest.raises(ValueError):
        lr_grid(0, float("inf"))


# --------------------------------------------------------------------------- batched == separate runs

SEQ_CASES = [
    pytest.param(
        "mlp", "2_12_112", 16, [0.01, 0.04, 0.16, 0.5],
        {"schedule": "cosine", "warmup_epochs": 0.25, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4},
        id="mlp-cosine-warmup-nesterov-wd",
    ),
    pytest.param(
        "mlp", "1_02_120", 16, [0.05, 0.2, 0.8],
        {"schedule": "constant", "momentum": 0.0, "nesterov": False, "weight_decay": 0.0},
        id="mlp-plain-sgd",
    ),
    pytest.param(
        "cnn", "2_02_002", 4, [0.01, 0.05, 0.2],
        {"schedule": "constant", "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4, "augment": True,
         "label_smoothing": 0.1},
        id="cnn-augment-smoothing",
    ),
    pytest.param(
        "nb201", NB201_EXAMPLE, 4, [0.01, 0.05, 0.2],
        {"schedule": "constant", "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4, "batch_size": 64},
        id="nb201-C4-N1-batchnorm",
    ),
]  # fmt: skip


ENGINES = ["grouped", "vmap"]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("family", "arch", "width", "lrs", "opts"), SEQ_CASES)
def test_batched_sweep_equals_separate_train_runs(digits, family, arch, width, lrs, opts, engine):
    """Every copy of the sweep follows train() at its rate, step by step, for a whole epoch."""
    cfg = TrainConfig(**{"epochs": 1, "batch_size": 32, "seed": 3, **opts})
    model = make(family, arch, digits, width)
    before = copy.deepcopy(model.state_dict())
    sweep = batched_sweep(model, digits, lrs, cfg, engine=engine)
    steps = len(digits) // cfg.batch_size
    assert sweep["losses"].shape == (steps, len(lrs))
    assert sweep["steps_per_epoch"] == steps
    assert sweep["lrs"] == lrs
    assert list(sweep["diverged_step"]) == [-1] * len(lrs)
    for k, v in model.state_dict().items():  # the model itself is not trained
        assert torch.equal(v, before[k]), k
    for j, lr in enumerate(lrs):
        ref = train(make(family, arch, digits, width), digits, None, replace(cfg, lr=lr))
        seq = np.array(ref["first_epoch_losses"])
        got = sweep["losses"][:, j]
        np.testing.assert_allclose(got[:10], seq[:10], rtol=1e-4, atol=1e-6, err_msg=f"lr {lr}, first steps")
        np.testing.assert_allclose(got, seq, rtol=1e-3, atol=1e-5, err_msg=f"lr {lr}, whole epoch")


def test_batched_sweep_steps_cross_epochs_like_train(digits):
    """``steps`` beyond one epoch continues with the next epoch's data order, as train() does."""
    cfg = TrainConfig(epochs=2, batch_size=64, schedule="constant", seed=1)
    spe = len(digits) // 64
    sweep = batched_sweep(make("mlp", "2_02_002", digits, 16), digits, [0.1], cfg, steps=2 * spe)
    by_epochs = batched_sweep(make("mlp", "2_02_002", digits, 16), digits, [0.1], cfg)
    np.testing.assert_array_equal(sweep["losses"], by_epochs["losses"])
    ref = train(make("mlp", "2_02_002", digits, 16), digits, None, replace(cfg, lr=0.1))
    np.testing.assert_allclose(sweep["losses"][:spe, 0], ref["first_epoch_losses"], rtol=1e-4)
    second = float(np.mean(sweep["losses"][spe:, 0]))
    assert second == pytest.approx(ref["history"][1]["train_loss"], rel=1e-4)
    short = batched_sweep(make("mlp", "2_02_002", digits, 16), digits, [0.1], cfg, steps=5)
    assert short["losses"].shape == (5, 1)
    np.testing.assert_array_equal(short["losses"], sweep["losses"][:5])


@pytest.mark.parametrize(
    ("family", "arch", "width"),
    [("mlp", "2_02_002", 16), ("nb201", NB201_EXAMPLE, 4)],
    ids=["mlp", "nb201"],
)
def test_copies_start_identical_and_see_the_same_batch(digits, family, arch, width):
    cfg = TrainConfig(batch_size=32, seed=7, schedule="constant")
    model = make(family, arch, digits, width)
    sweep = batched_sweep(model, digits, [1e-8, 2e-8, 4e-8, 1e-7], cfg, steps=3)
    first = sweep["losses"][0]
    assert np.all(first == first[0])  # bit-identical across copies
    # rates this small barely move the copies: later steps agree across copies too
    np.testing.assert_allclose(sweep["losses"], np.repeat(sweep["losses"][:, :1], 4, axis=1), rtol=1e-5)
    # ... and it is the model's loss on the first batch of the seed's data order (train mode)
    x, y = next(iterate_batches(digits, 32, generator=torch.Generator().manual_seed(7)))
    with torch.no_grad():
        expected = F.cross_entropy(copy.deepcopy(model).train()(x), y).item()
    assert first[0] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("engine", ENGINES)
def test_diverging_rate_is_data_and_leaves_the_other_copies_alone(digits, engine):
    cfg = TrainConfig(batch_size=32, schedule="constant", momentum=0.9, weight_decay=5e-4)
    model = make("mlp", "2_02_002", digits, 16)
    safe = [0.01, 0.1]
    sweep = batched_sweep(model, digits, [*safe, 2.0**10], cfg, engine=engine)
    alone = batched_sweep(model, digits, safe, cfg, engine=engine)
    dstep = sweep["diverged_step"]
    assert list(dstep[:2]) == [-1, -1]
    assert isinstance(int(dstep[2]), int) and 0 <= dstep[2] < sweep["losses"].shape[0]
    bad = sweep["losses"][:, 2]
    assert np.all(np.isfinite(bad[: dstep[2]])) and np.all(np.isnan(bad[dstep[2] :]))
    np.testing.assert_allclose(sweep["losses"][:, :2], alone["losses"], rtol=1e-5, atol=1e-6)
    # train() at that rate diverges at the same step
    ref = train(make("mlp", "2_02_002", digits, 16), digits, None, replace(cfg, lr=2.0**10))
    assert ref["diverged"] is True and ref["diverged_step"] == int(dstep[2])
    table = summarise(sweep)
    assert table["diverged"].tolist() == [False, False, True]
    assert table["diverged_step"].iloc[2] == int(dstep[2])
    assert math.isnan(table["final_loss"].iloc[2]) and np.isfinite(table["final_loss"].iloc[:2]).all()


@pytest.mark.parametrize(
    ("family", "arch", "width", "dead"),
    [
        ("mlp", "2_00_100", 16, "body.edges.0_1"),  # layer 0->1 exists, node 1 feeds nothing
        ("mlp", "0_02_100", 16, "body.edges.1_2"),  # layer 1->2 exists, node 1 is never reached
        ("nb201", NB201_DEAD_CONV, 4, "cells.0.edges.0_1"),  # a conv+BN edge whose node feeds nothing
    ],
    ids=["mlp-dead-output", "mlp-dead-input", "nb201-dead-conv"],
)
@pytest.mark.parametrize("engine", ENGINES)
def test_parameters_off_every_path_are_fine(digits, family, arch, width, dead, engine):
    model = make(family, arch, digits, width)
    x, y = digits.x[:32], digits.y[:32]
    F.cross_entropy(model(x), y).backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    dead_params = [n for n in grads if n.startswith(dead + ".")]
    assert dead_params and all(grads[n] is None for n in dead_params)  # the premise: unused parameters
    model.zero_grad(set_to_none=True)
    cfg = TrainConfig(batch_size=32, schedule="constant", momentum=0.9, weight_decay=5e-4)
    steps = 6 if family == "nb201" else None
    sweep = batched_sweep(model, digits, [0.01, 0.1], cfg, steps=steps, engine=engine)
    assert np.isfinite(sweep["losses"]).all()
    ref = train(make(family, arch, digits, width), digits, None, replace(cfg, lr=0.1))
    n = sweep["losses"].shape[0]
    np.testing.assert_allclose(sweep["losses"][:, 1], ref["first_epoch_losses"][:n], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("lrs", [[], [0.1, 0.0], [0.1, -1.0], [float("nan")], [float("inf")]])
def test_batched_sweep_rejects_bad_rates(digits, lrs):
    with pytest.raises(ValueError, match="learning rates"):
        batched_sweep(make("mlp", "2_02_002", digits, 16), digits, lrs, TrainConfig())


def test_batched_sweep_rejects_batch_larger_than_data(digits):
    with pytest.raises(ValueError, match="batch_size"):
        batched_sweep(make("mlp", "2_02_002", digits, 16), digits, [0.1], TrainConfig(batch_size=len(digits) + 1))


# --------------------------------------------------------------------------- summarise / choose


def test_summarise_hand_made_sweep():
    steps = 10
    good = np.linspace(2.3, 0.5, steps)
    worse = np.linspace(2.3, 1.5, steps)
    diverged = np.array([2.3, 2.0, 5.0] + [np.nan] * 7)
    sweep = {
        "lrs": [0.5, 0.125, 2.0],
        "losses": np.stack([good, worse, diverged], axis=1),
        "diverged_step": np.array([-1, -1, 3]),
    }
    t = summarise(sweep, tail_frac=0.2)
    assert t["lr"].tolist() == [0.5, 0.125, 2.0]
    assert t["log2_lr"].tolist() == [-1.0, -3.0, 1.0]
    assert t["initial_loss"].tolist() == pytest.approx([2.3, 2.3, 2.3])
    assert t["final_loss"].iloc[0] == pytest.approx(good[-2:].mean())  # mean of the last 20%
    assert t["final_loss"].iloc[1] == pytest.approx(worse[-2:].mean())
    assert math.isnan(t["final_loss"].iloc[2])
    assert t["min_loss"].tolist() == pytest.approx([0.5, 1.5, 2.0])
    assert t["diverged"].tolist() == [False, False, True]
    assert t["diverged_step"].iloc[2] == 3 and pd.isna(t["diverged_step"].iloc[0])
    assert (t["steps"] == steps).all()
    assert t["loss_at_50pct"].iloc[0] == pytest.approx(good[4])
    assert math.isnan(t["loss_at_50pct"].iloc[2])
    assert choose_max_lr(t) == 0.5
    # default tail: 10% of 10 steps = the last step
    assert summarise(sweep)["final_loss"].iloc[0] == pytest.approx(0.5)


def table(lrs, initial, final, diverged):
    return pd.DataFrame({"lr": lrs, "initial_loss": initial, "final_loss": final, "diverged": diverged})


def test_choose_max_lr_min_loss_picks_smallest_final_loss_among_non_diverged():
    t = table([0.1, 0.2, 0.4, 0.8, 1.6], [2.3] * 5, [1.0, 0.5, 0.7, 0.1, np.nan], [False, False, False, True, True])
    assert choose_max_lr(t, "min_loss") == 0.2  # the 0.1 of the diverged row does not count
    assert choose_max_lr(t) == 0.2  # the default criterion
    assert choose_max_lr(t.iloc[::-1].reset_index(drop=True)) == 0.2  # row order is irrelevant


def test_choose_max_lr_loss_ratio_picks_largest_rate_below_ratio():
    t = table([0.1, 0.2, 0.4, 0.8], [2.3] * 4, [2.2, 1.0, 2.0, np.nan], [False, False, False, True])
    assert choose_max_lr(t, "loss_ratio") == 0.4  # 2.0 < 0.9 * 2.3; 2.2 is not
    assert choose_max_lr(t, "loss_ratio", ratio=0.5) == 0.2
    assert math.isnan(choose_max_lr(t, "loss_ratio", ratio=0.1))  # nothing qualifies


def test_choose_max_lr_all_diverged_is_nan():
    t = table([0.1, 0.2], [2.3, 2.3], [np.nan, np.nan], [True, True])
    assert math.isnan(choose_max_lr(t, "min_loss"))
    assert math.isnan(choose_max_lr(t, "loss_ratio"))


def test_choose_max_lr_unknown_criterion():
    with pytest.raises(ValueError, match="steepest"):
        choose_max_lr(table([0.1], [2.3], [1.0], [False]), "steepest")


# --------------------------------------------------------------------------- search_max_lr


@pytest.mark.parametrize("criterion", ["min_loss", "loss_ratio"])
def test_search_max_lr_refines_between_the_best_points_neighbours(digits, criterion):
    model = make("mlp", "2_02_002", digits, 16)
    grid = lr_grid(-5, 1, 1.0)
    cfg = TrainConfig(batch_size=64, schedule="constant", momentum=0.9)
    t, best = search_max_lr(model, digits, grid, cfg, criterion=criterion, refine=2, steps=12)
    grid_rows = t[t["stage"] == "grid"]
    refine_rows = t[t["stage"] == "refine"]
    assert sorted(grid_rows["lr"]) == grid
    grid_best = choose_max_lr(grid_rows, criterion)
    assert math.isfinite(grid_best)
    i = grid.index(grid_best)
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    assert len(refine_rows) == 2
    assert all(lo < v < hi and not np.isclose(v, grid_best) for v in refine_rows["lr"])
    assert t["lr"].is_monotonic_increasing and len(t) == len(grid) + 2
    assert t["chosen"].sum() == 1
    assert t.loc[t["chosen"], "lr"].item() == best == choose_max_lr(t, criterion)
    # a refined row is an ordinary sweep at that rate
    again = summarise(batched_sweep(model, digits, refine_rows["lr"].tolist(), cfg, steps=12))
    np.testing.assert_allclose(again["final_loss"], refine_rows["final_loss"], rtol=1e-6)
    # the aggregation's criteria (archscale.criteria, reading tier, a definition of their own so
    # that editing them never re-runs a grid job) pick what the grid job picked, refine rows included
    assert choose_rate(t, criterion) == best == choose_rate(t.iloc[::-1], criterion)
    assert (t["num_classes"] == digits.num_classes).all()  # stored for the speed criterion


def test_aggregation_criteria_agree_with_the_grid_jobs_on_a_diverging_sweep(digits):
    model = make("mlp", "2_02_002", digits, 16)
    cfg = TrainConfig(batch_size=32, schedule="constant")
    t = summarise(batched_sweep(model, digits, lr_grid(-7, 6, 1.0), cfg, steps=80))
    assert t["diverged"].any() and (~t["diverged"]).any()  # the premise: both kinds of rows
    for criterion, ratio in (("min_loss", 0.9), ("loss_ratio", 0.9), ("loss_ratio", 0.7)):
        assert choose_rate(t, criterion, ratio=ratio) == choose_max_lr(t, criterion, ratio=ratio)
    # speed: the first rate below 0.5 ln(10) is interpolated against the one before it
    level = 0.5 * math.log(10)
    ok = t[~t["diverged"]].sort_values("lr")
    i = int(np.flatnonzero(ok["final_loss"].to_numpy() <= level)[0])
    assert i > 0, "premise: the grid starts above the level"
    assert ok["lr"].iloc[i - 1] < choose_rate(t, "speed") <= ok["lr"].iloc[i]


def test_search_max_lr_without_refine_and_all_diverged(digits):
    model = make("mlp", "2_02_002", digits, 16)
    cfg = TrainConfig(batch_size=64, schedule="constant")
    t, best = search_max_lr(model, digits, [0.05, 0.1, 0.2], cfg, steps=5)
    assert set(t["stage"]) == {"grid"} and len(t) == 3 and t["chosen"].sum() == 1
    t, best = search_max_lr(model, digits, [2.0**12, 2.0**14], cfg, refine=2, steps=5)
    assert math.isnan(best)
    assert t["diverged"].all() and not t["chosen"].any() and set(t["stage"]) == {"grid"}


# --------------------------------------------------------------------------- chunks (grids that fit the device)

CHUNK_CASES = [
    pytest.param("mlp", "2_12_112", 16, 5, {}, id="mlp-K5"),
    pytest.param("mlp", "1_02_120", 16, 7, {"momentum": 0.9, "nesterov": True, "weight_decay": 5e-4}, id="mlp-K7"),
    pytest.param("cnn", "2_02_002", 4, 6, {"momentum": 0.9, "augment": True, "label_smoothing": 0.1}, id="cnn-K6"),
    pytest.param("nb201", NB201_EXAMPLE, 4, 5, {"momentum": 0.9, "weight_decay": 5e-4}, id="nb201-K5"),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("family", "arch", "width", "k", "opts"), CHUNK_CASES)
def test_chunked_sweep_is_bit_identical_to_one_pass(digits, family, arch, width, k, opts, engine):
    """Every chunk starts from the same weights and replays the same data order and
    augmentation, and no kernel's rounding depends on the number of copies: the loss table of a
    grid run 1, 2 or 3 rates at a time is the one-pass table, bit for bit (diverged copies
    included)."""
    cfg = TrainConfig(**{"batch_size": 32, "seed": 5, "schedule": "constant", **opts})
    model = make(family, arch, digits, width)
    lrs = [0.02 * 2.0 ** (i * 12 / (k - 1)) for i in range(k)]  # 0.02 .. 82
    one = batched_sweep(model, digits, lrs, cfg, steps=6, engine=engine)
    assert one["chunk"] == k
    if family != "cnn":  # the small CNN survives every rate for 6 steps
        assert (one["diverged_step"] >= 0).any(), "the grid should reach a diverging rate"
    for chunk in (1, 2, 3):
        got = batched_sweep(model, digits, lrs, cfg, steps=6, engine=engine, chunk=chunk)
        assert got["chunk"] == chunk
        assert np.array_equal(got["losses"], one["losses"], equal_nan=True), f"chunk {chunk}"
        assert list(got["diverged_step"]) == list(one["diverged_step"])
        pd.testing.assert_frame_equal(summarise(got), summarise(one), check_exact=True)


def test_chunk_sizes_are_balanced():
    from archscale.lr_search import chunk_sizes

    assert chunk_sizes(7, 3) == [3, 2, 2]
    assert chunk_sizes(7, 7) == chunk_sizes(7, 100) == [7]
    assert chunk_sizes(65, 16) == [13] * 5
    assert chunk_sizes(5, 1) == [1] * 5
    assert chunk_sizes(6, 4) == [3, 3]  # no lone copy when it can be avoided
    with pytest.raises(ValueError, match="chunk"):
        chunk_sizes(5, 0)


@pytest.mark.parametrize("chunk", [0, -1, 2.5, True, "all"])
def test_bad_chunk_is_refused(digits, chunk):
    cfg = TrainConfig(batch_size=64, schedule="constant")
    with pytest.raises(ValueError, match="chunk"):
        batched_sweep(make("mlp", "2_02_002", digits, 8), digits, [0.1, 0.2], cfg, steps=1, chunk=chunk)


def test_auto_chunk_fits_the_free_memory_and_keeps_the_numbers(digits):
    from archscale.memory import auto_chunk, budget_bytes, copy_bytes

    model = make("cnn", "2_02_002", digits, 8)
    per_copy = copy_bytes(model, digits.in_shape, 32)
    # activations scale with the batch, parameters do not
    assert 0 < per_copy < copy_bytes(model, digits.in_shape, 64) < 2 * per_copy
    budget = budget_bytes(torch.device("cpu"))
    assert auto_chunk(model, digits.in_shape, 32, 10**9, torch.device("cpu")) == budget // per_copy
    assert auto_chunk(model, digits.in_shape, 32, 5, torch.device("cpu")) == 5  # a small grid: one pass
    cfg = TrainConfig(batch_size=32, seed=2, schedule="constant")
    lrs = [0.05, 0.1, 0.2, 0.4, 0.8]
    auto = batched_sweep(model, digits, lrs, cfg, steps=4, chunk="auto")
    np.testing.assert_array_equal(auto["losses"], batched_sweep(model, digits, lrs, cfg, steps=4)["losses"])


def test_measure_max_lr_chunk_changes_no_number(digits):
    whole = measure_max_lr("2_02_002", digits, model={"family": "mlp", "width": 16}, search=SEARCH, seed=1)
    chunked = measure_max_lr(
        "2_02_002", digits, model={"family": "mlp", "width": 16}, search={**SEARCH, "chunk": 4}, seed=1
    )
    cols = [c for c in whole.columns if c != "search_seconds"]
    pd.testing.assert_frame_equal(whole[cols], chunked[cols], check_exact=True)


# --------------------------------------------------------------------------- CLI


def _search_argv(out, *extra: str) -> list[str]:
    return [
        "lr-search", "--family", "mlp", "--arch", "2_02_002", "--dataset", "digits", "--device", "cpu",
        "--width", "16", "--batch-size", "64", "--lr-min-exp", "-4", "--lr-max-exp", "1", "--lr-step", "1",
        "--out", str(out), *extra,
    ]  # fmt: skip


def test_cli_lr_search_writes_a_csv(tmp_path, capsys):
    out = tmp_path / "grid.csv"
    assert cli_main(_search_argv(out, "--refine", "2", "--criterion", "loss_ratio")) == 0
    t = pd.read_csv(out)
    for col in ("arch", "lr", "final_loss", "initial_loss", "diverged", "chosen", "max_lr", "stage"):
        assert col in t.columns, col
    assert (t["arch"].astype(str) == "2_02_002").all()
    assert (t["stage"] == "grid").sum() == 6 and (t["stage"] == "refine").sum() == 2
    assert t["chosen"].sum() == 1
    assert t["max_lr"].nunique() == 1
    assert t.loc[t["chosen"], "lr"].item() == pytest.approx(t["max_lr"].iloc[0])
    assert capsys.readouterr().out.startswith("max lr ")


def test_cli_lr_search_unknown_engine_is_argparse_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        cli_main(_search_argv(tmp_path / "grid.csv", "--engine", "fast"))
    assert exc.value.code == 2
    assert "error: argument --engine: invalid choice: 'fast'" in capsys.readouterr().err


def test_cli_lr_search_engines_agree(tmp_path):
    tables = {}
    for engine in ("grouped", "vmap"):
        out = tmp_path / f"{engine}.csv"
        assert cli_main(_search_argv(out, "--engine", engine)) == 0
        tables[engine] = pd.read_csv(out)
    a, b = tables["grouped"], tables["vmap"]
    np.testing.assert_allclose(a["final_loss"], b["final_loss"], rtol=1e-4)
    assert a["max_lr"].iloc[0] == b["max_lr"].iloc[0]


def test_cli_lr_search_chunk_writes_the_one_pass_csv(tmp_path):
    tables = {}
    for chunk in ("none", "2", "auto"):
        out = tmp_path / f"{chunk}.csv"
        assert cli_main(_search_argv(out, *(["--chunk", chunk] if chunk != "none" else []))) == 0
        tables[chunk] = pd.read_csv(out).drop(columns="search_seconds")  # wall time, not a result
    pd.testing.assert_frame_equal(tables["2"], tables["none"], check_exact=True)
    pd.testing.assert_frame_equal(tables["auto"], tables["none"], check_exact=True)


@pytest.mark.parametrize("chunk", ["0", "x", "-3"])
def test_cli_lr_search_bad_chunk_is_a_usage_error(tmp_path, capsys, chunk):
    with pytest.raises(SystemExit) as exc:
        cli_main(_search_argv(tmp_path / "grid.csv", "--chunk", chunk))
    assert exc.value.code == 2
    assert "argument --chunk: expected a positive integer or auto" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--lr-min-exp", "3"], "lr grid"),  # min above max
        (["--lr-step", "0"], "lr grid"),
        (["--batch-size", "5000"], "batch_size"),
        (["--dataset", "cifar"], "cifar"),
    ],
)
def test_cli_lr_search_bad_option_is_one_line_exit_2(tmp_path, capsys, extra, needle):
    out = tmp_path / "grid.csv"
    assert cli_main(_search_argv(out, *extra)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("archscale: error: ") and needle in lines[0]
    assert not out.exists()


def test_cli_lr_search_infinite_exponent_is_one_line_exit_2(tmp_path, capsys):
    assert cli_main(_search_argv(tmp_path / "grid.csv", "--lr-max-exp", "inf")) == 2


# --------------------------------------------------------------------------- experiments

SEARCH = {
    "min_exp": -4, "max_exp": 1, "step": 1.0, "epochs": 1, "batch_size": 64, "momentum": 0.0,
    "weight_decay": 0.0, "criterion": "min_loss", "ratio": 0.9, "tail_frac": 0.1, "refine": 0,
}  # fmt: skip


def test_search_config():
    cfg = search_config(SEARCH, seed=4)
    assert cfg.schedule == "constant" and cfg.lr == 1.0 and cfg.seed == 4
    assert cfg.batch_size == 64 and cfg.momentum == 0.0 and cfg.weight_decay == 0.0
    assert cfg.nesterov is False  # nesterov needs momentum
    assert search_config({**SEARCH, "momentum": 0.9, "nesterov": True}, 0).nesterov is True
    assert search_config({**SEARCH, "momentum": 0.0, "nesterov": True}, 0).nesterov is False


def test_measure_max_lr_is_search_max_lr_on_the_seeded_model(digits):
    t = measure_max_lr("2_02_002", digits, model={"family": "mlp", "width": 16}, search=SEARCH, seed=1)
    assert list(t.columns[:2]) == ["arch", "seed"]
    assert (t["arch"] == "2_02_002").all() and (t["seed"] == 1).all()
    assert len(t) == 6 and t["chosen"].sum() == 1
    assert t["max_lr"].nunique() == 1
    assert t.loc[t["chosen"], "lr"].item() == t["max_lr"].iloc[0]
    assert (t["search_seconds"] > 0).all()
    model = make("mlp", "2_02_002", digits, 16, seed=1)
    ref, best = search_max_lr(model, digits, lr_grid(-4, 1, 1.0), search_config(SEARCH, 1))
    assert best == t["max_lr"].iloc[0]
    np.testing.assert_array_equal(ref["final_loss"].to_numpy(), t["final_loss"].to_numpy())


def _picked(v: float) -> pd.DataFrame:
    return pd.DataFrame({"lr": [0.1, 0.2], "max_lr": [v, v]})


def test_combine_base_lr_geometric_mean():
    assert combine_base_lr([_picked(0.25), _picked(1.0)]) == pytest.approx(0.5)
    assert combine_base_lr([_picked(0.125), _picked(0.5), _picked(2.0)]) == pytest.approx(0.5)
    assert combine_base_lr([_picked(float("nan")), _picked(0.5)]) == pytest.approx(0.5)  # NaN seeds skipped
    assert combine_base_lr([_picked(0.3)]) == pytest.approx(0.3)


def test_combine_base_lr_all_nan_is_an_error():
    with pytest.raises(ValueError, match="diverged"):
        combine_base_lr([_picked(float("nan")), _picked(float("nan"))])


def test_combine_base_lr_tells_all_diverged_from_none_qualified(digits):
    """Real grids: rates 2^8..2^10 all diverge; rates 2^-8..2^-7 train but cannot reach 1% of the
    initial loss in one epoch (loss_ratio picks nothing). The messages must differ."""
    huge = {**SEARCH, "min_exp": 8, "max_exp": 10}
    t = pd.concat([measure_max_lr("2_02_002", digits, model={"family": "mlp", "width": 16}, search=huge, seed=s)
                   for s in (0, 1)])  # fmt: skip
    assert t["diverged"].all() and t["max_lr"].isna().all()
    with pytest.raises(ValueError, match=r"^every rate diverged for the base network at every seed; lower lr_search"):
        combine_base_lr(t)
    tiny = {**SEARCH, "min_exp": -8, "max_exp": -7, "criterion": "loss_ratio", "ratio": 0.01}
    t = pd.concat([measure_max_lr("2_02_002", digits, model={"family": "mlp", "width": 16}, search=tiny, seed=s)
                   for s in (0, 1)])  # fmt: skip
    assert not t["diverged"].any() and t["max_lr"].isna().all()
    assert (t["criterion"] == "loss_ratio").all() and (t["ratio"] == 0.01).all()
    msg = (
        r"^no rate reached a final loss below 0.01 x the initial loss under criterion loss_ratio for the base "
        r"network at any seed \(not every rate diverged\); "
        r"raise lr_search.max_exp / epochs or relax lr_search.ratio$"
    )
    with pytest.raises(ValueError, match=msg):
        combine_base_lr(t)
    with pytest.raises(ValueError, match=r"^no rate reached .* under criterion loss_ratio"):  # one table per seed
        combine_base_lr([g for _, g in t.groupby("seed")])


def test_cli_lr_search_defaults_are_the_workflows_grid_search(tmp_path):
    """No grid/optimiser options: the schema's lr_search defaults, through the same call a
    true_max_lr job makes, so the same network, data and seed give the same maximal rate."""
    from archscale.data import load_dataset
    from archscale.schema import defaults

    out = tmp_path / "grid.csv"
    argv = ["lr-search", "--family", "mlp", "--arch", "2_02_002", "--width", "16", "--device", "cpu", "--out", str(out)]
    assert cli_main(argv) == 0
    cli = pd.read_csv(out)
    data = load_dataset("digits", "data", "train", torch.device("cpu"))
    model = {"family": "mlp", "width": 16, "kernel_size": 3, "activation": "relu"}
    job = measure_max_lr("2_02_002", data, model=model, search=defaults("lr_search"), seed=0)
    assert len(cli) == len(job) == len(lr_grid(-8, 3, 0.5))
    assert cli["max_lr"].iloc[0] == job["max_lr"].iloc[0]
    np.testing.assert_array_equal(cli["final_loss"].to_numpy(), job["final_loss"].to_numpy())
