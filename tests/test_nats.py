"""NATS-Bench published accuracies: a tiny benchmark folder in the real simple format (written
here with nats_bench's own ResultsCount/ArchResults and pickle_save, as the authors' collect
script does) is read back by the real ``nats_bench.create``; no mocks."""

from __future__ import annotations

import collections
import math
import shutil

import numpy as np
import pytest

from archscale.graphs import NB201_EXAMPLE
from archscale.nats import (
    BENCHMARK_NAME,
    N_CELLS,
    SEEDS,
    benchmark_archs,
    check_path,
    open_benchmark,
    published_accuracy,
    published_seeds,
    published_table,
)

nats_bench = pytest.importorskip("nats_bench")

# The authors' own checks of their index order (AutoDL-Projects exps/NATS-Bench/tss-collect.py).
AUTHORS_ORDER = {
    0: "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    9: "|avg_pool_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|",
    123: "|avg_pool_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|",
}
#: Cells of the tiny folder and the seeds each has at 200 epochs (index 9 lacks 999, as some
#: cells of the real benchmark lack a seed).
CELLS = {0: SEEDS, 1: SEEDS, 9: (777, 888), 123: SEEDS}
#: Eval sets per NATS-Bench dataset, as tss-collect.py writes them.
EVAL_SETS = {
    "cifar10-valid": ("x-valid", "ori-test"),
    "cifar10": ("ori-test",),
    "cifar100": ("x-valid", "x-test", "ori-test"),
    "ImageNet16-120": ("x-valid", "x-test", "ori-test"),
}
CLASSES = {"cifar10-valid": 10, "cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}


def final_acc(index: int, dataset: str, seed: int, setname: str, hp: str) -> float:
    """A distinct, known final accuracy per trial; ori-test is the mean of the two halves
    (x-valid, x-test) for cifar100/ImageNet16-120, as in the real benchmark."""
    ds = list(EVAL_SETS).index(dataset)
    base = 40.0 + 0.1 * index + 7.0 * ds + 0.37 * (seed - 777) / 111 + (0.0 if hp == "200" else -20.0)
    if setname == "ori-test" and len(EVAL_SETS[dataset]) == 3:
        return (final_acc(index, dataset, seed, "x-valid", hp) + final_acc(index, dataset, seed, "x-test", hp)) / 2
    return base + {"train": 30.0, "x-valid": 1.25, "x-test": -1.75, "ori-test": 0.5}[setname]


def results_count(index: int, arch: str, dataset: str, seed: int, hp: str):
    """One trial, built like tss-collect.py's ``create_result_count`` (new-format branch)."""
    epochs = int(hp)
    ramp = [(i + 1) / epochs for i in range(epochs)]
    train_accs = {i: final_acc(index, dataset, seed, "train", hp) * r for i, r in enumerate(ramp)}
    train_losses = {i: 2.0 - r for i, r in enumerate(ramp)}
    arch_config = {"channel": 16, "num_cells": 5, "arch_str": arch, "class_num": CLASSES[dataset]}
    rc = nats_bench.ResultsCount(
        dataset, None, train_accs, train_losses, 0.8, 100.0, arch_config, str(seed), epochs, None
    )
    rc.update_train_info(train_accs, {i: 99.0 for i in range(epochs)}, train_losses, {i: 10.0 for i in range(epochs)})
    accs, losses, times = {}, {}, {}
    for name in EVAL_SETS[dataset]:
        for i, r in enumerate(ramp):
            accs[f"{name}@{i}"] = final_acc(index, dataset, seed, name, hp) * r
            losses[f"{name}@{i}"] = 2.0 - r
            times[f"{name}@{i}"] = 1.0
    rc.update_eval(accs, losses, times)
    rc.update_latency([0.01])
    return rc


def write_cell(folder, index: int, arch: str) -> None:
    hp2state = collections.OrderedDict()
    for hp in ("12", "200"):
        info = nats_bench.ArchResults(index, arch)
        for dataset in EVAL_SETS:
            for seed in CELLS[index] if hp == "200" else SEEDS:
                info.update(dataset, seed, results_count(index, arch, dataset, seed, hp))
        info.clear_params()
        hp2state[hp] = info.state_dict()
    nats_bench.pickle_save(hp2state, str(folder / f"{index:06d}.pickle"))


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory):
    """A NATS-tss-v1_0-3ffb9-simple folder with 4 of the 15,625 cells (meta lists all)."""
    folder = tmp_path_factory.mktemp("nats") / BENCHMARK_NAME
    folder.mkdir()
    archs = benchmark_archs()
    meta = {"meta_archs": archs, "total_archs": len(archs), "arch2infos": None, "evaluated_indexes": set()}
    nats_bench.pickle_save(meta, str(folder / "meta.pickle"))
    for index in CELLS:
        write_cell(folder, index, archs[index])
    return folder


