"""The training loop: it learns, it is deterministic, divergence is recorded (not raised), the
schedule has the documented shape, options are validated, and a run killed mid-way resumes
from its checkpoint to exactly the numbers of an uninterrupted run."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import helpers_train
import pytest
import torch

from archscale.cli import main as cli_main
from archscale.data import load_dataset
from archscale.models import build_model
from archscale.train import TrainConfig, load_checkpoint, lr_multiplier, model_fingerprint, train

HELPER = Path(__file__).with_name("helpers_train.py")
ARCH = "2_02_002"


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", split="train"), load_dataset("digits", split="test")


def mlp(data, width: int = 32, seed: int = 0, arch: str = ARCH):
    return build_model("mlp", arch, width=width, num_classes=data.num_classes, in_shape=data.in_shape, seed=seed)


def numbers(record: dict) -> dict:
    """The parts of a record that must be reproducible (everything but wall time)."""
    return {k: v for k, v in record.items() if k != "wall_time_s"}


def same(a, b) -> bool:
    """Exact equality that treats NaN as equal to NaN (JSON-like nested values)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


# --------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def record_3_epochs(digits):
    tr, te = digits
    return train(mlp(tr), tr, te, TrainConfig(epochs=3, batch_size=32, lr=0.1, seed=0))


def test_training_reduces_loss_and_fills_the_record(digits, record_3_epochs):
    tr, _ = digits
    r = record_3_epochs
    steps = len(tr) // 32
    assert r["steps_per_epoch"] == steps
    assert len(r["first_epoch_losses"]) == steps
    assert all(math.isfinite(v) for v in r["first_epoch_losses"])
    # untrained at the first step: at least chance level (the release's readout, std 2/10, starts
    # above it: its logits are not small, unlike a μP readout's)
    assert r["first_epoch_losses"][0] > 0.8 * math.log(10)
    assert r["diverged"] is False and r["diverged_step"] is None
    assert r["epochs_done"] == 3
    assert [h["epoch"] for h in r["history"]] == [1, 2, 3]
    for h in r["history"]:
        assert set(h) == {"epoch", "train_loss", "train_acc", "test_loss", "test_acc"}
        assert all(math.isfinite(h[k]) for k in h)
        assert 0 <= h["train_acc"] <= 1 and 0 <= h["test_acc"] <= 1
    assert r["history"][-1]["train_loss"] < r["history"][0]["train_loss"]
    assert r["final"]["train_loss"] == r["history"][-1]["train_loss"]
    assert r["final"]["train_loss"] < 0.5 * r["first_epoch_losses"][0]
    assert r["final"]["test_acc"] == r["history"][-1]["test_acc"] > 0.5
    assert r["wall_time_s"] > 0
    json.dumps(r)  # JSON-ready


def test_same_config_and_seed_give_identical_records(digits, record_3_epochs):
    tr, te = digits
    again = train(mlp(tr), tr, te, TrainConfig(epochs=3, batch_size=32, lr=0.1, seed=0))
    assert numbers(again) == numbers(record_3_epochs)


def test_data_seed_changes_the_run(digits, record_3_epochs):
    tr, te = digits
    other = train(mlp(tr), tr, te, TrainConfig(epochs=1, batch_size=32, lr=0.1, seed=1))
    # same weights (build seed 0), so the first loss differs only through the batch drawn
    assert other["first_epoch_losses"] != record_3_epochs["first_epoch_losses"]


def test_without_test_data_the_history_has_train_numbers_only(digits):
    tr, _ = digits
    r = train(mlp(tr, width=16), tr, None, TrainConfig(epochs=1, batch_size=64, lr=0.1))
    assert set(r["history"][0]) == {"epoch", "train_loss", "train_acc"}
    assert math.isnan(r["final"]["test_acc"]) and math.isnan(r["final"]["test_loss"])
    assert math.isfinite(r["final"]["train_loss"])


