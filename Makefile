# Two commands do everything on a fresh machine (set-up included):
#   make run    the workflow on the embedded default config (offline, CPU)
#   make test   lint + the whole test suite
# The virtual environment is rebuilt only when pyproject.toml changes.
VENV   ?= .venv
PYTHON ?= $(shell command -v python3.11 || command -v python3)
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.archscale-installed
CORES  ?= all

.PHONY: setup run test report clean-results
setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "archscale needs Python >= 3.11 (Snakemake 9 does); set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[workflow,nats,mup,slurm,test]'
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/snakemake --cores $(CORES)

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/snakemake --lint
	$(PY) -m pytest

report: $(STAMP)
	$(VENV)/bin/snakemake --report report.html

clean-results:
	rm -rf results logs benchmarks
