"""A small training run for the checkpoint/resume tests, meant to be run (and killed) as a
subprocess:

    python tests/helpers_train.py OUT_DIR --epochs 6 --sleep 0.004 [--data digits.pt] [--wait]

It trains an MLP on ``digits`` (or on the train/test tensors saved by :func:`save_data`, which
spares the process scikit-learn's import) with ``checkpoint_every=1`` (checkpoint ``OUT_DIR/run.ckpt``)
and, when training returns, writes ``OUT_DIR/record.json``: the training record, the number
of training-mode forward passes this process ran (so a test can tell a resumed run from a
fresh one) and a digest of the final weights. ``--sleep`` adds a pause before every forward
pass (a pre-hook: no effect on the numbers) so a test can kill the run between epochs.
``--wait`` makes the process import and load everything, then wait for a line on stdin
before it starts training: a test can start the process that will "restart" a killed run
while the first one is still running, and pay torch's import time only once.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import sys
import time
from pathlib import Path

import torch

ARCH = "2_02_002"
WIDTH = 32
LR = 0.05
BATCH_SIZE = 32


def make_model(in_shape: tuple[int, int, int], num_classes: int, *, width: int = WIDTH, seed: int = 0):
    from archscale.models import build_model

    return build_model("mlp", ARCH, width=width, num_classes=num_classes, in_shape=in_shape, seed=seed)


def make_config(epochs: int, **overrides):
    from archscale.train import TrainConfig

    kw = {"epochs": epochs, "batch_size": BATCH_SIZE, "lr": LR, "checkpoint_every": 1, "seed": 0}
    kw.update(overrides)
    return TrainConfig(**kw)


def save_data(path, train_data, test_data) -> None:
    torch.save({"train": (train_data.x, train_data.y), "test": (test_data.x, test_data.y)}, path)


def load_data(path):
    from archscale.data import DATASETS, TensorData

    saved = torch.load(path, weights_only=True)
    n = DATASETS["digits"].num_classes
    return tuple(TensorData(x=saved[s][0], y=saved[s][1], num_classes=n, name="digits") for s in ("train", "test"))


def weights_digest(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("out_dir")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--data", default=None, help="tensors written by save_data (default: load digits)")
    p.add_argument("--sleep", type=float, default=0.0, help="seconds to pause before each forward pass")
    p.add_argument("--wait", action="store_true", help="read a line from stdin before training")
    a = p.parse_args(argv)

    torch.set_num_threads(1)  # same arithmetic in every process, and no oversubscription
    from archscale.data import load_dataset
    from archscale.train import train

    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if a.data:
        tr, te = load_data(a.data)
    else:
        tr, te = load_dataset("digits", split="train"), load_dataset("digits", split="test")
    model = make_model(tr.in_shape, tr.num_classes)
    forwards = [0]

    def pre_hook(module, args):
        if module.training:
            forwards[0] += 1
        if a.sleep:
            time.sleep(a.sleep)

    model.register_forward_pre_hook(pre_hook)
    if a.wait:
        importlib.import_module("torch._dynamo")  # the optimiser's first step imports it: pay that now

        sys.stdin.readline()
    record = train(model, tr, te, make_config(a.epochs), checkpoint_path=out / "run.ckpt", progress=False)
    result = {"record": record, "train_forwards": forwards[0], "weights": weights_digest(model)}
    (out / "record.json").write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