def test_divergence_is_recorded_not_raised(digits):
    tr, te = digits
    model = mlp(tr)
    r = train(model, tr, te, TrainConfig(epochs=2, batch_size=32, lr=1e4))
    assert r["diverged"] is True
    assert isinstance(r["diverged_step"], int) and not isinstance(r["diverged_step"], bool)
    assert 0 <= r["diverged_step"] < r["steps_per_epoch"]
    losses = r["first_epoch_losses"]
    assert math.isfinite(losses[0])  # the first step is taken at the initial weights
    bad = losses[r["diverged_step"]]
    assert not math.isfinite(bad) or bad > TrainConfig().max_loss
    assert all(math.isfinite(v) and v <= 1e3 for v in losses[: r["diverged_step"]])
    assert r["epochs_done"] == 1  # stops at the end of the epoch it diverged in
    assert r["history"] == []
    assert math.isnan(r["final"]["test_acc"]) and math.isnan(r["final"]["train_loss"])


def test_max_loss_threshold_marks_divergence(digits):
    tr, _ = digits
    # a loss of ~2.3 is above a threshold of 1: diverged at the very first step
    r = train(mlp(tr, width=16), tr, None, TrainConfig(epochs=1, batch_size=64, lr=0.01, max_loss=1.0))
    assert r["diverged"] is True and r["diverged_step"] == 0


# --------------------------------------------------------------------------- schedule


def test_lr_multiplier_cosine_decays_to_zero():
    cfg = TrainConfig(schedule="cosine")
    total = 200
    m = [lr_multiplier(s, total, cfg, steps_per_epoch=20) for s in range(total)]
    assert m[0] == 1.0
    assert all(a > b for a, b in zip(m, m[1:], strict=False))  # strictly decreasing
    assert m[total // 2] == pytest.approx(0.5)
    assert 0 < m[-1] < 1e-3  # ~0 at the last step taken
    assert lr_multiplier(total, total, cfg, 20) == pytest.approx(0.0, abs=1e-12)
    assert all(0 <= v <= 1 for v in m)


def test_lr_multiplier_warmup_is_linear_then_cosine():
    cfg = TrainConfig(schedule="cosine", warmup_epochs=1.0)
    spe, total = 10, 50
    warm = [lr_multiplier(s, total, cfg, spe) for s in range(spe)]
    assert warm == pytest.approx([(s + 1) / spe for s in range(spe)])
    diffs = [b - a for a, b in zip(warm, warm[1:], strict=False)]
    assert diffs == pytest.approx([1 / spe] * (spe - 1))
    assert lr_multiplier(spe, total, cfg, spe) == 1.0  # cosine starts at the peak after warm-up
    assert lr_multiplier(total - 1, total, cfg, spe) < 0.01
    # fractional warm-up rounds to whole steps
    half = TrainConfig(warmup_epochs=0.5)
    assert [lr_multiplier(s, total, half, spe) for s in range(5)] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])


def test_lr_multiplier_constant_stays_one():
    cfg = TrainConfig(schedule="constant")
    assert {lr_multiplier(s, 30, cfg, 10) for s in range(30)} == {1.0}
    warm = TrainConfig(schedule="constant", warmup_epochs=2, epochs=6)
    m = [lr_multiplier(s, 30, warm, 5) for s in range(30)]
    assert m[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert set(m[10:]) == {1.0}


def test_train_applies_the_schedule_to_the_optimizer(digits):
    """Peak rate x multiplier reaches the optimiser: the cosine multiplier is exactly 1 on the
    first step, so the first update (and the loss after it) equals a constant run's; later
    steps are annealed and differ."""
    tr, _ = digits
    base = {"epochs": 1, "batch_size": 64, "lr": 0.2, "seed": 0}
    cos = train(mlp(tr, width=16), tr, None, TrainConfig(schedule="cosine", **base))["first_epoch_losses"]
    const = train(mlp(tr, width=16), tr, None, TrainConfig(schedule="constant", **base))["first_epoch_losses"]
    assert cos[0] == const[0]
    assert cos[1] == const[1]
    assert cos[-1] != const[-1]


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"lr": 0.0}, "lr"),
        ({"lr": -0.1}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"lr": float("inf")}, "lr"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"momentum": 1.0}, "momentum"),
        ({"weight_decay": -1e-4}, "weight_decay"),
        ({"warmup_epochs": -1}, "warmup_epochs"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
        ({"checkpoint_every": -1}, "checkpoint_every"),
        ({"schedule": "linear"}, "schedule"),
        ({"precision": "fp16"}, "precision"),
    ],
)
def test_train_config_rejects_bad_options(options, name):
    with pytest.raises(ValueError, match=name):
        TrainConfig(**options)


