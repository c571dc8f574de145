"""Group 10: files and configs are untrusted.

* A checkpoint is loaded with ``weights_only=True``: one that carries a pickled object with a
  payload is refused (reported, training starts over) and the payload never runs.
* A dataset pickle is unpickled only after its md5 matches the published one (torchvision's
  check for CIFAR, the same for ImageNet16): a file with a payload is refused, never run.
* A checkpoint of another version, config or initial model is ignored (the config digest and
  model fingerprint cases are in tests/test_train.py); in the workflow, a changed config
  re-runs the job and its old checkpoints are ignored, not resumed.
* Nothing in a config is ever evaluated: no eval/exec/compile, unsafe YAML or pandas
  eval/query in the Snakefile, rules, workflow scripts or library."""

from __future__ import annotations

import io
import math
import os
import pickle
import tokenize
from pathlib import Path

import pytest
import torch

from archscale import train as T
from archscale.data import DatasetError, load_dataset
from archscale.models import build_model
from archscale.train import TrainConfig, load_checkpoint, model_fingerprint, train

from .helpers import NB_TARGET, REPO, read_csv_rows, snakemake, write_config


class Payload:
    """Unpickling this creates the folder ``marker``: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


@pytest.fixture(scope="module")
def digits():
    torch.set_num_threads(1)
    return load_dataset("digits", split="train"), load_dataset("digits", split="test")


def mlp(data, seed: int = 0):
    return build_model("mlp", "2_02_002", width=16, num_classes=10, in_shape=data.in_shape, seed=seed)


def numbers(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "wall_time_s"}


def test_checkpoint_with_a_pickled_payload_is_refused(digits, tmp_path, capsys):
    tr, te = digits
    cfg = TrainConfig(epochs=2, batch_size=64, lr=0.1, checkpoint_every=1)
    marker, ckpt = tmp_path / "payload-ran", tmp_path / "run.ckpt"
    meta = T._checkpoint_meta(cfg, model_fingerprint(mlp(tr)))  # even with matching metadata
    torch.save({"meta": meta, "model": Payload(marker), "record": "{}"}, ckpt)
    assert load_checkpoint(ckpt, cfg, meta["model"]) is None
    assert "ignoring unreadable checkpoint" in capsys.readouterr().err
    got = train(mlp(tr), tr, te, cfg, checkpoint_path=ckpt, progress=False)
    assert not marker.exists()
    assert numbers(got) == numbers(train(mlp(tr), tr, te, cfg, progress=False))  # started over
    assert load_checkpoint(ckpt, cfg, meta["model"]) is not None  # and replaced the bad file


def test_checkpoint_of_another_version_is_ignored(digits, tmp_path, monkeypatch, capsys):
    tr, _ = digits
    cfg = TrainConfig(epochs=1, batch_size=64, lr=0.1, checkpoint_every=1)
    ckpt = tmp_path / "run.ckpt"
    with monkeypatch.context() as m:
        m.setattr(T, "__version__", "0.0.1-older")
        train(mlp(tr), tr, None, cfg, checkpoint_path=ckpt, progress=False)
    assert load_checkpoint(ckpt, cfg, model_fingerprint(mlp(tr))) is None
    err = capsys.readouterr().err
    assert "ignoring checkpoint" in err and "0.0.1-older" in err


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "imagenet16-120"])
def test_dataset_pickle_is_not_unpickled_before_its_md5_matches(tmp_path, name):
    from archscale.dataset_info import DATASETS

    marker = tmp_path / "payload-ran"
    info = DATASETS[name]
    folder = tmp_path / str(info.subdir)
    folder.mkdir()
    for f in info.files:  # every file the dataset needs, each carrying the payload
        (folder / f).write_bytes(pickle.dumps({"data": Payload(marker), "labels": [0]}, protocol=2))
    for split in ("test", "train"):
        with pytest.raises(DatasetError) as e:
            load_dataset(name, tmp_path, split)
        assert "failed its md5 check" in str(e.value) and str(folder) in str(e.value)
    assert not marker.exists()


@pytest.mark.slow
def test_changed_config_reruns_and_ignores_old_checkpoints(killed_run):
    """After the killed run was resumed and finished: a new NB201 rate. Snakemake re-runs the
    job (its params changed) and the job ignores every checkpoint of the old config."""
    from .helpers import faults_config

    work = killed_run["work"]
    old = read_csv_rows(work / NB_TARGET)
    cfg = faults_config()
    cfg["nb201"]["lr"] = 0.05
    write_config(work, cfg)
    snakemake(work, NB_TARGET)
    log = (work / "logs/train_nb201/digits/standard/shard0.log").read_text()
    assert log.count("ignoring checkpoint") == 2, log  # both (cell, seed) checkpoints: other config
    head, rows = read_csv_rows(work / NB_TARGET)
    assert {r[head.index("lr")] for r in rows} == {"0.05"} and rows != old[1]
    assert all(math.isfinite(float(r[head.index("test_acc")])) for r in rows)


# --------------------------------------------------------------------------- nothing is evaluated

#: Builtins that run text as code.
BUILTINS = {"eval", "exec", "compile", "__import__"}
#: Methods that evaluate strings (pandas' DataFrame.query/eval, pd.eval) or load unsafe YAML.
METHODS = {"query", "unsafe_load", "full_load", "unsafe_load_all"}
SOURCES = ["Snakefile", "rules/*.smk", "workflow/**/*.py", "src/archscale/**/*.py"]


def evaluating_calls(path: Path, root: Path = REPO) -> list[str]:
    """Calls that would evaluate text as code, in Python or Snakemake source, found by tokens
    (comments and strings do not count): eval/exec/compile/__import__, .query(...),
    .eval(<anything>) (pandas; torch's model.eval() takes nothing), yaml.load without a safe
    loader, yaml.unsafe_load/full_load."""
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(path.read_text()).readline) if t.type != tokenize.NL]
    found = []
    for i, t in enumerate(tokens[:-2]):
        if t.type != tokenize.NAME or tokens[i + 1].string != "(":
            continue
        method = i > 0 and tokens[i - 1].string == "."
        owner = tokens[i - 2].string if method else ""
        bad = (
            (not method and t.string in BUILTINS)
            or (method and t.string in METHODS)
            or (method and t.string == "eval" and tokens[i + 2].string != ")")
            or (
                method
                and owner == "yaml"
                and t.string in ("load", "load_all")
                and "SafeLoader" not in "".join(x.string for x in tokens[i : i + 20])
            )
        )
        if bad:
            found.append(f"{path.relative_to(root)}:{t.start[0]}: {t.line.strip()}")
    return found


def test_nothing_in_a_config_is_evaluated():
    files = sorted({p for pattern in SOURCES for p in REPO.glob(pattern)})
    assert len(files) > 20
    assert [hit for f in files for hit in evaluating_calls(f)] == []


def test_the_scan_finds_evaluation(tmp_path):
    """The scanner on a real Snakemake file plus two evaluating lines (a comment does not count)."""
    fake = tmp_path / "probe.smk"
    text = (REPO / "rules" / "common.smk").read_text()
    extra = [
        "x = eval(config['lr'])  # eval( in a comment is fine",
        "y = yaml.load(fh)",
        "z = df.query(config['filter'])",
        "model.eval()",
        "w = yaml.load(fh, Loader=yaml.SafeLoader)",
        "v = re.compile('a+')",
    ]
    fake.write_text(text + "\n" + "\n".join(extra) + "\n")
    n = text.count("\n")
    assert [h.split(":")[1] for h in evaluating_calls(fake, tmp_path)] == [str(n + k) for k in (2, 3, 4)]
