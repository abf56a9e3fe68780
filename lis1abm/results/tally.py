"""The tally: what one replication produced, as a vector of values, and as tidy tables.

Per replication the cascade produces who was hired where and when (:class:`ReplicationOutcome`).
:class:`Tally` lays out the values of a replication (hires per breakdown and group, per ad, the
cascade) and is the single place where outcomes become a DataFrame: columns ``replication,
breakdown, group, metric, value``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lis1abm.data.round import GROUPS
from lis1abm.rules import CASCADE_FIELDS

if TYPE_CHECKING:
    from lis1abm.market.ranking import Market

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
    replication of a market: they are laid out once here (:attr:`layout`, K rows), each
    replication contributes one int64 vector of K values, and :meth:`table` builds the long
    DataFrame once (categorical columns), whatever the number of replications.

    Metrics: ``applicants`` and ``hired`` for every applicant breakdown; for each ad
    ``positions``, ``capacity``, ``hired`` and ``hired_<education group>``; for the cascade
    (breakdown ``cascade``, group ``round k`` or ``all``) every field of
    :data:`CASCADE_FIELDS`, plus ``unfilled`` (open positions after the last round).

    Hires are first counted into S *slots* (:meth:`hire_counts`): for each applicant breakdown
    one slot per group, then one per (ad, education group). ``slots[i]`` lists the applicant
    slots of applicant i, and a hire at ad j also counts in slot ``ad_slot0 + j * G +
    education[i]``. The compiled engine counts into the same slots, so every backend's
    outcome becomes values through :meth:`values_from`.
    """

    AD_METRICS = ("positions", "capacity", "hired", *(f"hired_{g}" for g in GROUPS))

    def __init__(self, market: Market):
        self.market = market
        self.n_groups: dict[str, int] = {}  # breakdown -> number of groups
        self.sizes: dict[str, np.ndarray] = {}  # breakdown -> applicants per group
        rows: list[tuple[str, str, str]] = []
        columns = []
        offset = 0
        for breakdown, (labels, groups) in applicant_groups(market).items():
            index = {g: k for k, g in enumerate(groups)}
            code = np.array([index[x] for x in labels], dtype=np.int64)
            rows += [(breakdown, g, m) for g in groups for m in ("applicants", "hired")]
            self.n_groups[breakdown] = len(groups)
            self.sizes[breakdown] = np.bincount(code, minlength=len(groups))
            columns.append(offset + code)
            offset += len(groups)
            if breakdown == "education":
                self.education = code  # int64 (N,): index in GROUPS
        self.slots = np.column_stack(columns)  # int64 (N, B): applicant slots of each applicant
        self.ad_slot0 = sum(self.n_groups.values())
        self.n_slots = self.ad_slot0 + market.n_ads * len(GROUPS)
        labels = [ad.label for ad in market.data.ads]
        rows += [("ad", label, m) for label in labels for m in self.AD_METRICS]
        self.positions = np.array([ad.positions for ad in market.data.ads], dtype=np.int64)
        rows += [
            ("cascade", f"round {r + 1}", f) for r in range(market.n_rounds) for f in CASCADE_FIELDS
        ]
        rows += [("cascade", "all", f) for f in CASCADE_FIELDS if f != "open_after"]
        rows.append(("cascade", "all", "unfilled"))
        self.layout = pd.DataFrame(rows, columns=["breakdown", "group", "metric"])

    def hire_counts(self, hired_ad: np.ndarray) -> np.ndarray:
        """Hires per slot, int64 (S,), from each applicant's ad (int (N,), -1 if not hired)."""
        hired = hired_ad >= 0
        ad_slots = self.ad_slot0 + hired_ad[hired] * len(GROUPS) + self.education[hired]
        return np.bincount(
            np.concatenate([self.slots[hired].ravel(), ad_slots]), minlength=self.n_slots
        ).astype(np.int64)

    def values_from(self, counts: np.ndarray, cascade: np.ndarray) -> np.ndarray:
        """Values of replications, int64 (R, K) aligned with :attr:`layout`, from their hire
        counts (R, S) and cascades (R, rounds, len(CASCADE_FIELDS))."""
        counts = np.asarray(counts, dtype=np.int64)
        reps = counts.shape[0]
        parts = []
        start = 0
        for breakdown, g in self.n_groups.items():
            n = np.broadcast_to(self.sizes[breakdown], (reps, g))
            h = counts[:, start : start + g]
            parts.append(np.stack([n, h], axis=2).reshape(reps, 2 * g))
            start += g
        j = self.market.n_ads
        by_edu = counts[:, self.ad_slot0 :].reshape(reps, j, len(GROUPS))
        fixed = np.broadcast_to(
            np.column_stack([self.positions, self.market.capacity]), (reps, j, 2)
        )
        parts.append(
            np.concatenate([fixed, by_edu.sum(axis=2, keepdims=True), by_edu], axis=2).reshape(
                reps, -1
            )
        )
        parts.append(cascade.reshape(reps, -1))
        keep = [k for k, f in enumerate(CASCADE_FIELDS) if f != "open_after"]
        parts.append(cascade.sum(axis=1)[:, keep])
        parts.append(cascade[:, -1, CASCADE_FIELDS.index("open_after")][:, None])
        return np.concatenate(parts, axis=1).astype(np.int64)

    def values(self, outcome: ReplicationOutcome) -> np.ndarray:
        """One replication's values, int64 (K,) aligned with :attr:`layout`."""
        return self.values_from(self.hire_counts(outcome.hired_ad)[None], outcome.cascade[None])[0]

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
