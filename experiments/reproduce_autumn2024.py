"""Reproduce autumn 2024: the report's figures with the model's bands beside its values.

One scenario, the calibrated autumn 2024 round, run for many replications. The experiment
writes, beside the usual summary, two tables computed from every replication:

- report.csv: each report figure (hires by education group and country, nationality,
  nationality x education, graduation period, age group, appendix 4's pairs, ads of single-ad
  trusts; not hired by education, nationality, their cross, age group and table 2) beside the
  model's mean and 5-95 % band, and whether the report lies inside the band;
- figure_4_3.csv: the report's statements on figure 4.3 (hires per ad by education) checked
  on the replications, hit or miss.

    python experiments/reproduce_autumn2024.py [--reps N] [--out DIR] [--overwrite]

The same as `lis1abm experiment reproduce_autumn2024`; see experiments/capacity.py for the
steps.
"""

import argparse

from lis1abm.experiments import draw_figures, load_experiment, run_experiment, write_results

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--reps", type=int, default=None, help="replications")
parser.add_argument("--out", default="results", help="results go to OUT/reproduce_autumn2024/")
parser.add_argument(
    "--overwrite", action="store_true", help="replace results of another configuration there"
)
args = parser.parse_args()

# 1. The config: one scenario, the round as it is; tables = ["report", "figure_4_3"].
config = load_experiment("reproduce_autumn2024")
print(config.description)

# 2. Run it.
result = run_experiment(config, reps=args.reps)

# 3. The report against the model: how many report figures lie inside the model's band.
report = result.tables["report"]
judged = report[report["inside_band"].isin(["yes", "no"])]
inside = judged.groupby(["breakdown", "observed"], sort=False)["inside_band"].agg(
    inside=lambda v: int((v == "yes").sum()), figures="count"
)
print("Report figures inside the model's 5-95 % band:")
print(inside.to_string())
main = report[report["breakdown"].isin(["education", "nationality"])]
print(
    main[["breakdown", "group", "observed", "report", "model_mean", "p05", "p95"]].to_string(
        index=False
    )
)

# 4. Figure 4.3's statements, hit or miss (measures over the replications).
print("Figure 4.3 statements:")
for s in result.tables["figure_4_3"].itertuples():
    print(
        f"  ({s.statement}) {s.subject}: {s.measure} = {s.model:.2f}: {'hit' if s.hit else 'miss'}"
    )

# 5. Write results/reproduce_autumn2024/ and draw the figures from the saved files.
folder = write_results(result, args.out, overwrite=args.overwrite)
for path in draw_figures(folder):
    print("wrote", path)