@pytest.fixture(scope="module")
def api(bench_dir):
    return open_benchmark(bench_dir)


def mean(xs):
    return sum(xs) / len(xs)


def test_benchmark_order_matches_the_authors_checks():
    archs = benchmark_archs()
    assert len(archs) == len(set(archs)) == N_CELLS
    for index, arch in AUTHORS_ORDER.items():
        assert archs[index] == arch
    assert archs.index(NB201_EXAMPLE) == 1  # the NAS-Bench-201 README's example cell


def test_real_loader_reads_the_folder_and_maps_indices(api):
    assert len(api) == N_CELLS
    for index, arch in AUTHORS_ORDER.items():
        assert api.query_index_by_arch(arch) == index
    assert api.query_index_by_arch(NB201_EXAMPLE) == 1
    assert api.get_more_info(1, "cifar100", hp="200", is_random=False)["valtest-accuracy"] == pytest.approx(
        mean([final_acc(1, "cifar100", s, "ori-test", "200") for s in SEEDS])
    )


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100", "imagenet16-120", "ImageNet16-120"])
def test_mean_and_per_seed_accuracy(api, dataset):
    nats = {"cifar10": "cifar10", "cifar100": "cifar100"}.get(dataset, "ImageNet16-120")
    for index in CELLS:
        arch = benchmark_archs()[index]
        want = {s: final_acc(index, nats, s, "ori-test", "200") for s in CELLS[index]}
        assert published_accuracy(api, arch, dataset) == pytest.approx(mean(list(want.values())))
        for seed, acc in want.items():
            assert published_accuracy(api, arch, dataset, seed=seed) == pytest.approx(acc)
        assert published_accuracy(api, arch, dataset, seed=np.int64(777)) == pytest.approx(want[777])


def test_whole_test_set_keys(api):
    """cifar100/ImageNet16-120: valtest (ori-test, whole), not test (x-test, half); cifar10:
    the cifar10 runs' ori-test, not cifar10-valid's."""
    arch = AUTHORS_ORDER[123]
    got = published_accuracy(api, arch, "cifar100", seed=888)
    assert got == pytest.approx(final_acc(123, "cifar100", 888, "ori-test", "200"))
    half = api.get_more_info(123, "cifar100", hp="200", is_random=888)["test-accuracy"]
    assert half == pytest.approx(final_acc(123, "cifar100", 888, "x-test", "200")) and half != pytest.approx(got)
    c10 = published_accuracy(api, arch, "cifar10", seed=777)
    assert c10 == pytest.approx(final_acc(123, "cifar10", 777, "ori-test", "200"))
    assert c10 != pytest.approx(final_acc(123, "cifar10-valid", 777, "ori-test", "200"))


def test_table_is_tidy_and_marks_missing_seeds(api):
    archs = [AUTHORS_ORDER[9], NB201_EXAMPLE]
    table = published_table(api, archs, ["cifar100", "cifar10"])
    assert len(table) == 2 * 2 * (1 + len(SEEDS))
    assert list(table.columns) == ["arch", "index", "dataset", "nats_dataset", "seed", "accuracy", "key", "n_seeds"]
    assert set(table["index"]) == {9, 1}
    keys = dict(zip(table["dataset"], table["key"], strict=True))
    assert keys == {"cifar100": "valtest-accuracy", "cifar10": "test-accuracy"}
    row = table[(table["index"] == 9) & (table["dataset"] == "cifar100")].set_index("seed")
    assert row.loc["mean", "n_seeds"] == 2 and row.loc[999, "n_seeds"] == 0 and math.isnan(row.loc[999, "accuracy"])
    assert row.loc["mean", "accuracy"] == pytest.approx(mean([row.loc[777, "accuracy"], row.loc[888, "accuracy"]]))
    assert 9 not in api.arch2infos_dict  # released after reading
    assert published_seeds(api, AUTHORS_ORDER[9], "cifar100") == (777, 888)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda api: published_accuracy(api, NB201_EXAMPLE, "mnist"), r"no published accuracies for dataset 'mnist'"),
        (lambda api: published_accuracy(api, AUTHORS_ORDER[9], "cifar10", seed=999), r"no seed 999 .* has 777, 888"),
        (lambda api: published_accuracy(api, NB201_EXAMPLE, "cifar10", seed=True), r"seed must be an int"),
        (lambda api: published_accuracy(api, "|conv~0|", "cifar10"), r"NAS-Bench-201"),
        (
            lambda api: published_accuracy(api, benchmark_archs()[2], "cifar10"),
            r"not a complete NATS-tss-v1_0-3ffb9-simple folder: missing 000002\.pickle\.pbz2",
        ),
        (lambda api: published_table(api, [NB201_EXAMPLE], ["svhn"]), r"dataset 'svhn'"),
    ],
)
def test_query_errors_are_one_line(api, call, match):
    with pytest.raises(ValueError, match=match) as err:
        call(api)
    assert "\n" not in str(err.value)


