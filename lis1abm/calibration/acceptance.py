"""The calibration's acceptance, judged on root seeds it was not fitted on.

A calibration is fitted on the population draws of one root seed (``[calibration] seed``); its
acceptance is judged on the draws of other root seeds (``[checks] seeds``), each run as
``lis1abm simulate`` runs it: the calibrated parameters, ``[checks] replications`` (2,000)
spread over ``[checks] populations`` draws (simulate's default, 64), the cpu backend.

Per root seed, the checks (issue "Estimates that hold on every population draw"):

* **gap**: the model's mean hire rate within :data:`LIMIT_PP` percentage points of the
  report's, for the education groups (2), the nationality groups (3) and the graduation
  periods (5);
* **band**: the report's hires inside the model's 5-95 % band, for the nationality and
  education groups, the graduation periods, and the nationality x education cells and
  education countries with at least :data:`MIN_APPLICANTS` applicants.

Across root seeds: each education and nationality group's mean hire rate differs by at most
:data:`SPREAD_LIMIT_PP` points between any two seeds (:func:`seed_spread`). Gender and age
group are held out of the fit: their rows are reported, never judged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import combinations
from pathlib import Path

import pandas as pd

from lis1abm.data.round import RoundData
from lis1abm.params import Params
from lis1abm.report.simulate import simulate
from lis1abm.report.statements import figure_4_3

LIMIT_PP = {"education": 2.0, "nationality": 3.0, "graduation_period": 5.0}
"""Largest allowed gap of a mean hire rate from the report's, percentage points."""
BAND_BREAKDOWNS = (
    "nationality",
    "education",
    "nationality_x_education",
    "graduation_period",
    "education_country",
)
"""Breakdowns whose groups are judged on the band."""
SMALL_CELLS = ("nationality_x_education", "education_country")
"""Breakdowns whose groups are judged on the band only with :data:`MIN_APPLICANTS`."""
MIN_APPLICANTS = 20
HELD_OUT = ("gender", "age_group")
SPREAD_BREAKDOWNS = ("education", "nationality")
SPREAD_LIMIT_PP = 1.0
"""Largest allowed difference of a group's mean hire rate between two root seeds, points."""


def judge(rows: pd.DataFrame) -> pd.DataFrame:
    """The comparison rows of one run (``simulate(...).rows``: ``breakdown``, ``group``,
    ``applicants``, ``report_hired``, ``sim_hired_mean``, ``sim_hired_p05``,
    ``sim_hired_p95``) with the report's figure, judged: ``gap_pp`` (model minus report,
    points of the group's applicants), ``inside`` (report in the 5-95 % band),
    ``band_judged``, ``gap_limit_pp`` (NaN when not judged), ``held_out`` and ``missed``
    (checks missed by the row: 0, 1 or 2); the rows of the judged and held-out breakdowns
    only."""
    out = rows[rows["report_hired"].notna()].copy()
    out["gap_pp"] = 100 * (out["sim_hired_mean"] - out["report_hired"]) / out["applicants"]
    out["inside"] = (out["sim_hired_p05"] <= out["report_hired"]) & (
        out["report_hired"] <= out["sim_hired_p95"]
    )
    breakdown = out["breakdown"]
    small = breakdown.isin(SMALL_CELLS) & (out["applicants"] < MIN_APPLICANTS)
    out["band_judged"] = breakdown.isin(BAND_BREAKDOWNS) & ~small
    out["gap_limit_pp"] = breakdown.map(LIMIT_PP)
    out["held_out"] = breakdown.isin(HELD_OUT)
    gap_missed = out["gap_pp"].abs() > out["gap_limit_pp"]  # NaN limit: False
    out["missed"] = (out["band_judged"] & ~out["inside"]).astype(int) + gap_missed.astype(int)
    # Every group of the judged and held-out breakdowns (small cells shown, not judged).
    keep = breakdown.isin(BAND_BREAKDOWNS) | out["held_out"]
    return out[keep].reset_index(drop=True)


def judge_seeds(
    round_: str | Path | RoundData,
    params: str | Path | Params,
    seeds: Sequence[int],
    reps: int = 2000,
    populations: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[pd.DataFrame, list[dict]]:
    """Run the round with ``params`` on each root seed (``reps`` replications over
    ``populations`` draws, the cpu backend) and judge it (:func:`judge`).

    Returns the judged rows of every seed (column ``seed`` first) and figure 4.3's statements
    of every seed (each with its ``seed``), both held out of the fit."""
    tables, statements = [], []
    for seed in seeds:
        result = simulate(
            round_, reps=reps, seed=seed, backend="cpu", params_path=params,
            populations=populations, per_replication=True,
        )  # fmt: skip
        judged = judge(pd.DataFrame(result.rows))
        judged.insert(0, "seed", seed)
        tables.append(judged)
        statements += [{"seed": seed, **st} for st in figure_4_3(result.tally, result.values)]
        if progress is not None:
            progress(1)
    return pd.concat(tables, ignore_index=True), statements


def seed_spread(checks: pd.DataFrame) -> pd.DataFrame:
    """Per education and nationality group, the largest difference of the mean hire rate
    (points) and of the mean hires between two root seeds of ``checks`` (:func:`judge_seeds`),
    and whether it is within :data:`SPREAD_LIMIT_PP`."""
    part = checks[checks["breakdown"].isin(SPREAD_BREAKDOWNS)]
    rows = []
    for (breakdown, group), g in part.groupby(["breakdown", "group"], sort=False):
        rate = 100 * g["sim_hired_mean"] / g["applicants"]
        pairs = list(combinations(range(len(g)), 2))
        rate_diff = max((abs(rate.iloc[i] - rate.iloc[j]) for i, j in pairs), default=0.0)
        hires = g["sim_hired_mean"]
        hire_diff = max((abs(hires.iloc[i] - hires.iloc[j]) for i, j in pairs), default=0.0)
        rows.append(
            {
                "breakdown": breakdown,
                "group": group,
                "seeds": len(g),
                "max_rate_diff_pp": rate_diff,
                "max_hires_diff": hire_diff,
                "within": rate_diff <= SPREAD_LIMIT_PP,
            }
        )
    return pd.DataFrame(rows)


def verdict(checks: pd.DataFrame, spread: pd.DataFrame) -> dict:
    """Per seed the checks missed (and which), and whether the seeds' spread is within its
    limit: the ``checks`` block of the calibration's ``summary.json``."""
    per_seed = {}
    for seed, g in checks.groupby("seed"):
        missed = g[g["missed"] > 0]
        per_seed[str(seed)] = {
            "missed": int(missed["missed"].sum()),
            "rows": [f"{r.breakdown}: {r.group}" for r in missed.itertuples()],
        }
    return {
        "per_seed": per_seed,
        "met_on_every_seed": all(v["missed"] == 0 for v in per_seed.values()),
        "spread_within": bool(spread["within"].all()) if len(spread) else True,
        "max_spread_pp": float(spread["max_rate_diff_pp"].max()) if len(spread) else 0.0,
    }
