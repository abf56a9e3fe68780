"""Set the gender-age link (``population.men_age_link``) from the report's mean ages.

The report gives one joint figure of gender: the mean age of the not hired, 32.5 for women and
34 for men (5.1), so not-hired men are 1.5 years older. This script plays the calibrated model
on the fitting seed's population draws for a grid of links, prints the not-hired mean ages by
gender (and, for information, the men hired: a held-out figure, never used to choose), and the
link at which the gap is 1.5 years, by linear interpolation between the grid points around it.

Usage: ``python scripts/gender_age_link.py [SEED] [DRAWS] [REPS_PER_DRAW]`` (defaults 2024, 16,
50: the fitting seed of ``configs/calibration/autumn2024.toml``; about 5 s a link after the
engine is compiled).
"""

from __future__ import annotations

import sys

import numpy as np

from lis1abm import engine
from lis1abm.simulation.prepare import prepare

REPORT_GAP = 34.0 - 32.5  # years: not-hired men's mean age minus not-hired women's (5.1)
LINKS = (0.0, 0.04, 0.08, 0.12, 0.16, 0.2)


def not_hired_ages(link: float, seed: int, draws: int, reps: int) -> tuple[float, float, float]:
    """Not-hired mean age of women and of men (years), and mean men hired per replication,
    over ``draws`` population draws of ``seed`` with ``reps`` replications each."""
    age_sum = np.zeros(2)
    count = np.zeros(2)
    men_hired = 0.0
    for draw in range(draws):
        run = prepare("autumn2024", None, {"population.men_age_link": link}, seed, draw)
        pop = run.market.population
        first = draw * reps
        out = engine.run_cpu(
            run.arrays, seed, np.arange(first, first + reps), run.rows, keep_applicants=True
        )
        not_hired = out.hired_ad < 0  # (B, N)
        age = pop["age"].to_numpy(float)
        men = (pop["gender"] == "men").to_numpy()
        for k, members in enumerate((~men, men)):
            age_sum[k] += (not_hired[:, members] * age[members]).sum()
            count[k] += not_hired[:, members].sum()
        men_hired += (~not_hired[:, men]).sum() / reps
    women_age, men_age = age_sum / count
    return women_age, men_age, men_hired / draws


def main(seed: int = 2024, draws: int = 16, reps: int = 50) -> None:
    gaps = []
    print("link  not-hired women  not-hired men  gap   men hired (held out)")
    for link in LINKS:
        women, men, hired = not_hired_ages(link, seed, draws, reps)
        gaps.append(men - women)
        print(f"{link:4.2f}  {women:15.2f}  {men:13.2f}  {men - women:4.2f}  {hired:8.1f}")
    for k in range(len(LINKS) - 1):
        if gaps[k] <= REPORT_GAP <= gaps[k + 1]:
            t = (REPORT_GAP - gaps[k]) / (gaps[k + 1] - gaps[k])
            link = LINKS[k] + t * (LINKS[k + 1] - LINKS[k])
            print(f"gap {REPORT_GAP:.1f} years (the report) at link {link:.3f}")
            return
    print(f"gap {REPORT_GAP:.1f} years not reached on the grid {LINKS}")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:4]))
