"""The queue across rounds, 2025-2035: who waits how long for a LIS1 position, and how many
positions keep the queue from growing.

Read top to bottom; copy it to write your own queue experiment: the config in
configs/experiments/queue.toml holds the queue's fitted settings and the scenarios.

    python experiments/queue_across_rounds.py [--chains N] [--out DIR] [--overwrite]

The same as `lis1abm experiment queue`. Every scenario plays the same chains (the calibrated
autumn 2024 round, then the rounds of 2025-2035), so their differences are paired chain by
chain.
"""

import argparse

import pandas as pd

from lis1abm.distributed.executor import Executor
from lis1abm.experiments.queue_config import load_queue_experiment
from lis1abm.experiments.queue_runner import run_queue_experiment

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--chains", type=int, default=None, help="chains per scenario")
parser.add_argument("--out", default="results", help="results go to OUT/queue/")
parser.add_argument(
    "--overwrite", action="store_true", help="replace results of another configuration there"
)
args = parser.parse_args()

# 1. The config: the queue's settings (inflow, re-application) and the scenarios.
config = load_queue_experiment("queue")
print(config.description)

# 2. Run every scenario in this process (lis1abm experiment queue --cluster local uses every
#    core), write the tables and draw the figures.
folder = run_queue_experiment(
    config, Executor(), args.out, chains=args.chains, overwrite=args.overwrite, phase=print
)

# 3. The pool waiting after the last round, and what the entrants of 2025-2030 met.
summary = pd.read_csv(folder / "summary.csv")
last = summary[(summary["measure"] == "waiting") & (summary["group"] == "all")]
last = last[last["round"] == last["round"].max()]
print("Waiting after autumn 2035 (mean, 5-95 % over chains):")
print(last[["scenario", "mean", "p05", "p95", "difference"]].to_string(index=False))
cohorts = pd.read_csv(folder / "cohorts.csv")
left = cohorts[cohorts["measure"] == "share_left"]
print("Share of the entrants of 2025-2030 leaving without a position:")
print(left.pivot_table(index="scenario", columns="group", values="mean", sort=False).round(2))
print(f"results in {folder}/")