def test_train_config_from_dict():
    cfg = TrainConfig.from_dict({"lr": 0.3, "epochs": 2})
    assert cfg == TrainConfig(lr=0.3, epochs=2)
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig.from_dict({"learning_rate": 0.1})
    with pytest.raises(ValueError, match="lr"):
        TrainConfig.from_dict({"lr": -1})


def test_config_digest_tracks_every_option():
    assert TrainConfig().digest() == TrainConfig().digest()
    assert TrainConfig(lr=0.1).digest() != TrainConfig(lr=0.2).digest()
    assert TrainConfig(seed=0).digest() != TrainConfig(seed=1).digest()


def test_batch_size_larger_than_the_dataset_is_an_error(digits):
    tr, _ = digits
    with pytest.raises(ValueError, match="batch_size"):
        train(mlp(tr, width=16), tr, None, TrainConfig(batch_size=len(tr) + 1))
    # exactly the dataset size is fine: one step per epoch
    r = train(mlp(tr, width=16), tr, None, TrainConfig(batch_size=len(tr), lr=0.01))
    assert r["steps_per_epoch"] == 1 and len(r["first_epoch_losses"]) == 1


# --------------------------------------------------------------------------- checkpoints


KILL_TEST = "test_run_killed_mid_way_resumes_to_identical_numbers"


class Attempt:
    """One try at kill-and-restart: two processes running the *same* command (``--wait``:
    import, load, then wait for "go" on stdin before training). The first is let go and
    killed; the second is the restart, let go only after the kill."""

    def __init__(self, run_dir: Path, data: Path, epochs: int, sleep: float):
        self.run_dir, self.epochs, self.sleep = run_dir, epochs, sleep
        run_dir.mkdir(parents=True)
        cmd = [
            sys.executable, str(HELPER), str(run_dir), "--epochs", str(epochs), "--sleep", str(sleep),
            "--data", str(data), "--wait",
        ]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        self.procs = []
        for name in ("first", "second"):
            with (run_dir / f"{name}.log").open("w") as log:
                self.procs.append(
                    subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=log, stderr=log, env=env, text=True)
                )
        self.first, self.second = self.procs

    @staticmethod
    def go(proc: subprocess.Popen) -> None:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.close()

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def _epochs_done(ckpt: Path) -> int:
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
    except Exception:  # the save is atomic, but never let a poll fail the test
        return 0
    return int(json.loads(state["record"])["epochs_done"])


def _kill_after(proc: subprocess.Popen, ckpt: Path, after: int, timeout: float = 180) -> bool:
    """SIGKILL ``proc`` as soon as its checkpoint holds ``after`` epochs (the file is read
    again only when its mtime changes); False if the process finished (or timed out) first."""
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            stamp = ckpt.stat().st_mtime_ns
        except FileNotFoundError:
            stamp = None
        if stamp is not None and stamp != seen:
            seen = stamp
            if _epochs_done(ckpt) >= after:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return proc.returncode == -signal.SIGKILL
        time.sleep(0.002)
    return False


@pytest.fixture(scope="module", autouse=True)
def prestarted_attempt(request, tmp_path_factory):
    """Start the kill test's two processes when this module starts, so that importing torch
    in them overlaps the other tests (it takes seconds on busy cores). Nothing is started
    when the kill test is not selected."""
    if not any(item.name == KILL_TEST for item in request.session.items):
        yield None
        return
    root = tmp_path_factory.mktemp("resume")
    data = root / "digits.pt"
    helpers_train.save_data(data, *request.getfixturevalue("digits"))
    attempt = Attempt(root / "run0", data, epochs=6, sleep=0.003)  # >= 0.13 s per epoch
    try:
        yield attempt
    finally:
        attempt.stop()


