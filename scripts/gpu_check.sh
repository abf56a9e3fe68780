#!/usr/bin/env bash
# The GPU engine checked and measured on a machine with an NVIDIA GPU, in one bounded run.
#
#     bash scripts/gpu_check.sh OUT_DIR [WHEEL_DIR]
#
# Run from the repository root; nothing is installed from a package registry. WHEEL_DIR, if
# given, holds wheels installed first into a private folder put before the checkout on
# PYTHONPATH (for a machine whose Python lacks a package, or has a numpy that numba-cuda cannot
# import: see the gpu extra's pins in pyproject.toml). Each step is bounded in time, the whole
# by BUDGET seconds (default 360); a step that would start with too little left is skipped and
# says so. Every step's output goes to OUT_DIR/<step>.log, and OUT_DIR/summary.txt has one line
# per step (exit status and seconds). The steps, most important first:
#
#   env        Python, numpy, numba, numba-cuda, CuPy and the GPU's name
#   tests      pytest -m gpu: both kernels equal the CPU engine output for output, and the
#              queue across rounds on the GPU equals the CPU engine's, round by round
#   simulate   lis1abm simulate --reps 1000000 on cuda and on cpu, compared row for row
#   bench      lis1abm bench: replications per second, GPU and CPU in the same run
#   profile    scripts/gpu_compare.py --profile --tune: cycles by phase, launch settings
#   resources  scripts/kernel_resources.py: registers, spills, occupancy
set -u
out=${1:?usage: scripts/gpu_check.sh OUT_DIR [WHEEL_DIR]}
wheels=${2:-}
budget=${BUDGET:-360}
mkdir -p "$out"
out=$(cd "$out" && pwd)
: >"$out/summary.txt"
export PYTHONUNBUFFERED=1
path="$PWD"
if [ -n "$wheels" ]; then
    site=$(mktemp -d)
    python3 -m pip install -q --no-index --no-deps --no-compile --target "$site" "$wheels"/*.whl \
        >"$out/wheels.log" 2>&1 || { echo "wheels: install failed" >>"$out/summary.txt"; exit 1; }
    path="$site:$path"
fi
export PYTHONPATH="$path${PYTHONPATH:+:$PYTHONPATH}"
began=$(date +%s)

# step NAME LIMIT COMMAND...: run COMMAND with at most LIMIT seconds (fewer if the budget is
# nearly spent), its output to NAME.log, a line to summary.txt.
step() {
    local name=$1 limit=$2 left start rc
    shift 2
    left=$((budget - ($(date +%s) - began)))
    if [ "$left" -lt 20 ]; then
        echo "$name: skipped, ${left} s of the budget left" | tee -a "$out/summary.txt"
        return
    fi
    [ "$limit" -gt "$left" ] && limit=$left
    start=$(date +%s)
    timeout "$limit" "$@" >"$out/$name.log" 2>&1
    rc=$?
    echo "$name: exit $rc in $(($(date +%s) - start)) s (limit $limit s)" | tee -a "$out/summary.txt"
}

step env 30 python3 -c "
import sys, numpy, numba, numba.cuda, cupy
from lis1abm.engine.cuda import gpu_status
print('python', sys.version.split()[0], 'numpy', numpy.__version__, 'numba', numba.__version__)
print('numba-cuda', getattr(numba.cuda, '__version__', '?'), 'cupy', cupy.__version__)
print('gpu', gpu_status())
"
step tests 150 python3 -m pytest -m gpu -q -p no:cacheprovider tests/test_cuda.py tests/test_cuda_block.py tests/test_queue.py
step simulate_cuda 60 python3 -m lis1abm.cli simulate --reps 1000000 --backend cuda --json \
    --out "$out/simulate_cuda"
step simulate_cpu 120 python3 -m lis1abm.cli simulate --reps 1000000 --backend cpu --json \
    --out "$out/simulate_cpu"
step simulate_compare 20 python3 -c "
import json, sys
cuda, cpu = (json.load(open(f'$out/simulate_{b}/meta.json')) for b in ('cuda', 'cpu'))
import pandas as pd
a, b = (pd.read_parquet(f'$out/simulate_{x}/comparison.parquet') for x in ('cuda', 'cpu'))
keep = [c for c in a.columns if c not in ('backend',)]
same_rows = a[keep].reset_index(drop=True).equals(b[keep].reset_index(drop=True))
same_cascade = cuda['cascade'] == cpu['cascade']
print(f'rows: {len(a)}; equal: {same_rows}; cascade equal: {same_cascade}')
sys.exit(0 if same_rows and same_cascade else 1)
"
step bench 120 python3 -m lis1abm.cli bench --save-dir "$out/bench"
step profile 150 python3 scripts/gpu_compare.py --reps 1048576 --profile --tune
step resources 60 python3 scripts/kernel_resources.py
echo "total: $(($(date +%s) - began)) s" | tee -a "$out/summary.txt"
