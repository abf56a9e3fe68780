"""The coarse hand search behind some default parameters (not a calibration).

Coordinate search over a few values per parameter, starting from a parameter file, scored by
the squared gaps between the model's mean hires and the report's (weighted by 1 / report,
total hires x 5) over nationality, education, their cross, age group and graduation period.
Prints each improvement and the final values; it writes nothing. The defaults in
configs/params/default.toml came from runs of this search (2 seeds x 3 replications) with
the grid below, plus rounding. Proper calibration with held-out checks is a later issue.

    .venv/bin/python scripts/coarse_search.py [PARAMS_FILE]
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from lis1abm.abm.model import LIS1Model
from lis1abm.data.round import load_round
from lis1abm.market.ranking import build_market
from lis1abm.params import DEFAULT_PARAMS, Params, load_params
from lis1abm.results.compare import compare
from lis1abm.results.tally import Tally

GRID = {
    "behaviour.withdrawal_probability": [0.02, 0.04, 0.06],
    "behaviour.wait_probability_max": [0.2, 0.3, 0.5],
    "ranking.education_weight.EEA+UK": [0.3, 0.5],
    "ranking.education_weight.Outside EEA": [0.0, 0.15, 0.3],
    "ranking.proficiency_weight": [0.5, 1.0],
    "ranking.recency_weight": [0.8, 1.0, 1.3],
    "ranking.age_weight_per_decade": [-0.2, -0.4],
    "applications.breadth_by_education.Norway": [-1.5, -1.0],
}
SCORED = (
    "total",
    "nationality",
    "education",
    "nationality_x_education",
    "age_group",
    "graduation_period",
)


def with_value(params: Params, path: str, value: float) -> Params:
    section, key, *sub = path.split(".")
    part = getattr(params, section)
    if sub:
        value = {**getattr(part, key), sub[0]: value}
    return dataclasses.replace(params, **{section: dataclasses.replace(part, **{key: value})})


def loss(params: Params, seeds=(1, 2), reps: int = 3) -> float:
    data = load_round("autumn2024")
    gaps = 0.0
    for seed in seeds:
        market = build_market(data, params, seed)
        tally = Tally(market)
        values = np.stack(
            [tally.values(LIS1Model(market, r, log_events=False).run()) for r in range(reps)]
        )
        for row in compare(market, tally.table(np.arange(reps), values)):
            if row["breakdown"] in SCORED and row["report_hired"] is not None:
                weight = 5 if row["breakdown"] == "total" else 1
                gaps += (
                    weight
                    * (row["sim_hired_mean"] - row["report_hired"]) ** 2
                    / max(row["report_hired"], 10)
                )
    return gaps / len(seeds)


def main() -> None:
    params = load_params(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_PARAMS)
    best = loss(params)
    print(f"start: loss {best:.2f}")
    for path, values in GRID.items():
        for value in values:
            trial = loss(with_value(params, path, value))
            if trial < best - 1e-9:
                best, params = trial, with_value(params, path, value)
                print(f"{path} = {value}: loss {best:.2f}")
    print(f"final: loss {best:.2f}")


if __name__ == "__main__":
    main()
