"""The calibration's acceptance checks, measured: simulate a round with a parameter file and
print, per breakdown, whether the report's figure lies inside the model's 5-95 % band and how far
the model's mean hire rate is from the report's (percentage points).

Usage (from anywhere; about 1 minute on 2 cores)::

    python scripts/calibration_check.py [--params FILE] [--reps 2000] [--seed 2024]

Without ``--params`` it uses what ``lis1abm simulate`` uses: the round's calibrated file.
The checks (issue 9): the report inside the band for the nationality groups, the education
groups, the 3 x 3 cross, the graduation periods and every education country with at least 20
applicants; mean hire rates within 2 points for the education groups, 3 for the nationality
groups, 5 for the graduation periods. Gender and age group are held out of the fit: shown, not
judged.
"""

from __future__ import annotations

import argparse

import pandas as pd

from lis1abm.report.simulate import simulate
from lis1abm.report.statements import figure_4_3

LIMIT_PP = {"education": 2.0, "nationality": 3.0, "graduation_period": 5.0}
"""Largest allowed gap of a mean hire rate from the report's, percentage points."""
JUDGED = ("nationality", "education", "nationality_x_education", "graduation_period")
HELD_OUT = ("gender", "age_group")
MIN_COUNTRY_APPLICANTS = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default=None)
    parser.add_argument("--reps", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument(
        "--markdown",
        action="store_true",
        help="also print the judged rows as docs/calibration.md's table",
    )
    args = parser.parse_args()
    result = simulate(
        reps=args.reps, seed=args.seed, backend="cpu", params_path=args.params, per_replication=True
    )
    rows = pd.DataFrame(result.rows)
    rows = rows[rows["report_hired"].notna()].copy()
    rows["inside"] = (rows["sim_hired_p05"] <= rows["report_hired"]) & (
        rows["report_hired"] <= rows["sim_hired_p95"]
    )
    rows["gap_pp"] = 100 * (rows["sim_hired_mean"] - rows["report_hired"]) / rows["applicants"]
    countries = rows[
        (rows["breakdown"] == "education_country") & (rows["applicants"] >= MIN_COUNTRY_APPLICANTS)
    ]
    print(
        f"params {result.meta['params_file']} ({result.meta['params_sha256'][:12]}), "
        f"{args.reps} replications, seed {args.seed}"
    )
    failures = 0
    for name, part in [(b, rows[rows["breakdown"] == b]) for b in JUDGED] + [
        (f"education_country (>= {MIN_COUNTRY_APPLICANTS} applicants)", countries)
    ]:
        failures += _show(name, part, LIMIT_PP.get(name), judged=True)
    for name in HELD_OUT:
        _show(f"{name} (held out)", rows[rows["breakdown"] == name], None, judged=False)
    print("\nfigure 4.3 statements (held out):")
    for st in figure_4_3(result.tally, result.values):
        mark = "hit " if st["hit"] else "miss"
        print(f"  {st['statement']} {mark} {st['subject']}: {st['measure']} {st['model']:.2f}")
    print(f"\nacceptance: {'met' if failures == 0 else f'{failures} checks missed'}")
    if args.markdown:
        judged = pd.concat([rows[rows["breakdown"].isin(JUDGED)], countries])
        _markdown(judged)


def _markdown(rows: pd.DataFrame) -> None:
    """The judged rows as a Markdown table (band and gap misses in bold)."""
    columns = (
        "breakdown",
        "group",
        "applicants",
        "report hired",
        "model mean (5-95 %)",
        "report in band",
        "rate gap (points)",
    )
    print("\n| " + " | ".join(columns) + " |")
    print("|---|---|---|---|---|---|---|")
    for r in rows.itertuples():
        limit = LIMIT_PP.get(r.breakdown)
        gap = f"{r.gap_pp:+.1f}"
        if limit is not None and abs(r.gap_pp) > limit:
            gap += f" **(> {limit:g})**"
        band = "yes" if r.inside else "**no**"
        print(
            f"| {r.breakdown.replace('_', ' ')} | {r.group} | {r.applicants:.0f} | "
            f"{r.report_hired:.0f} | {r.sim_hired_mean:.1f} ({r.sim_hired_p05:.0f}-"
            f"{r.sim_hired_p95:.0f}) | {band} | {gap} |"
        )


def _show(name: str, part: pd.DataFrame, limit: float | None, judged: bool) -> int:
    """Print one breakdown's rows; return the number of missed checks."""
    print(f"\n{name}:")
    missed = 0
    for r in part.itertuples():
        gap_ok = limit is None or abs(r.gap_pp) <= limit
        missed += judged * ((not r.inside) + (not gap_ok))
        flags = ("" if r.inside else "  OUTSIDE band") + ("" if gap_ok else f"  gap > {limit}")
        print(
            f"  {r.group:28s} n={r.applicants:4.0f} report {r.report_hired:4.0f} model "
            f"{r.sim_hired_mean:6.1f} [{r.sim_hired_p05:.0f}, {r.sim_hired_p95:.0f}] "
            f"rate gap {r.gap_pp:+5.1f} pp{flags if judged else ''}"
        )
    return missed


if __name__ == "__main__":
    main()
