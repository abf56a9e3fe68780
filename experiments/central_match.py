"""Central match: deferred acceptance against the offer cascade (autumn 2024 market).

National matches elsewhere allocate first jobs by applicant-proposing deferred acceptance.
Here it allocates the same preferences and ranked lists as the offer cascade, replication by
replication: each applicant ranks the ads applied to in their own preference order, each ad
ranks its qualified applicants by the same interview impression as in the cascade, and each ad
hires up to its capacity. Applicants who withdrew before the first round (took another job)
are in neither allocation.

Scenarios: the offer cascade (the five calendar rounds, then rounds until the positions are
filled), the calendar alone, and deferred acceptance. Measures: hire rates by group, positions
left open, blocking pairs (applicant and ad who would both rather be together), the preference
rank of each hired applicant's job, and the applicants whose job differs between applicant-
and hospital-proposing deferred acceptance.

    python experiments/central_match.py [--reps N] [--out DIR] [--overwrite]

The same as `lis1abm experiment central_match`; see experiments/capacity.py for the steps.
"""

import argparse

import pandas as pd

from lis1abm.experiments import draw_figures, load_experiment, run_experiment, write_results

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--reps", type=int, default=None, help="replications per scenario")
parser.add_argument("--out", default="results", help="results go to OUT/central_match/")
parser.add_argument(
    "--overwrite", action="store_true", help="replace results of another configuration there"
)
args = parser.parse_args()

# 1. The config: each scenario names its allocation ("cascade" unless it says
#    allocation = "deferred_acceptance").
config = load_experiment("central_match")
print(config.description)
scenarios = [sc.name for sc in config.scenarios]

# 2. Run: every scenario builds the same market and plays replications 0 .. reps - 1, so the
#    cascade and the central match of one replication see the same preferences.
result = run_experiment(config, reps=args.reps)
s = result.summary


def means(breakdown: str, metric: str) -> pd.DataFrame:
    """One measure's means, a row per scenario and a column per group."""
    rows = s[(s["breakdown"] == breakdown) & (s["metric"] == metric)]
    return rows.pivot(index="scenario", columns="group", values="mean").loc[scenarios]


# 3. Who is hired: hire rate by education group (mean over replications, %).
print("\nHire rate by education group (%):")
print((100 * means("education", "hire_rate")).round(1).to_string())

# The same per replication, as the difference deferred acceptance - cascade: with common
# random numbers the difference of one replication is the effect of the rule alone.
t = result.table.astype({c: str for c in ("scenario", "breakdown", "group", "metric")})
hired = t[(t["breakdown"] == "education") & (t["metric"] == "hired")]
wide = hired.pivot_table(index=["replication", "group"], columns="scenario", values="value")
difference = (wide["deferred acceptance"] - wide["offer cascade"]).groupby("group")
print("\nHires, deferred acceptance - offer cascade, per replication (mean, 5 %, 95 %):")
print(difference.describe(percentiles=[0.05, 0.95])[["mean", "5%", "95%"]].round(2).to_string())

# 4. How stable and how well matched: blocking pairs, mean preference rank of the hired job,
#    positions left open, and applicants differing between the two proposing sides.
stability = means("stability", "blocking_pairs")["all"].rename("blocking pairs")
blocking = means("stability", "applicants_blocking")["all"].rename("applicants blocking")
rank = means("preference_rank", "mean_rank")["all"].rename("mean rank")
first = means("preference_rank", "share")["1"].rename("first choice (%)") * 100
unfilled = means("cascade", "unfilled")["all"].rename("open positions")
differ = means("proposing_side", "applicants_differ")["all"].rename("AP vs HP differ")
table = stability.to_frame().join([blocking, rank, first, unfilled, differ])
print("\nPer replication (means):")
print(table.round(2).to_string())

# 5. Write results/central_match/ and draw the figures from it.
folder = write_results(result, args.out, overwrite=args.overwrite)
for path in draw_figures(folder):
    print("wrote", path)
