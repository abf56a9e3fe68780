"""Capacity: how hire rates change with the number of positions (autumn 2024 market).

Read top to bottom; copy it to write your own experiment: write a config in
configs/experiments/<name>.toml (scenarios as overrides of the round and the parameters), then
load it, run it, look at the tidy table and draw the figures.

    python experiments/capacity.py [--reps N] [--out DIR] [--overwrite]

The same as `lis1abm experiment capacity`. Every scenario uses the same seed and replication
indices, so the scenarios share their random numbers (common random numbers): the difference
between two scenarios is the effect of the positions, not noise.
"""

import argparse

from lis1abm.experiments import draw_figures, load_experiment, run_experiment, write_results

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--reps", type=int, default=None, help="replications per scenario")
parser.add_argument("--out", default="results", help="results go to OUT/capacity/")
parser.add_argument(
    "--overwrite", action="store_true", help="replace results of another configuration there"
)
args = parser.parse_args()

# 1. The config: total positions 450-800, each ad's positions scaled by largest remainder.
config = load_experiment("capacity")
print(config.description)

# 2. Run every scenario (progress: scenario name and replications done).
result = run_experiment(config, reps=args.reps)

# 3. The tidy table has one row per (scenario, replication, breakdown, group, metric); the
#    summary gives each measure's mean and 5-95 % band over replications.
s = result.summary
rates = s[(s["metric"] == "hire_rate") & (s["breakdown"] == "education")]
table = rates.pivot(index="scenario", columns="group", values="mean").loc[
    [sc.name for sc in config.scenarios]
]
print("Hire rate by education group (mean over replications):")
print((100 * table).round(1).to_string())
cascade = s[(s["breakdown"] == "cascade") & (s["group"] == "all")]
print(cascade[cascade["metric"].isin(["unfilled", "offers_per_hire"])].to_string(index=False))

# 4. Write results/capacity/ (table, summary, meta.json) and draw the figures from them.
folder = write_results(result, args.out, overwrite=args.overwrite)
for path in draw_figures(folder):
    print("wrote", path)