def test_run_killed_mid_way_resumes_to_identical_numbers(digits, tmp_path, prestarted_attempt):
    """A real SIGKILL after >= 2 checkpointed epochs; the same command, run again, resumes
    from the checkpoint (it trains only the remaining epochs) and ends with exactly the
    numbers and weights of an uninterrupted run in another folder."""
    tr, te = digits
    attempt = prestarted_attempt
    for n in range(3):
        if attempt is None:  # a retry (or the fixture did not start one)
            data = tmp_path / "digits.pt"
            helpers_train.save_data(data, tr, te)
            epochs, sleep = (6, 0.003) if n == 0 else (6 + 6 * n, 0.003 * 2**n)  # longer and slower
            attempt = Attempt(tmp_path / f"run{n}", data, epochs, sleep)
        try:
            attempt.go(attempt.first)
            killed = _kill_after(attempt.first, attempt.run_dir / "run.ckpt", after=2)
            done = _epochs_done(attempt.run_dir / "run.ckpt")
            if killed and done < attempt.epochs:
                assert not (attempt.run_dir / "record.json").exists()
                attempt.go(attempt.second)
                attempt.second.wait(timeout=300)
                break
        finally:
            attempt.stop()
        attempt = None  # the run ended before the kill: try again, longer and slower
    else:
        pytest.fail("the helper run finished before it could be killed, three times")
    epochs, run_dir = attempt.epochs, attempt.run_dir
    assert 2 <= done < epochs
    log = (run_dir / "second.log").read_text()
    assert attempt.second.returncode == 0, log
    assert "ignoring checkpoint" not in log
    got = json.loads((run_dir / "record.json").read_text())

    # the uninterrupted run: same model, config and data, in another folder
    model = helpers_train.make_model(tr.in_shape, tr.num_classes)
    cfg = helpers_train.make_config(epochs)
    want = train(model, tr, te, cfg, checkpoint_path=tmp_path / "uninterrupted" / "run.ckpt")
    steps = want["steps_per_epoch"]

    # the restart trained only the epochs after the checkpoint it found (>= `done` of them)
    assert got["train_forwards"] % steps == 0
    assert 0 < got["train_forwards"] <= (epochs - done) * steps
    assert numbers(got["record"]) == numbers(want)
    assert got["record"]["history"] == want["history"] and len(want["history"]) == epochs
    assert got["record"]["final"] == want["final"]
    assert got["weights"] == helpers_train.weights_digest(model)
    assert got["record"]["wall_time_s"] > 0


def test_matching_checkpoint_is_reused_and_other_config_ignored(digits, tmp_path, capsys):
    tr, te = digits
    ckpt = tmp_path / "run.ckpt"
    cfg = TrainConfig(epochs=2, batch_size=64, lr=0.1, checkpoint_every=1)
    first = train(mlp(tr, width=16), tr, te, cfg, checkpoint_path=ckpt, progress=False)
    assert ckpt.exists()
    assert load_checkpoint(ckpt, cfg, model_fingerprint(mlp(tr, width=16))) is not None

    # another init seed of the same architecture: a different starting model, not reused
    assert load_checkpoint(ckpt, cfg, model_fingerprint(mlp(tr, width=16, seed=5))) is None
    assert "ignoring checkpoint" in capsys.readouterr().err

    # same config and model: the finished checkpoint is loaded, nothing left to train, same numbers
    model = mlp(tr, width=16)
    again = train(model, tr, te, cfg, checkpoint_path=ckpt, progress=False)
    assert numbers(again) == numbers(first)
    trained = mlp(tr, width=16)
    trained.load_state_dict(torch.load(ckpt, weights_only=True)["model"])
    assert all(
        torch.equal(a, b) for a, b in zip(model.state_dict().values(), trained.state_dict().values(), strict=True)
    )
    assert "ignoring checkpoint" not in capsys.readouterr().err

    # another lr: the checkpoint is ignored (reported), the run starts from scratch
    other = TrainConfig(epochs=2, batch_size=64, lr=0.05, checkpoint_every=1)
    assert load_checkpoint(ckpt, other, model_fingerprint(mlp(tr, width=16))) is None
    capsys.readouterr()
    resumed = train(mlp(tr, width=16), tr, te, other, checkpoint_path=ckpt, progress=False)
    err = capsys.readouterr().err
    assert "ignoring checkpoint" in err and str(ckpt) in err
    fresh = train(mlp(tr, width=16), tr, te, other, progress=False)
    assert numbers(resumed) == numbers(fresh)
    assert numbers(resumed) != numbers(first)
    # ... and the new run's checkpoint replaced the old one
    assert load_checkpoint(ckpt, other, model_fingerprint(mlp(tr, width=16))) is not None