def bad_folder(tmp_path, kind: str):
    p = tmp_path / kind
    if kind == "missing":
        return p
    if kind == "file":
        p = tmp_path / "NATS-tss-v1_0-3ffb9-simple.tar"
        p.write_bytes(b"not a folder")
        return p
    p.mkdir()
    if kind == "cifar":  # a folder holding something else
        (p / "data_batch_1").write_bytes(b"\x80\x04")
    elif kind == "parent":
        (p / BENCHMARK_NAME).mkdir()
    elif kind == "not-bz2":
        (p / "meta.pickle.pbz2").write_bytes(b"\x80\x04 plain pickle")
    elif kind == "no-cells":
        nats_bench.pickle_save({"meta_archs": []}, str(p / "meta.pickle"))
    elif kind == "sss":
        nats_bench.pickle_save({"meta_archs": []}, str(p / "meta.pickle"))
        (p / "032767.pickle.pbz2").write_bytes(b"BZh")
    elif kind == "short-meta":
        nats_bench.pickle_save(
            {"meta_archs": ["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"]}, str(p / "meta.pickle")
        )
        (p / "000000.pickle.pbz2").write_bytes(b"BZh")
    elif kind == "bad-meta":
        nats_bench.pickle_save({"something": 1}, str(p / "meta.pickle"))
        (p / "000000.pickle.pbz2").write_bytes(b"BZh")
    return p


@pytest.mark.parametrize(
    ("kind", "match", "cheap"),
    [
        ("missing", r"is not a NATS-tss-v1_0-3ffb9-simple folder: it does not exist; download it", True),
        ("file", r"it is a file \(an archive\? extract it with `tar xf`\), not a folder", True),
        ("cifar", r"is not a NATS-tss-v1_0-3ffb9-simple folder: missing meta\.pickle\.pbz2; download it", True),
        ("parent", r"missing meta\.pickle\.pbz2 \(it holds NATS-tss-v1_0-3ffb9-simple/: pass that folder\)", True),
        ("not-bz2", r"meta\.pickle\.pbz2 is not a bz2 file", True),
        ("no-cells", r"no per-cell files", True),
        ("sss", r"032767\.pickle\.pbz2, beyond the topology space's 15625 cells", True),
        ("short-meta", r"lists 1 architectures, expected 15625", False),
        ("bad-meta", r"cannot read meta\.pickle\.pbz2 \(KeyError", False),
    ],
)
def test_path_errors_are_one_line_and_name_the_path(tmp_path, kind, match, cheap):
    p = bad_folder(tmp_path, kind)
    calls = [check_path, open_benchmark] if cheap else [open_benchmark]
    for call in calls:
        with pytest.raises(ValueError, match=match) as err:
            call(p)
        assert str(p) in str(err.value) and "\n" not in str(err.value)
    if not cheap:
        assert check_path(p) == p  # names look right; only the loader finds the content wrong


def test_check_path_accepts_the_folder_without_unpickling(bench_dir, tmp_path, monkeypatch):
    copy = tmp_path / BENCHMARK_NAME
    shutil.copytree(bench_dir, copy)
    monkeypatch.setattr("pickle.load", lambda *a, **k: pytest.fail("check_path unpickled a file"))
    assert check_path(str(copy)) == copy
