#!/usr/bin/env bash
# ONE prepared GPU check for a session that is lent a CUDA machine: both benchmarks on CUDA,
# NAS-Bench-201 at C=16 N=5, batch 256, the K=8 grid on the NB201 base cell. Everything goes to
# stdout. Each run has its own time cap and the whole script stops starting runs after
# $BUDGET_S seconds (default 330), so it ends well inside 6 minutes on an H200 even if a run is
# slower than expected; the most important runs come first.
#
#   bench/gpu_check.sh                  # from the repository root, or from anywhere
#   PYTHON=/path/to/python bench/gpu_check.sh
#
# Through the device tool (repo root, archscale not installed there; its python3 has torch,
# torchvision, numpy, pandas, scikit-learn, tqdm):
#   run(command="bash bench/gpu_check.sh 2>&1 | tee $OUT/gpu_check.log", timeout_s=420)
set -uo pipefail
cd "$(dirname "$0")/.."
BUDGET_S=${BUDGET_S:-330}
PY=${PYTHON:-}
if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ] && .venv/bin/python -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' 2>/dev/null
    then PY=.venv/bin/python; else PY=python3; fi
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"  # archscale from this checkout if not installed
export PYTHONUNBUFFERED=1
start=$SECONDS
echo "== gpu_check $(date -u '+%Y-%m-%d %H:%M UTC') on $(hostname); python: $PY"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv 2>&1 || true
"$PY" -c 'import torch, torchvision, archscale, os; print("torch", torch.__version__, "torchvision", torchvision.__version__, "archscale", archscale.__file__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else "-", "cpus", os.cpu_count())'
run() {  # run CAP_S ARGS...: cap the run at CAP_S seconds and at what is left of the budget
    local cap=$1; shift
    local left=$((BUDGET_S - (SECONDS - start)))
    if [ "$left" -lt 20 ]; then echo; echo "-- skipped (budget spent): $*"; return; fi
    [ "$cap" -gt "$left" ] && cap=$left
    echo; echo "+ [cap ${cap}s, t=$((SECONDS - start))s] $PY $*"
    timeout "$cap" "$PY" "$@"; local rc=$?
    [ $rc -ne 0 ] && echo "!! exit $rc (124 = hit its time cap)"
    return 0
}
# 1. archscale train() vs DataLoader reference: NB201 example cell C=16 N=5, batch 256, 100 steps,
#    augmentation on both sides; archscale at its CUDA default (bf16 autocast, channels_last).
run 80 bench/bench_trainer.py --device cuda --workload nb201
# 2. the same with archscale in fp32, so the ratio is not a precision difference.
run 60 bench/bench_trainer.py --device cuda --workload nb201 --precision fp32
# 3. batched K=8 grid vs 8 sequential train() runs, NB201 base cell C=16 N=5, batch 256, 50 steps.
run 80 bench/bench_grid.py --device cuda --workload nb201-base
# 4. the small digits workloads on CUDA (launch/overhead-bound).
run 40 bench/bench_grid.py --device cuda --workload digits-mlp
run 40 bench/bench_grid.py --device cuda --workload digits-cnn
run 30 bench/bench_trainer.py --device cuda --workload digits-mlp
# 5. reference sensitivity: more DataLoader workers (the machine has more cores than 2).
run 45 bench/bench_trainer.py --device cuda --workload nb201 --num-workers 8 --repeats 2
# 6. the grid's engines compared: the old vmap engine on the NB201 base cell; one conv layer.
run 60 bench/bench_grid.py --device cuda --workload nb201-base --engine vmap
run 30 bench/bench_grouped_conv.py --device cuda --preset nb201
echo; echo "== gpu_check done in $((SECONDS - start)) s"
