"""Calendar: how the offer calendar shapes the cascade (autumn 2024 market).

Scenarios: 1-8 calendar rounds, with no rounds after the calendar (the calendar alone) and with
the round's default 8; reply windows of 1-5 days in every round; late marking probability 0,
0.02 and 0.2. Measures: positions open after the calendar, offers made, declined and
unanswered, hires per round. (Blocking pairs and stability are left for a later session.)

    python experiments/offer_calendar.py [--reps N] [--out DIR]

(Not calendar.py: a script in experiments/ puts the folder first on sys.path, where a
calendar.py would shadow the standard library's calendar module and break every script.)

The same as `lis1abm experiment calendar`; see experiments/capacity.py for the steps.
"""

import argparse

from lis1abm.experiments import draw_figures, load_experiment, run_experiment, write_results

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--reps", type=int, default=None, help="replications per scenario")
parser.add_argument("--out", default="results", help="results go to OUT/calendar/")
args = parser.parse_args()

config = load_experiment("calendar")
print(config.description)
result = run_experiment(config, reps=args.reps)

s = result.summary
wanted = ["open_after_calendar", "unfilled", "offers", "declined", "unanswered"]
rows = s[(s["breakdown"] == "cascade") & (s["group"] == "all") & s["metric"].isin(wanted)]
table = rows.pivot(index="scenario", columns="metric", values="mean")
print(table.loc[[sc.name for sc in config.scenarios], wanted].round(1).to_string())

folder = write_results(result, args.out)
for path in draw_figures(folder):
    print("wrote", path)
