"""The comparison with the report: the report's figures beside the model's hires over
replications, and the mean offer cascade."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lis1abm.data.round import GROUPS
from lis1abm.market.population import long_term_age_group
from lis1abm.outcomes.aggregate import Summary
from lis1abm.outcomes.tally import BREAKDOWNS, SHORT_TERM, Tally, pair_label
from lis1abm.rules import CASCADE_FIELDS

if TYPE_CHECKING:
    from lis1abm.market.ranking import Market


def report_figures(market: Market) -> dict[tuple[str, str], tuple[int, int | None, bool]]:
    """The report's (applicants, hired, derived) for each (breakdown, group) it covers; for
    ads, (positions, the trust's hires where the trust has a single ad, False).

    The long-term breakdowns are not here: the report gives their not hired, not their
    applicants or hires (:func:`report_not_hired`)."""
    data = market.data
    out: dict[tuple[str, str], tuple[int, int | None, bool]] = {
        ("total", "all"): (data.totals["applicants"], data.totals["hired"], False)
    }
    for kind in ("nationality", "education"):
        for g, (n, h) in data.groups[kind].items():
            out[(kind, g)] = (n, h, False)
    for (ng, eg), (n, h) in data.groups["cross"].items():
        out[("nationality_x_education", f"{ng} x {eg}")] = (n, h, False)
    for p in data.appendix4:
        n, h, _ = out.get(("education_country", p.education), (0, 0, False))
        out[("education_country", p.education)] = (n + p.applicants, h + p.hired, False)
    for p in data.appendix4:
        out[("appendix4", pair_label(p.nationality, p.education))] = (p.applicants, p.hired, False)
    for name in ("gender", "age_group", "graduation_period"):
        for g in data.breakdowns[name]:
            out[(name, g.group)] = (g.applicants, g.hired, g.derived)
    for ad in data.ads:
        trust = data.trust(ad.trust)
        out[("ad", ad.label)] = (ad.positions, trust.hired if trust.ads == 1 else None, False)
    # By the region of the hiring ads: a trust's ads lie in one region, so its hires count
    # there.
    region_of = {ad.trust: ad.region for ad in data.ads}
    for trust in data.trusts:
        region = region_of[trust.name]
        n, h, _ = out.get(("ad_region", region), (0, 0, False))
        out[("ad_region", region)] = (n + trust.positions, h + trust.hired, False)
    return out


def report_not_hired(market: Market) -> dict[tuple[str, str], int]:
    """The report's table 2 as targets: not-hired applicants with four or more rounds applied,
    per (breakdown, group) of ``long_term_origin`` (every nationality x education cell; 0 where
    table 2 has none) and ``long_term_age`` (every age group; table 2's "50-59" is the
    population's "50+"). The group of applicants with fewer rounds has no target.

    The model's not hired of a group is its applicants minus its hired (both are values of
    every replication in the tally).
    """
    data = market.data
    out = {("long_term_origin", f"{n} x {e}"): 0 for n in GROUPS for e in GROUPS}
    out |= {("long_term_age", g.group): 0 for g in data.breakdowns["age_group"]}
    for cell in data.long_term_not_hired:
        out[("long_term_origin", f"{cell.nationality} x {cell.education}")] += cell.count
        out[("long_term_age", long_term_age_group(data, cell.age_group))] += cell.count
    assert SHORT_TERM not in {g for _, g in out}
    return out


def _summary(tally: Tally, replications: Summary | np.ndarray) -> Summary:
    """A summary as it is, or one made of values (R, K) held in memory, with bounds that hold
    them (those of a population ensemble's draws differ from ``tally``'s own)."""
    if isinstance(replications, Summary):
        return replications
    values = np.asarray(replications, dtype=np.int64).reshape(-1, len(tally.layout))
    lo, hi = tally.value_const, tally.value_hi
    if len(values):
        lo, hi = np.minimum(lo, values.min(axis=0)), np.maximum(hi, values.max(axis=0))
    summary = Summary(tally, (lo, hi))
    summary.add_values(values)
    return summary


def compare(tally: Tally, replications: Summary | np.ndarray) -> list[dict]:
    """The report's figures beside the model's hires over replications.

    ``replications``: their :class:`Summary`, or their values (R, K) (see :class:`Tally`).
    Returns one dict per breakdown and group, in :data:`BREAKDOWNS` order: ``breakdown, group,
    applicants, report_hired, report_derived, report_not_hired, sim_hired_mean, sim_hired_p05,
    sim_hired_p10, sim_hired_p90, sim_hired_p95`` (mean and percentiles as :func:`numpy.mean`
    and :func:`numpy.percentile` give them on the values of every replication).
    ``report_not_hired`` is the report's target where it gives not hired rather than hires
    (table 2: :func:`report_not_hired`), else None; the model's not hired is
    ``applicants - sim_hired_*`` (applicants are the model's there).

    ``applicants`` is the report's where it has the group, else the model's mean over the
    replications: the same in every replication of one market, but a group such as table 2's
    long-term applicants differs between the draws of a population ensemble
    (:mod:`lis1abm.simulation.ensemble`). A share hired is then mean hires over mean
    applicants, and the model's mean not hired ``applicants - sim_hired_mean`` is exact; its
    band ``applicants - sim_hired_p95 .. applicants - sim_hired_p05`` is exact on one market
    and, on an ensemble, leaves out the spread of those groups' applicants.
    """
    summary = _summary(tally, replications)
    layout = tally.layout
    hired = np.flatnonzero(layout["metric"].to_numpy() == "hired")
    all_means = summary.mean()
    mean = all_means[hired]
    p05, p10, p90, p95 = summary.percentile([5, 10, 90, 95])[:, hired]
    applicants = {
        (b, g): int(v) if float(v).is_integer() else float(v)
        for b, g, m, v in zip(
            layout["breakdown"], layout["group"], layout["metric"], all_means, strict=True
        )
        if m in ("applicants", "positions")  # the ads' rows compare hires with positions
    }
    report = report_figures(tally.market)
    not_hired = report_not_hired(tally.market)
    order = {b: i for i, b in enumerate(BREAKDOWNS)}
    rows = []
    for k, col in enumerate(hired):
        breakdown, group = layout["breakdown"].iloc[col], layout["group"].iloc[col]
        if breakdown not in order:
            continue
        figure = report.get((breakdown, group))
        if figure is None:  # a group the report lacks (never for the shipped round)
            figure = (applicants[breakdown, group], None, False)
        n, h, derived = figure
        rows.append(
            {
                "breakdown": breakdown,
                "group": group,
                "applicants": n,
                "report_hired": h,
                "report_derived": derived,
                "report_not_hired": not_hired.get((breakdown, group)),
                "sim_hired_mean": float(mean[k]),
                "sim_hired_p05": float(p05[k]),
                "sim_hired_p10": float(p10[k]),
                "sim_hired_p90": float(p90[k]),
                "sim_hired_p95": float(p95[k]),
            }
        )
    rows.sort(key=lambda r: order[r["breakdown"]])
    return rows


REPORT_COLUMNS = (
    "breakdown",
    "group",
    "observed",
    "applicants",
    "report",
    "report_derived",
    "model_mean",
    "p05",
    "p95",
    "inside_band",
)
"""Columns of :func:`report_table`."""


def report_table(
    rows: list[dict], statements: list[dict] = (), not_hired_of: tuple[str, ...] = ()
) -> pd.DataFrame:
    """The report's figures beside the model's, one row per figure: columns
    :data:`REPORT_COLUMNS`.

    ``rows``: :func:`compare`'s. ``observed`` says what ``report``, ``model_mean``, ``p05`` and
    ``p95`` count: ``hired``; or ``not_hired`` for table 2's breakdowns (the report counts
    their not hired) and, added beside the ``hired`` rows, for the breakdowns
    ``not_hired_of`` (the report's figures 5.1-5.4 count the not hired). The model's not
    hired are applicants - hires, and the applicants of a group are the same in every
    replication, so the not-hired 5 % point is applicants - the hires' 95 % point and the
    other way round. ``inside_band``: ``yes`` when the report's figure lies in [p05, p95],
    ``no``, or empty without a report figure. ``report_derived``: the report's figure is
    worked out from its percentages. ``statements`` (:func:`lis1abm.report.statements.
    figure_4_3`) become rows of breakdown ``figure_4_3``: ``report`` the reference figure,
    ``model_mean`` the model's, inside_band ``hit`` or ``miss``.
    """
    out = []
    # Table 2's breakdowns: every group counts not hired (the one without a target, fewer
    # than four rounds applied, too).
    table2 = {r["breakdown"] for r in rows if r.get("report_not_hired") is not None}
    for r in rows:
        n, h = r["applicants"], r["report_hired"]
        hired = (r["sim_hired_mean"], r["sim_hired_p05"], r["sim_hired_p95"])
        not_hired = (n - hired[0], n - hired[2], n - hired[1])
        figures = []
        if r["breakdown"] in table2:
            figures.append(("not_hired", r["report_not_hired"], not_hired))
        else:
            figures.append(("hired", h, hired))
            if r["breakdown"] in not_hired_of:
                figures.append(("not_hired", None if h is None else n - h, not_hired))
        for observed, report, (mean, p05, p95) in figures:
            inside = "" if report is None else ("yes" if p05 <= report <= p95 else "no")
            derived = bool(r.get("report_derived")) and report is not None
            out.append(
                (r["breakdown"], r["group"], observed, n, report, derived, mean, p05, p95, inside)
            )
    for s in statements:
        group = f"({s['statement']}) {s['subject']}: {s['measure']}"
        hit = "hit" if s["hit"] else "miss"
        out.append(
            (
                "figure_4_3",
                group,
                "statement",
                None,
                s["reference"],
                False,
                s["model"],
                None,
                None,
                hit,
            )
        )
    table = pd.DataFrame(out, columns=list(REPORT_COLUMNS))
    table["report"] = table["report"].astype("Float64")
    applicants = table["applicants"].astype("Float64")
    # Whole numbers but for the model's mean applicants of a group over population draws.
    whole = bool((applicants.dropna() % 1 == 0).all())
    table["applicants"] = applicants.astype("Int64") if whole else applicants
    return table


def round_label(round_number: int, n_calendar: int) -> str:
    """How a round is shown: its number in the calendar ("1" ... "5"), then "after 1",
    "after 2", ... for the rounds after the calendar (round numbers go on counting: the
    event log's round 6 is "after 1")."""
    if round_number <= n_calendar:
        return str(round_number)
    return f"after {round_number - n_calendar}"


def cascade_summary(tally: Tally, replications: Summary | np.ndarray) -> dict:
    """Mean cascade figures over replications (their :class:`Summary` or values (R, K)): per
    round (``round``: its number, 6 for the first after the calendar of five; ``label``:
    :func:`round_label`; ``after_calendar``) and in all. A round after the calendar that no
    replication played has every mean zero but ``open_after``."""
    summary = _summary(tally, replications)
    layout = tally.layout
    cols = np.flatnonzero(layout["breakdown"].to_numpy() == "cascade")
    means = {
        (layout["group"].iloc[c], layout["metric"].iloc[c]): float(m)
        for c, m in zip(cols, summary.mean()[cols], strict=True)
    }
    n_rounds, n_calendar = tally.market.n_rounds, tally.market.n_calendar
    return {
        "replications": summary.replications,
        "rounds": [
            {
                "round": r,
                "label": round_label(r, n_calendar),
                "after_calendar": r > n_calendar,
                **{f: means[(f"round {r}", f)] for f in CASCADE_FIELDS},
            }
            for r in range(1, n_rounds + 1)
        ],
        "total": {f: means[("all", f)] for f in CASCADE_FIELDS if f != "open_after"}
        | {"unfilled": means[("all", "unfilled")]},
    }
