"""Outcomes: what one replication produced, as tidy tables, and their comparison with the report.

Per replication the cascade produces who was hired where and when (:class:`ReplicationOutcome`).
:func:`tally` turns that into one long table, the single place where outcomes become a
DataFrame: columns ``replication, breakdown, group, metric, value``. :func:`compare` summarises
many replications beside the report's figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .round_data import GROUPS

if TYPE_CHECKING:
    from .market import Market

CASCADE_FIELDS = (
    "offers",
    "accepted",
    "declined",
    "unanswered",
    "declined_hired",
    "applicants_waiting",
    "applicants_no_reply",
    "applicants_withdrawn",
    "open_after",
)
"""Per-round cascade counts: offers made; responses (accepted, declined, unanswered,
declined because already hired elsewhere); applicants who declined all to wait, who missed the
deadline, who declined all because they took another job; open positions after the round."""

BREAKDOWNS = (
    "total",
    "nationality",
    "education",
    "nationality_x_education",
    "education_country",
    "gender",
    "age_group",
    "graduation_period",
    "ad",
)
"""Breakdowns of hires compared with the report (the ``breakdown`` of the JSON rows)."""


@dataclass(frozen=True)
class ReplicationOutcome:
    """The result of one replication.

    Attributes
    ----------
    replication : its index.
    hired_ad : int64 (N,): ad index of each applicant's job, -1 if not hired.
    hired_round : int64 (N,): offer round of acceptance, 0 if not hired.
    cascade : int64 (R, len(CASCADE_FIELDS)): counts per offer round.
    """

    replication: int
    hired_ad: np.ndarray
    hired_round: np.ndarray
    cascade: np.ndarray


def applicant_groups(market: Market) -> dict[str, tuple[np.ndarray, list[str]]]:
    """For each applicant breakdown: each applicant's group label (N,) and the groups in
    display order."""
    pop = market.population
    data = market.data
    cross = (pop["nationality_group"] + " x " + pop["education_group"]).to_numpy()
    countries = (
        pd.DataFrame([(p.education, p.applicants) for p in data.appendix4], columns=["c", "n"])
        .groupby("c", sort=False)["n"]
        .sum()
        .sort_values(ascending=False, kind="stable")
        .index.tolist()
    )
    return {
        "total": (np.full(len(pop), "all", dtype=object), ["all"]),
        "nationality": (pop["nationality_group"].to_numpy(), list(GROUPS)),
        "education": (pop["education_group"].to_numpy(), list(GROUPS)),
        "nationality_x_education": (cross, [f"{n} x {e}" for n in GROUPS for e in GROUPS]),
        "education_country": (pop["education_country"].to_numpy(), countries),
        "gender": (pop["gender"].to_numpy(), [g.group for g in data.breakdowns["gender"]]),
        "age_group": (pop["age_group"].to_numpy(), [g.group for g in data.breakdowns["age_group"]]),
        "graduation_period": (
            pop["graduation_period"].to_numpy(),
            [g.group for g in data.breakdowns["graduation_period"]],
        ),
    }


def tally(market: Market, outcome: ReplicationOutcome) -> pd.DataFrame:
    """One replication as a long table: ``replication, breakdown, group, metric, value``.

    Metrics: ``applicants`` and ``hired`` for every applicant breakdown; for each ad
    ``positions``, ``capacity``, ``hired`` and ``hired_<education group>``; for the cascade
    (breakdown ``cascade``, group ``round k`` or ``all``) every field of
    :data:`CASCADE_FIELDS`, plus ``unfilled`` (open positions after the last round).
    """
    rows: list[tuple[str, str, str, int]] = []
    hired = outcome.hired_ad >= 0
    for breakdown, (labels, groups) in applicant_groups(market).items():
        for g in groups:
            members = labels == g
            rows.append((breakdown, g, "applicants", int(members.sum())))
            rows.append((breakdown, g, "hired", int((members & hired).sum())))
    edu = market.population["education_group"].to_numpy()
    hires_per_ad = np.bincount(outcome.hired_ad[hired], minlength=market.n_ads)
    for j, ad in enumerate(market.data.ads):
        rows += [
            ("ad", ad.label, "positions", ad.positions),
            ("ad", ad.label, "capacity", int(market.capacity[j])),
            ("ad", ad.label, "hired", int(hires_per_ad[j])),
        ]
        for g in GROUPS:
            rows.append(
                ("ad", ad.label, f"hired_{g}", int(((outcome.hired_ad == j) & (edu == g)).sum()))
            )
    for r, counts in enumerate(outcome.cascade):
        rows += [
            ("cascade", f"round {r + 1}", f, int(v))
            for f, v in zip(CASCADE_FIELDS, counts, strict=True)
        ]
    totals = outcome.cascade.sum(axis=0)
    rows += [
        ("cascade", "all", f, int(v))
        for f, v in zip(CASCADE_FIELDS, totals, strict=True)
        if f != "open_after"
    ]
    rows.append(("cascade", "all", "unfilled", int(outcome.cascade[-1, -1])))
    table = pd.DataFrame(rows, columns=["breakdown", "group", "metric", "value"])
    table.insert(0, "replication", outcome.replication)
    return table


def report_figures(market: Market) -> dict[tuple[str, str], tuple[int, int | None, bool]]:
    """The report's (applicants, hired, derived) for each (breakdown, group) it covers; for
    ads, (positions, the trust's hires where the trust has a single ad, False)."""
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
    for name in ("gender", "age_group", "graduation_period"):
        for g in data.breakdowns[name]:
            out[(name, g.group)] = (g.applicants, g.hired, g.derived)
    for ad in data.ads:
        trust = data.trust(ad.trust)
        out[("ad", ad.label)] = (ad.positions, trust.hired if trust.ads == 1 else None, False)
    return out


def compare(market: Market, reps: pd.DataFrame) -> list[dict]:
    """The report's figures beside the model's hires over replications.

    ``reps`` is the concatenation of :func:`tally` tables. Returns one dict per breakdown and
    group, in :data:`BREAKDOWNS` order: ``breakdown, group, applicants, report_hired,
    report_derived, sim_hired_mean, sim_hired_p10, sim_hired_p90``.
    """
    hired = reps[reps["metric"] == "hired"]
    stats = hired.groupby(["breakdown", "group"], sort=False)["value"].agg(
        mean="mean",
        p10=lambda v: float(np.percentile(v, 10)),
        p90=lambda v: float(np.percentile(v, 90)),
    )
    report = report_figures(market)
    order = {b: i for i, b in enumerate(BREAKDOWNS)}
    rows = []
    for (breakdown, group), s in stats.iterrows():
        if breakdown not in order:
            continue
        n, h, derived = report.get((breakdown, group), (None, None, False))
        if n is None:  # a group the report lacks (never for the shipped round)
            n = int(
                reps[
                    (reps["breakdown"] == breakdown)
                    & (reps["group"] == group)
                    & (reps["metric"] == "applicants")
                ]["value"].iloc[0]
            )
        rows.append(
            {
                "breakdown": breakdown,
                "group": group,
                "applicants": n,
                "report_hired": h,
                "report_derived": derived,
                "sim_hired_mean": float(s["mean"]),
                "sim_hired_p10": s["p10"],
                "sim_hired_p90": s["p90"],
            }
        )
    rows.sort(key=lambda r: order[r["breakdown"]])
    return rows


def cascade_summary(reps: pd.DataFrame) -> dict:
    """Mean cascade figures over replications: per round and in all."""
    casc = reps[reps["breakdown"] == "cascade"]
    means = casc.groupby(["group", "metric"], sort=False)["value"].mean()
    rounds = sorted(
        {g for g in casc["group"] if g.startswith("round ")}, key=lambda g: int(g.split()[1])
    )
    return {
        "replications": int(reps["replication"].nunique()),
        "rounds": [
            {"round": int(g.split()[1]), **{f: float(means[(g, f)]) for f in CASCADE_FIELDS}}
            for g in rounds
        ],
        "total": {f: float(means[("all", f)]) for f in CASCADE_FIELDS if f != "open_after"}
        | {"unfilled": float(means[("all", "unfilled")])},
    }
