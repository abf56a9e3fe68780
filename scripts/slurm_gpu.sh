#!/bin/bash
# An experiment or a calibration on SLURM GPU nodes: a Dask scheduler on the first node, one
# Dask worker per GPU on every node of the allocation, and lis1abm connected to the scheduler.
#
#   sbatch scripts/slurm_gpu.sh experiment capacity --reps 2000000 --out results
#   sbatch scripts/slurm_gpu.sh calibrate --out results/calibration
#
# Run it from the checkout, with its .venv (made with `pip install -e ".[gpu]"`) on a file
# system every node sees: the parts (experiments) and the study's journal (calibration) are
# written there by the job's first node. When the job reaches its time limit, everything is
# killed; submit the same line again and the run resumes (finished parts are kept, the study
# continues: `calibrate` is always given --resume here, which starts a study if there is none).
# To chain runs: sbatch --dependency=afterany:<job id> scripts/slurm_gpu.sh <same arguments>.
#
# Adapt the lines below to the site (partition, account, GPUs per node).
#SBATCH --job-name=lis1abm-gpu
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=4
#SBATCH --gpus-per-task=1
#SBATCH --cpus-per-task=8
#SBATCH --mem=64G
#SBATCH --time=04:00:00
#SBATCH --output=lis1abm-gpu-%j.out
set -euo pipefail

command=${1:?usage: sbatch scripts/slurm_gpu.sh experiment|calibrate ARGS...}
shift
source .venv/bin/activate
# Each worker's numba threads summarise its GPU's counts on the worker's own cores.
export NUMBA_NUM_THREADS=${SLURM_CPUS_PER_TASK}
scheduler_file=".dask-scheduler-${SLURM_JOB_ID}.json"

dask scheduler --scheduler-file "$scheduler_file" --no-dashboard &
scheduler=$!
while [ ! -s "$scheduler_file" ]; do sleep 1; done
address=$(python -c 'import json, sys; print(json.load(open(sys.argv[1]))["address"])' \
  "$scheduler_file")

# One single-threaded worker per task (per GPU): SLURM gives each task its GPU.
srun --kill-on-bad-exit=0 dask worker --scheduler-file "$scheduler_file" --nthreads 1 \
  --no-dashboard --death-timeout 120 &
workers=$!

extra=()
if [ "$command" = calibrate ]; then extra=(--resume); fi
status=0
lis1abm "$command" "$@" ${extra[@]+"${extra[@]}"} --cluster "$address" --gpus-per-worker 1 \
  --connect-timeout 120 || status=$?

kill "$workers" "$scheduler" 2>/dev/null || true
rm -f "$scheduler_file"
exit "$status"
