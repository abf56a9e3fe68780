"""The calibration's acceptance, measured on chosen root seeds: simulate a round with a
parameter file on each seed and print, per breakdown, whether the report's figure lies inside
the model's 5-95 % band and how far the model's mean hire rate is from the report's
(percentage points), then the largest difference between two seeds.

Usage (from anywhere; about 10 s a seed on 2 cores after compiling)::

    python scripts/calibration_check.py [--params FILE] [--reps 2000] [--seeds 1 2 3 4 5]
        [--populations K] [--csv FILE] [--markdown]

Without ``--params`` it uses what ``lis1abm simulate`` uses: the round's calibrated file.
The checks are those ``lis1abm calibrate`` judges after its search
(:mod:`lis1abm.calibration.acceptance`); judge a calibration on seeds it was not fitted on.
Gender and age group are held out of the fit: shown, not judged.
"""

from __future__ import annotations

import argparse

import pandas as pd

from lis1abm.calibration.acceptance import judge_seeds, seed_spread, verdict
from lis1abm.simulation.prepare import resolve_inputs

ORDER = (
    "nationality",
    "education",
    "nationality_x_education",
    "graduation_period",
    "education_country",
    "gender",
    "age_group",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default=None)
    parser.add_argument("--round", default="autumn2024")
    parser.add_argument("--reps", type=int, default=2000)
    parser.add_argument("--populations", type=int, default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--csv", default=None, help="also write the judged rows here")
    parser.add_argument(
        "--markdown", action="store_true", help="also print the judged rows as Markdown tables"
    )
    args = parser.parse_args()
    _, params = resolve_inputs(args.round, args.params, None)
    checks, statements = judge_seeds(args.round, params, args.seeds, args.reps, args.populations)
    print(f"params {params.file}, {args.reps} replications, seeds {args.seeds}")
    for seed, rows in checks.groupby("seed", sort=False):
        print(f"\n== seed {seed}")
        for breakdown in ORDER:
            _show(breakdown, rows[rows["breakdown"] == breakdown])
        print("figure 4.3 statements (held out):")
        for st in (s for s in statements if s["seed"] == seed):
            mark = "hit " if st["hit"] else "miss"
            print(f"  {st['statement']} {mark} {st['subject']}: {st['measure']} {st['model']:.2f}")
    spread = seed_spread(checks)
    print("\nlargest difference between two seeds (hire rate, points; mean hires):")
    for r in spread.itertuples():
        rate, hires = r.max_rate_diff_pp, r.max_hires_diff
        print(f"  {r.breakdown:12s} {r.group:12s} {rate:5.2f}  {hires:5.2f}")
    v = verdict(checks, spread)
    for seed, part in v["per_seed"].items():
        print(
            f"seed {seed}: {'met' if not part['missed'] else part['missed']} "
            + ("" if not part["missed"] else "missed: " + "; ".join(part["rows"]))
        )
    print(
        f"acceptance on every seed: {'met' if v['met_on_every_seed'] else 'missed'}; "
        f"spread within 1 point: {v['spread_within']}"
    )
    if args.csv:
        checks.to_csv(args.csv, index=False)
    if args.markdown:
        _markdown(checks)


def _show(name: str, part: pd.DataFrame) -> None:
    """Print one breakdown's rows with their misses flagged."""
    if part.empty:
        return
    print(f"{name}{' (held out)' if part['held_out'].any() else ''}:")
    for r in part.itertuples():
        flags = ""
        if r.band_judged and not r.inside:
            flags += "  OUTSIDE band"
        if r.gap_limit_pp == r.gap_limit_pp and abs(r.gap_pp) > r.gap_limit_pp:
            flags += f"  gap > {r.gap_limit_pp:g}"
        print(
            f"  {r.group:28s} n={r.applicants:4.0f} report {r.report_hired:4.0f} model "
            f"{r.sim_hired_mean:6.1f} [{r.sim_hired_p05:.0f}, {r.sim_hired_p95:.0f}] "
            f"rate gap {r.gap_pp:+5.1f} pp{flags}"
        )


def _markdown(checks: pd.DataFrame) -> None:
    """Per breakdown and group: the report, and per seed the model's mean with its band (a
    miss in bold)."""
    seeds = list(dict.fromkeys(checks["seed"]))
    print(
        "\n| breakdown | group | applicants | report hired | "
        + " | ".join(f"seed {s}" for s in seeds)
        + " |"
    )
    print("|---|---|---|---|" + "---|" * len(seeds))
    for (breakdown, group), g in checks.groupby(["breakdown", "group"], sort=False):
        cells = []
        for r in g.itertuples():
            cell = f"{r.sim_hired_mean:.1f} ({r.sim_hired_p05:.0f}-{r.sim_hired_p95:.0f})"
            cells.append(f"**{cell}**" if r.missed else cell)
        first = g.iloc[0]
        print(
            f"| {breakdown.replace('_', ' ')} | {group} | {first['applicants']:.0f} | "
            f"{first['report_hired']:.0f} | " + " | ".join(cells) + " |"
        )


if __name__ == "__main__":
    main()
