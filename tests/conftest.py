"""Fixtures shared by the test modules."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from workflow_copy import copy_workflow, snakemake


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a module's training tests: on 2 shared cores torch's default of 2
    threads is many times slower, and subprocess runs use 1 thread too (same arithmetic)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """One complete run of the real workflow on config/tiny.yaml in a copy of the repository,
    shared by the end-to-end tests. The scripts Snakemake generates for its jobs are kept
    (``--skip-script-cleanup``): tests/test_conda_envs.py re-runs them in deployed envs."""
    work = copy_workflow(tmp_path_factory.mktemp("wf"))
    snakemake(work, "--skip-script-cleanup")
    return work
