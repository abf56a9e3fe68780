"""The experiment's tidy table and its summary.

The table holds every replication's counts: columns ``scenario, replication, breakdown,
group, metric, value`` (value int64), only the breakdowns the config keeps. The summary
(:class:`lis1abm.experiments.reduction.Reduction`) adds the measures that are ratios or pick a
round (:func:`measures`: hire rates, offers per hire, open positions after the calendar, time
to fill), computed per replication, and gives their mean and 5-95 % band over replications
per scenario, and each scenario's paired difference from the baseline.
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


def round_end_days(settings: dict) -> list[int]:
    """Each offer round's last day, the marking day after its reply deadline, in days from
    the first round's offer day (day 0): the calendar's rounds at their dates
    (``settings["offer_days"]``), then the rounds after the calendar a week apart with the
    last calendar round's reply window (the round's data dates none; this is the spacing
    :func:`lis1abm.experiments.overrides.with_calendar` gives rounds it adds), each starting
    after the previous deadline. ``settings``: a scenario's
    :func:`~lis1abm.experiments.overrides.settings`."""
    offers = list(settings.get("offer_days", []))
    windows = list(settings["reply_window_days"])
    for _ in range(settings.get("after_calendar_rounds", 0)):
        offers.append(max(offers[-1] + 7, offers[-1] + windows[-1] + 1))
        windows.append(windows[-1])
    # The marking day: the day after the reply deadline.
    return [o + w + 1 for o, w in zip(offers, windows, strict=True)]


def measures(
    table: pd.DataFrame,
    calendar_rounds: dict[str, int],
    end_days: dict[str, list[int]] | None = None,
) -> pd.DataFrame:
    """Every replication's counts and derived measures, long (value float64).

    - ``hire_rate`` of every group of :data:`RATE_BREAKDOWNS`: hired / applicants (fraction),
      and ``not_hired``: applicants - hired (applicants);
    - cascade ``all``: ``offers_per_hire`` (offers / hires; hires = accepted offers) and
      ``open_after_calendar`` (open positions after the calendar's last round, whose number
      ``calendar_rounds`` gives per scenario), where the scenario has offer rounds;
      ``rounds_played`` (the last round that made an offer, rounds; 0 if none) and, with
      ``end_days`` (per scenario each round's last day, :func:`round_end_days`),
      ``days_to_fill``: days from the first offer to the last day of that round, when the
      hiring ends (every position filled, or no list left to offer from);
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
        last = cascade["scenario"].map({k: f"round {n}" for k, n in calendar_rounds.items()})
        after = cascade[(cascade["group"] == last) & (cascade["metric"] == "open_after")]
        parts.append(after.assign(group="all", metric="open_after_calendar"))
        parts += _time_to_fill(cascade, total.index, end_days)
    parts += _rank_measures(t, key)
    return pd.concat(parts, ignore_index=True)[list(COLUMNS)]


def _time_to_fill(cascade: pd.DataFrame, replications: pd.MultiIndex, end_days) -> list:
    """``rounds_played`` and ``days_to_fill`` per (scenario, replication) of ``replications``."""
    offered = cascade[
        (cascade["metric"] == "offers") & (cascade["value"] > 0) & (cascade["group"] != "all")
    ]
    number = offered["group"].str.removeprefix("round ").astype(int)
    played = number.groupby([offered["scenario"], offered["replication"]]).max()
    played = played.reindex(replications, fill_value=0).rename("value").reset_index()
    common = {"breakdown": "cascade", "group": "all"}
    out = [played.assign(metric="rounds_played", **common)]
    if end_days:
        days = [
            float(end_days[s][n - 1]) if n > 0 else 0.0
            for s, n in zip(played["scenario"], played["value"], strict=True)
        ]
        out.append(played.assign(metric="days_to_fill", value=days, **common))
    return [o.astype({"value": float}) for o in out]


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
