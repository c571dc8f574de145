"""Group 8: the same config and seeds give bit-identical result tables on CPU. Two runs of the
small workflow in two copies of the repository (the session's undisturbed run and a second
one) are compared file by file: every CSV under results/ and figures/ (timing columns
dropped), and the rendered tables (.md, .tex) and figures/README.md byte for byte. The second
run (conftest.second_run) runs beside the first, in its own copy and .snakemake folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import TIMING_COLUMNS, read_csv_rows

pytestmark = pytest.mark.slow


def outputs(run: Path, *patterns: str) -> list[str]:
    return sorted(str(p.relative_to(run)) for pattern in patterns for p in run.glob(pattern) if p.is_file())


CSVS = ("results/**/*.csv", "figures/*.csv")
TEXTS = ("figures/*.md", "figures/*.tex")


def test_both_runs_made_the_same_files(undisturbed_run, second_run):
    first = outputs(undisturbed_run, *CSVS, *TEXTS, "figures/*.png", "figures/*.pdf")
    assert first == outputs(second_run, *CSVS, *TEXTS, "figures/*.png", "figures/*.pdf")
    assert {"results/tables/nb201_digits.csv", "figures/table_nb201.csv"} <= set(first)


def test_every_result_table_is_bit_identical(undisturbed_run, second_run):
    files = outputs(undisturbed_run, *CSVS)
    assert len(files) >= 10
    differ = [f for f in files if read_csv_rows(undisturbed_run / f) != read_csv_rows(second_run / f)]
    assert differ == []
    timing = [f for f in files if set(read_csv_rows(undisturbed_run / f, drop=())[0]) & set(TIMING_COLUMNS)]
    assert timing  # the comparison really dropped something: the runs did take different times


def test_rendered_tables_are_byte_identical(undisturbed_run, second_run):
    files = outputs(undisturbed_run, *TEXTS)
    assert "figures/README.md" in files
    assert [f for f in files if (undisturbed_run / f).read_bytes() != (second_run / f).read_bytes()] == []
