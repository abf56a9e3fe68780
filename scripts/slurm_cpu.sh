#!/bin/bash
# An experiment or a calibration on SLURM CPU nodes: a Dask scheduler on the first node, one
# single-threaded Dask worker per core on every node of the allocation, and lis1abm connected
# to the scheduler.
#
#   sbatch scripts/slurm_cpu.sh experiment calendar --reps 100000 --out results
#   sbatch scripts/slurm_cpu.sh calibrate --out results/calibration
#
# Run it from the checkout, with its .venv on a file system every node sees: the parts
# (experiments) and the study's journal (calibration) are written there by the job's first
# node. When the job reaches its time limit, everything is killed; submit the same line again
# and the run resumes (finished parts are kept, the study continues: `calibrate` is always
# given --resume here, which starts a study if there is none).
#
# Adapt the lines below to the site (partition, account, cores per node).
#SBATCH --job-name=lis1abm-cpu
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=32
#SBATCH --cpus-per-task=1
#SBATCH --mem-per-cpu=2G
#SBATCH --time=04:00:00
#SBATCH --output=lis1abm-cpu-%j.out
set -euo pipefail

command=${1:?usage: sbatch scripts/slurm_cpu.sh experiment|calibrate ARGS...}
shift
source .venv/bin/activate
# One core per worker: numba runs one thread per task, so the workers fill the cores exactly.
export NUMBA_NUM_THREADS=1
scheduler_file=".dask-scheduler-${SLURM_JOB_ID}.json"

dask scheduler --scheduler-file "$scheduler_file" --no-dashboard &
scheduler=$!
while [ ! -s "$scheduler_file" ]; do sleep 1; done
address=$(python -c 'import json, sys; print(json.load(open(sys.argv[1]))["address"])' \
  "$scheduler_file")

srun --kill-on-bad-exit=0 dask worker --scheduler-file "$scheduler_file" --nthreads 1 \
  --no-dashboard --death-timeout 120 &
workers=$!

extra=()
if [ "$command" = calibrate ]; then extra=(--resume); fi
status=0
lis1abm "$command" "$@" ${extra[@]+"${extra[@]}"} --cluster "$address" --gpus-per-worker 0 \
  --connect-timeout 120 || status=$?

kill "$workers" "$scheduler" 2>/dev/null || true
rm -f "$scheduler_file"
exit "$status"
