"""The experiment's tidy table and its summary.

The table holds every replication's counts: columns ``scenario, replication, breakdown,
group, metric, value`` (value int64), only the breakdowns the config keeps. The summary
(:func:`summarise`) adds the measures that are ratios or pick a round (hire rates, offers per
hire, open positions after the calendar), computed per replication, and gives their mean and
5-95 % band over replications per scenario.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lis1abm.outcomes.tally import Tally

COLUMNS = ("scenario", "replication", "breakdown", "group", "metric", "value")
RATE_BREAKDOWNS = ("total", "nationality", "education", "nationality_x_education")
"""Applicant breakdowns whose hire rate (hired / applicants) the summary gives."""
BAND = (5.0, 95.0)
"""The summary's band, percentiles over replications."""


def tidy_table(
    scenario: str,
    tally: Tally | pd.DataFrame,
    replications: np.ndarray,
    values: np.ndarray,
    breakdowns,
    rows: np.ndarray | None = None,
) -> pd.DataFrame:
    """One scenario's replications (R,) with values (R, K) as the tidy table, only the rows of
    ``breakdowns`` (and of ``rows``, bool (K,), if given). ``tally``: the :class:`Tally` whose
    layout the values follow, or such a layout itself (columns ``breakdown, group, metric``,
    K rows; e.g. :func:`lis1abm.simulation.allocation.match_layout`)."""
    layout = tally.layout if isinstance(tally, Tally) else tally
    keep = layout["breakdown"].isin(list(breakdowns)).to_numpy().copy()
    if rows is not None:
        keep &= rows
    layout = layout[keep]
    n, k = len(replications), len(layout)
    return pd.DataFrame(
        {
            "scenario": np.full(n * k, scenario, dtype=object),
            "replication": np.repeat(np.asarray(replications, dtype=np.int64), k),
            "breakdown": np.tile(layout["breakdown"].to_numpy(dtype=object), n),
            "group": np.tile(layout["group"].to_numpy(dtype=object), n),
            "metric": np.tile(layout["metric"].to_numpy(dtype=object), n),
            "value": np.asarray(values, dtype=np.int64)[:, keep].ravel(),
        }
    )


def categorical(table: pd.DataFrame, scenarios: list[str]) -> pd.DataFrame:
    """The table with its text columns categorical (scenarios in run order): a byte a row."""
    out = table.copy()
    out["scenario"] = pd.Categorical(out["scenario"], categories=scenarios)
    for column in ("breakdown", "group", "metric"):
        out[column] = out[column].astype("category")
    return out


def measures(table: pd.DataFrame, calendar_rounds: dict[str, int]) -> pd.DataFrame:
    """Every replication's counts and derived measures, long (value float64).

    - ``hire_rate`` of every group of :data:`RATE_BREAKDOWNS`: hired / applicants (fraction),
      and ``not_hired``: applicants - hired (applicants);
    - cascade ``all``: ``offers_per_hire`` (offers / hires; hires = accepted offers) and
      ``open_after_calendar`` (open positions after the calendar's last round, whose number
      ``calendar_rounds`` gives per scenario), where the scenario has offer rounds;
    - ``preference_rank``: ``share`` of each rank group (its hires / all hires, fraction) and
      ``all`` ``mean_rank`` (rank sum / hires; 1 = first choice).
    """
    t = table.astype({c: str for c in ("scenario", "breakdown", "group", "metric")})
    t["value"] = t["value"].astype(float)
    key = ["scenario", "replication", "breakdown", "group"]
    parts = [t]
    rates = t[t["breakdown"].isin(RATE_BREAKDOWNS) & t["metric"].isin(["applicants", "hired"])]
    if len(rates):
        wide = rates.pivot_table(index=key, columns="metric", values="value").reset_index()
        with np.errstate(divide="ignore", invalid="ignore"):
            wide["value"] = wide["hired"] / wide["applicants"].where(wide["applicants"] > 0)
        parts.append(wide.assign(metric="hire_rate")[[*key, "metric", "value"]])
        wide["value"] = wide["applicants"] - wide["hired"]
        parts.append(wide.assign(metric="not_hired")[[*key, "metric", "value"]])
    cascade = t[(t["breakdown"] == "cascade") & (t["metric"] != "unfilled")]
    if len(cascade):
        rid = ["scenario", "replication"]
        total = cascade[cascade["group"] == "all"].pivot_table(
            index=rid, columns="metric", values="value"
        )
        per_hire = (total["offers"] / total["accepted"].where(total["accepted"] > 0)).rename(
            "value"
        )
        parts.append(
            per_hire.reset_index().assign(
                breakdown="cascade", group="all", metric="offers_per_hire"
            )
        )
        last = cascade["scenario"].map(calendar_rounds).map(lambda n: f"round {n}")
        after = cascade[(cascade["group"] == last) & (cascade["metric"] == "open_after")]
        parts.append(after.assign(group="all", metric="open_after_calendar"))
    parts += _rank_measures(t, key)
    return pd.concat(parts, ignore_index=True)[list(COLUMNS)]


def _rank_measures(t: pd.DataFrame, key: list[str]) -> list[pd.DataFrame]:
    """Share of the hires at each preference rank, and the mean rank, per replication."""
    ranks = t[t["breakdown"] == "preference_rank"]
    if not len(ranks):
        return []
    by_rank = ranks[ranks["metric"] == "hired"]
    hires = by_rank.groupby(["scenario", "replication"])["value"].transform("sum")
    share = by_rank.assign(metric="share", value=by_rank["value"] / hires.where(hires > 0))
    total = by_rank.groupby(["scenario", "replication"])["value"].sum().rename("hires")
    sums = ranks[ranks["metric"] == "rank_sum"].join(total, on=["scenario", "replication"])
    mean = sums.assign(
        metric="mean_rank", value=sums["value"] / sums["hires"].where(sums["hires"] > 0)
    )
    return [share[[*key, "metric", "value"]], mean[[*key, "metric", "value"]]]


def summarise(table: pd.DataFrame, calendar_rounds: dict[str, int]) -> pd.DataFrame:
    """Mean and 5-95 % band over replications of every count and measure (:func:`measures`),
    per scenario: columns ``scenario, breakdown, group, metric, replications, mean, p05,
    p95``, scenarios in the order of ``calendar_rounds``."""
    m = measures(table, calendar_rounds)
    grouped = m.groupby(["scenario", "breakdown", "group", "metric"], sort=False)["value"]
    out = grouped.agg(
        replications="count",
        mean="mean",
        p05=lambda v: np.percentile(v.dropna(), BAND[0]) if v.notna().any() else np.nan,
        p95=lambda v: np.percentile(v.dropna(), BAND[1]) if v.notna().any() else np.nan,
    ).reset_index()
    order = {name: k for k, name in enumerate(calendar_rounds)}
    return out.sort_values("scenario", key=lambda s: s.map(order), kind="stable").reset_index(
        drop=True
    )
