"""Calendar: how the offer calendar shapes the cascade (autumn 2024 market).

Scenarios: 1-8 calendar rounds, with no rounds after the calendar (the calendar alone) and with
the round's default 8; reply windows of 1-5 days in every round; late marking probability 0,
0.02 and 0.2. Measures: positions open after the calendar, offers made, declined and
unanswered, hires per round, and how far the outcome is from stable: blocking pairs (an
applicant and an ad who would both rather be together than keep what they got, by the
model's preferences and ranked lists) and the preference rank of the hired jobs.

    python experiments/offer_calendar.py [--reps N] [--out DIR] [--overwrite]

The same as `lis1abm experiment calendar`; see experiments/capacity.py for the steps. (Not
named calendar.py: Python puts this folder first on the module path, and a calendar.py here
would stand in for the standard library's calendar module, which pandas imports, breaking
every script in the folder.)
"""

import argparse

from lis1abm.experiments import draw_figures, load_experiment, run_experiment, write_results

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--reps", type=int, default=None, help="replications per scenario")
parser.add_argument("--out", default="results", help="results go to OUT/calendar/")
parser.add_argument(
    "--overwrite", action="store_true", help="replace results of another configuration there"
)
args = parser.parse_args()

config = load_experiment("calendar")
print(config.description)
result = run_experiment(config, reps=args.reps)

s = result.summary
wanted = ["open_after_calendar", "unfilled", "offers", "declined", "unanswered"]
rows = s[(s["breakdown"] == "cascade") & (s["group"] == "all") & s["metric"].isin(wanted)]
table = rows.pivot(index="scenario", columns="metric", values="mean")
print(table.loc[[sc.name for sc in config.scenarios], wanted].round(1).to_string())

# Stability: blocking pairs and the hires' mean preference rank (1 = first choice).
wanted = ["blocking_pairs", "applicants_blocking", "mean_rank"]
rows = s[s["breakdown"].isin(["stability", "preference_rank"]) & (s["group"] == "all")]
table = rows[rows["metric"].isin(wanted)].pivot(index="scenario", columns="metric", values="mean")
print(table.loc[[sc.name for sc in config.scenarios], wanted].round(2).to_string())

folder = write_results(result, args.out, overwrite=args.overwrite)
for path in draw_figures(folder):
    print("wrote", path)
