"""Check the study-city effect and table 2 on the CPU engine (the measurement behind the
defaults in ``configs/params/default.toml``).

Prints, for the university hospitals and a few rural ads, the mean hires, the share of the
Norway-educated among the hires and the share of replications with no Norway-educated hire
(the report: several university hospitals over 70 %, Namsos none); then hires by education
group, the long-term breakdowns' not hired beside table 2, and four education countries.

Usage: ``python scripts/study_city_check.py [REPS] [PARAMS]`` (default 1000 replications,
seed 2024, the default parameters; a few seconds after the engine is compiled).
"""

from __future__ import annotations

import sys

import numpy as np

from lis1abm.report.simulate import simulate

ADS = (
    "Oslo universitetssykehus",
    "Akershus universitetssykehus - Akershus",
    "Helse Bergen - Haukeland (HUS) and Voss",
    "St. Olavs hospital - Trondheim and Orkdal",
    "Universitetssykehuset Nord-Norge",
    "Diakonhjemmet sykehus",
    "Helse Nord-Trøndelag - Namsos",
    "Helgelandssykehuset",
    "Finnmarkssykehuset - Hammerfest",
    "Helse Fonna - Haugesund, Stord, Odda",
)


def main(reps: int, params: str | None) -> None:
    res = simulate(reps=reps, backend="cpu", per_replication=True, params_path=params)
    values, layout = res.values, res.tally.layout

    def column(breakdown: str, group: str, metric: str) -> np.ndarray:
        (k,) = np.flatnonzero(
            (layout["breakdown"] == breakdown)
            & (layout["group"] == group)
            & (layout["metric"] == metric)
        )
        return values[:, k]

    for ad in ADS:
        hired, norway = column("ad", ad, "hired"), column("ad", ad, "hired_Norway")
        print(
            f"{ad[:45]:45s} hired {hired.mean():5.1f}  Norway-educated share "
            f"{norway.sum() / hired.sum():.2f}  replications with none {np.mean(norway == 0):.3f}"
        )
    for r in res.rows:
        if r["breakdown"] in ("total", "education", "long_term_origin", "long_term_age"):
            not_hired = r["applicants"] - r["sim_hired_mean"]
            print(
                f"{r['breakdown']:17s} {r['group']:26s} applicants {r['applicants']:4d} hired "
                f"{r['sim_hired_mean']:6.1f} (report {r['report_hired']}) not hired "
                f"{not_hired:6.1f} (table 2: {r['report_not_hired']})"
            )
        if r["breakdown"] == "education_country" and r["group"] in (
            "Poland",
            "Bulgaria",
            "Romania",
            "Hungary",
        ):
            print(f"{r['group']:10s} hired {r['sim_hired_mean']:6.1f} (report {r['report_hired']})")


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 1000, sys.argv[2] if len(sys.argv) > 2 else None
    )
