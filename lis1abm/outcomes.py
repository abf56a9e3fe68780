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


class Tally:
    """Turns replication outcomes into the long table, cheaply.

    The rows of a replication, ``(breakdown, group, metric)``, are the same for every
    replication of a market: they are laid out once here, each replication contributes one
    int64 vector of values (:meth:`values`), and :meth:`table` builds the long DataFrame once
    (categorical columns), whatever the number of replications.

    Metrics: ``applicants`` and ``hired`` for every applicant breakdown; for each ad
    ``positions``, ``capacity``, ``hired`` and ``hired_<education group>``; for the cascade
    (breakdown ``cascade``, group ``round k`` or ``all``) every field of
    :data:`CASCADE_FIELDS`, plus ``unfilled`` (open positions after the last round).
    """

    AD_METRICS = ("positions", "capacity", "hired", *(f"hired_{g}" for g in GROUPS))

    def __init__(self, market: Market):
        self.market = market
        self.codes: dict[str, np.ndarray] = {}  # breakdown -> group index of each applicant
        self.sizes: dict[str, np.ndarray] = {}  # breakdown -> applicants per group
        rows: list[tuple[str, str, str]] = []
        for breakdown, (labels, groups) in applicant_groups(market).items():
            index = {g: k for k, g in enumerate(groups)}
            self.codes[breakdown] = np.array([index[x] for x in labels], dtype=np.int64)
            rows += [(breakdown, g, m) for g in groups for m in ("applicants", "hired")]
            self.sizes[breakdown] = np.bincount(self.codes[breakdown], minlength=len(groups))
        self.education = self.codes["education"]
        labels = [ad.label for ad in market.data.ads]
        rows += [("ad", label, m) for label in labels for m in self.AD_METRICS]
        self.positions = np.array([ad.positions for ad in market.data.ads], dtype=np.int64)
        rows += [
            ("cascade", f"round {r + 1}", f) for r in range(market.n_rounds) for f in CASCADE_FIELDS
        ]
        rows += [("cascade", "all", f) for f in CASCADE_FIELDS if f != "open_after"]
        rows.append(("cascade", "all", "unfilled"))
        self.layout = pd.DataFrame(rows, columns=["breakdown", "group", "metric"])

    def values(self, outcome: ReplicationOutcome) -> np.ndarray:
        """One replication's values, int64 aligned with :attr:`layout`."""
        hired = outcome.hired_ad >= 0
        parts = []
        for breakdown, codes in self.codes.items():
            n = self.sizes[breakdown]
            h = np.bincount(codes[hired], minlength=len(n))
            parts.append(np.column_stack([n, h]).ravel())
        j = self.market.n_ads
        by_edu = np.bincount(
            outcome.hired_ad[hired] * len(GROUPS) + self.education[hired],
            minlength=j * len(GROUPS),
        ).reshape(j, len(GROUPS))
        ads = np.column_stack([self.positions, self.market.capacity, by_edu.sum(axis=1), by_edu])
        parts.append(ads.ravel())
        parts.append(outcome.cascade.ravel())
        keep = [k for k, f in enumerate(CASCADE_FIELDS) if f != "open_after"]
        parts.append(outcome.cascade.sum(axis=0)[keep])
        parts.append(outcome.cascade[-1:, CASCADE_FIELDS.index("open_after")])
        return np.concatenate(parts).astype(np.int64)

    def table(self, replications, values: np.ndarray) -> pd.DataFrame:
        """The long table ``replication, breakdown, group, metric, value`` of replications
        ``replications`` (R,) with ``values`` (R, K)."""
        values = np.asarray(values, dtype=np.int64).reshape(len(replications), -1)
        k = len(self.layout)
        out = {"replication": np.repeat(np.asarray(replications, dtype=np.int64), k)}
        for column in ("breakdown", "group", "metric"):
            cat = pd.Categorical(self.layout[column])
            out[column] = pd.Categorical.from_codes(
                np.tile(cat.codes, len(replications)), cat.categories
            )
        out["value"] = values.ravel()
        return pd.DataFrame(out)


def tally(market: Market, outcome: ReplicationOutcome) -> pd.DataFrame:
    """One replication as a long table (see :class:`Tally`)."""
    t = Tally(market)
    return t.table([outcome.replication], t.values(outcome)[None, :])


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
    stats = hired.groupby(["breakdown", "group"], sort=False, observed=True)["value"].agg(
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
    means = casc.groupby(["group", "metric"], sort=False, observed=True)["value"].mean()
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
