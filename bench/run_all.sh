#!/usr/bin/env bash
# Every CPU benchmark at its defaults (each about a minute or less on 2 busy cores), one after
# the other so they never compete for the cores. Prints to stdout; nothing passes or fails on
# time (a non-zero exit means a script broke). Usage: bench/run_all.sh [extra flags for every script]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-}
if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
export PYTHONUNBUFFERED=1
run() { local t0=$SECONDS; echo; echo "+ $PY $*"; "$PY" "$@"; echo "   (wall $((SECONDS - t0)) s)"; }
run bench/bench_trainer.py --device cpu --workload digits-mlp "$@"
run bench/bench_trainer.py --device cpu --workload nb201 "$@"
run bench/bench_grid.py --device cpu --workload digits-mlp "$@"
run bench/bench_grid.py --device cpu --workload digits-cnn "$@"
run bench/bench_grouped_conv.py --device cpu "$@"