def test_checkpoint_of_another_width_is_ignored(digits, tmp_path, capsys):
    tr, _ = digits
    ckpt = tmp_path / "run.ckpt"
    cfg = TrainConfig(epochs=1, batch_size=64, lr=0.1, checkpoint_every=1)
    train(mlp(tr, width=16), tr, None, cfg, checkpoint_path=ckpt, progress=False)
    capsys.readouterr()
    r = train(mlp(tr, width=32), tr, None, cfg, checkpoint_path=ckpt, progress=False)
    assert "ignoring checkpoint" in capsys.readouterr().err
    assert same(numbers(r), numbers(train(mlp(tr, width=32), tr, None, cfg, progress=False)))


# --------------------------------------------------------------------------- CLI


def _train_argv(out: Path, *extra: str) -> list[str]:
    return [
        "train", "--family", "mlp", "--arch", ARCH, "--dataset", "digits", "--device", "cpu",
        "--width", "16", "--epochs", "1", "--batch-size", "64", "--lr", "0.1", "--out", str(out), *extra,
    ]  # fmt: skip


def test_cli_train_writes_a_json_record(tmp_path, capsys):
    out = tmp_path / "sub" / "run.json"
    assert cli_main(_train_argv(out, "--checkpoint-every", "1")) == 0
    rec = json.loads(out.read_text())
    assert rec["family"] == "mlp" and rec["arch"] == ARCH and rec["dataset"] == "digits"
    assert rec["lr"] == 0.1 and rec["width"] == 16 and rec["init"] == "release"
    assert rec["diverged"] is False and rec["epochs_done"] == 1
    assert len(rec["first_epoch_losses"]) == rec["steps_per_epoch"] == 1347 // 64
    assert 0 < rec["final"]["test_acc"] <= 1
    assert out.with_suffix(".ckpt").exists()
    line = capsys.readouterr().out.strip()
    assert line.startswith("lr 0.1 diverged False train_loss ")


def test_cli_train_matches_the_library(digits, tmp_path):
    tr, te = digits
    out = tmp_path / "run.json"
    assert cli_main(_train_argv(out)) == 0
    rec = json.loads(out.read_text())
    cfg = TrainConfig(epochs=1, batch_size=64, lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    lib = train(mlp(tr, width=16), tr, te, cfg, progress=False)
    assert rec["history"] == lib["history"]
    assert rec["first_epoch_losses"] == lib["first_epoch_losses"]


BAD_OPTIONS = [
    pytest.param(["--dataset", "cifar"], "cifar", id="unknown-dataset"),
    pytest.param(["--lr", "-1"], "lr", id="negative-lr"),
    pytest.param(["--epochs", "0"], "epochs", id="zero-epochs"),
    pytest.param(["--batch-size", "5000"], "batch_size", id="batch-too-large"),
    pytest.param(["--arch", "2_0_002"], "2_0_002", id="bad-arch"),
    pytest.param(
        ["--device", "cuda"],
        "CUDA",
        id="cuda-without-cuda",
        marks=pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available"),
    ),
]


@pytest.mark.parametrize(("extra", "needle"), BAD_OPTIONS)
def test_cli_train_bad_option_is_one_line_exit_2(tmp_path, capsys, extra, needle):
    out = tmp_path / "run.json"
    assert cli_main(_train_argv(out, *extra)) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("archscale: error: ")
    assert needle in lines[0]
    assert not out.exists()
