"""Group 7: out of device memory. There is no GPU here, so a module raises the real
``torch.OutOfMemoryError`` from its forward (in training, in evaluation, inside the vmapped
grid search): the error becomes one line naming the batch size and the option to lower it.
Snakemake ``retries`` with a halved batch size are opt-in (``nb201.oom_retries``; README,
"Determinism, faults and troubleshooting")."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from archscale.cli import main as cli_main
from archscale.data import load_dataset
from archscale.lr_search import batched_sweep
from archscale.train import TrainConfig, train

OOM_TEXT = "CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has a total capacity of 79.10 GiB"


class OutOfMemoryNet(nn.Module):
    """A small MLP whose forward runs out of device memory (in ``when``: train, eval or both)."""

    def __init__(self, when: str = "both"):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
        self.when = when

    def forward(self, x):
        if self.when == "both" or (self.when == "train") == self.training:
            raise torch.OutOfMemoryError(OOM_TEXT)
        return self.net(x)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", split="train"), load_dataset("digits", split="test")


def assert_oom_message(err: BaseException, batch: int) -> None:
    msg = str(err)
    assert "\n" not in msg
    assert f"batch_size {batch}" in msg and "lower batch_size" in msg, msg
    assert isinstance(err.__cause__, torch.OutOfMemoryError)


@pytest.mark.parametrize("when", ["train", "eval"])
def test_training_oom_names_the_batch_size(digits, when):
    tr, te = digits
    with pytest.raises(RuntimeError) as e:
        train(OutOfMemoryNet(when), tr, te, TrainConfig(epochs=1, batch_size=96, lr=0.1), progress=False)
    assert_oom_message(e.value, 96)


def test_grid_search_oom_names_the_batch_size(digits):
    tr, _ = digits
    with pytest.raises(RuntimeError) as e:
        batched_sweep(OutOfMemoryNet(), tr, [0.1, 1.0], TrainConfig(batch_size=48, lr=1.0), steps=2)
    assert_oom_message(e.value, 48)


def test_cli_oom_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    import archscale.models

    monkeypatch.setattr(archscale.models, "build_model", lambda *a, **k: OutOfMemoryNet())
    out = tmp_path / "run.json"
    argv = ["train", "--family", "mlp", "--arch", "2_02_002", "--dataset", "digits", "--device", "cpu",
            "--epochs", "1", "--batch-size", "64", "--lr", "0.1", "--out", str(out)]  # fmt: skip
    assert cli_main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("archscale: error: out of device memory at batch_size 64"), err
    assert "--batch-size" in err[0]
    assert not out.exists()
