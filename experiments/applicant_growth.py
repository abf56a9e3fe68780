"""Applicant growth: 10-30 % more applicants educated abroad, or in Norway (autumn 2024).

The report warns that applicant numbers may rise with more students at Norwegian universities
and more migration. Each scenario scales one education group's applicants (appendix 4's pairs
by largest remainder; the marginals, applications per ad and unique applicants per trust
follow: lis1abm/experiments/growth.py); ads, positions and the calendar stay as in autumn
2024. Measures: hire rates by education and nationality group, and the number not hired.

    python experiments/applicant_growth.py [--reps N] [--out DIR] [--overwrite]

The same as `lis1abm experiment applicant_growth`; see experiments/capacity.py for the steps.
Common random numbers are partial here: the round's applicants keep their ids and their own
draws, but the added applicants change the assignments made by rank, the applications and
the ranked lists.
"""

import argparse

from lis1abm.experiments import draw_figures, load_experiment, run_experiment, write_results

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--reps", type=int, default=None, help="replications per scenario")
parser.add_argument("--out", default="results", help="results go to OUT/applicant_growth/")
parser.add_argument(
    "--overwrite", action="store_true", help="replace results of another configuration there"
)
args = parser.parse_args()

# 1. The config: the round as it is, then +10/20/30 % educated abroad and in Norway.
config = load_experiment("applicant_growth")
print(config.description)

# 2. Run every scenario (the same seed and replication indices).
result = run_experiment(config, reps=args.reps)

# 3. Hire rates by education group and the number not hired (means over replications).
s = result.summary
order = [sc.name for sc in config.scenarios]
rates = s[(s["metric"] == "hire_rate") & (s["breakdown"] == "education")]
table = (100 * rates.pivot(index="scenario", columns="group", values="mean")).round(1)
total = s[(s["breakdown"] == "total") & (s["group"] == "all")]
for metric in ("applicants", "hired", "not_hired"):
    table[metric] = total[total["metric"] == metric].set_index("scenario")["mean"].round(1)
print("Hire rate by education group (% of applicants) and totals (means over replications):")
print(table.loc[order].to_string())

# 4. Write results/applicant_growth/ and draw the figures.
folder = write_results(result, args.out, overwrite=args.overwrite)
for path in draw_figures(folder):
    print("wrote", path)
