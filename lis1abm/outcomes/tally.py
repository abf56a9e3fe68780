"""The tally: what one replication produced, as a vector of values, and as tidy tables.

Per replication the cascade produces who was hired where and when (:class:`ReplicationOutcome`).
:class:`Tally` lays out the values of a replication (hires per breakdown and group, per ad, the
cascade) and is the single place where outcomes become a DataFrame: columns ``replication,
breakdown, group, metric, value``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numba import njit, prange

from lis1abm.compiled import cached_njit
from lis1abm.data.round import GROUPS, REGIONS
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
    "home_region",
    "appendix4",
    "long_term_origin",
    "long_term_age",
    "ad",
    "ad_region",
)
"""Breakdowns of hires compared with the report (the ``breakdown`` of the JSON rows).

``appendix4``: every nationality x education-country pair of the report's appendix 4 (group
``"<nationality> / <education country>"``). ``long_term_origin`` and ``long_term_age``: the
applicants with four or more rounds applied (:data:`LONG_TERM_ROUNDS`), by nationality x
education group (``"<nationality group> x <education group>"``) and by age group, and everyone
else in the group :data:`SHORT_TERM`; the report's figure for these is table 2's *not hired*
(:func:`lis1abm.report.compare.report_not_hired`), not hires. ``home_region``: the
applicants' regional health authority (RHF) of residence, or :data:`ABROAD` (the report has
no figures by it). ``ad_region``: hires by the RHF of the hiring ad, beside its positions."""

ABROAD = "abroad"
"""The ``home_region`` group of applicants living outside Norway."""

LONG_TERM_ROUNDS = 4
"""Rounds applied (this one included) from which an applicant counts in table 2."""
SHORT_TERM = "fewer than 4 rounds"
"""The group of the long-term breakdowns holding applicants with fewer rounds."""


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
    long_term = pop["rounds_applied"].to_numpy() >= LONG_TERM_ROUNDS
    ages = [g.group for g in data.breakdowns["age_group"]]
    pairs = [pair_label(p.nationality, p.education) for p in data.appendix4]
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
        "appendix4": (
            (pop["nationality"] + " / " + pop["education_country"]).to_numpy(),
            pairs,
        ),
        "long_term_origin": (
            np.where(long_term, cross, SHORT_TERM),
            [f"{n} x {e}" for n in GROUPS for e in GROUPS] + [SHORT_TERM],
        ),
        "long_term_age": (np.where(long_term, pop["age_group"], SHORT_TERM), [*ages, SHORT_TERM]),
        "home_region": (
            np.where(pop["home_region"] == "", ABROAD, pop["home_region"]),
            [*REGIONS, ABROAD],
        ),
    }


def pair_label(nationality: str, education: str) -> str:
    """The ``appendix4`` group of a nationality x education-country pair (the same label as
    :func:`applicant_groups` builds)."""
    return f"{nationality} / {education}"


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
        recipe: list[tuple[int, list[int]]] = []  # per row: (constant, sources)
        columns = []
        offset = 0
        for breakdown, (labels, groups) in applicant_groups(market).items():
            index = {g: k for k, g in enumerate(groups)}
            code = np.array([index[x] for x in labels], dtype=np.int64)
            rows += [(breakdown, g, m) for g in groups for m in ("applicants", "hired")]
            self.n_groups[breakdown] = len(groups)
            self.sizes[breakdown] = np.bincount(code, minlength=len(groups))
            for k, size in enumerate(self.sizes[breakdown]):
                recipe += [(int(size), []), (0, [offset + k])]
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
        capacity = np.asarray(market.capacity, dtype=np.int64)
        for j in range(market.n_ads):
            by_edu = [self.ad_slot0 + j * len(GROUPS) + g for g in range(len(GROUPS))]
            recipe += [(int(self.positions[j]), []), (int(capacity[j]), []), (0, by_edu)]
            recipe += [(0, [s]) for s in by_edu]
        # Per region of the hiring ads: positions, and hires (every education group's slot
        # of every ad there).
        regions = np.array([ad.region for ad in market.data.ads])
        for region in REGIONS:
            ads = np.flatnonzero(regions == region)
            slots = [self.ad_slot0 + j * len(GROUPS) + g for j in ads for g in range(len(GROUPS))]
            rows += [("ad_region", region, "positions"), ("ad_region", region, "hired")]
            recipe += [(int(self.positions[ads].sum()), []), (0, slots)]
        n_fields = len(CASCADE_FIELDS)
        rows += [
            ("cascade", f"round {r + 1}", f) for r in range(market.n_rounds) for f in CASCADE_FIELDS
        ]
        recipe += [(0, [self.n_slots + q]) for q in range(market.n_rounds * n_fields)]
        for k, f in enumerate(CASCADE_FIELDS):
            if f != "open_after":
                rows.append(("cascade", "all", f))
                recipe.append(
                    (0, [self.n_slots + r * n_fields + k for r in range(market.n_rounds)])
                )
        rows.append(("cascade", "all", "unfilled"))
        last_open = (market.n_rounds - 1) * n_fields + CASCADE_FIELDS.index("open_after")
        recipe.append((0, [self.n_slots + last_open]))
        self.layout = pd.DataFrame(rows, columns=["breakdown", "group", "metric"])
        self._recipe = recipe
        self._set_recipe(recipe, capacity)

    def for_market(self, market: Market) -> Tally:
        """The tally of a market with the same population, applications and capacity but
        other scores (:func:`lis1abm.market.ranking.rescore`): the same layout and slots, the
        bounds redone (they count the qualified applications). What ``Tally(market)`` gives,
        in a fraction of the time."""
        if not (
            market.population is self.market.population
            and np.array_equal(market.capacity, self.market.capacity)
            and market.n_rounds == self.market.n_rounds
        ):
            raise ValueError("for_market: another population, capacity or calendar")
        tally = copy.copy(self)
        tally.market = market
        tally._set_recipe(self._recipe, np.asarray(market.capacity, dtype=np.int64))
        return tally

    def _set_recipe(self, recipe: list[tuple[int, list[int]]], capacity: np.ndarray) -> None:
        """Store each value as a constant plus a sum of sources, and bound it.

        A source indexes the vector ``[counts (S), cascade.ravel() (R * F)]`` of one
        replication. The bounds hold for any replication: a group's hires are at most its
        applicants (each is hired at most once), an ad's hires of a group at most the smaller
        of its capacity and the group's size, and every per-round cascade count at most the
        positions of all ads C (an ad offers one position per vacancy, each offer has one
        response, and an applicant counted in a round holds at least one offer), except
        ``skipped_withdrawn``: at most the qualified applications Q in a round and in all
        rounds together (an ad passes over a withdrawn candidate of its list once).
        """
        n_education = np.bincount(self.education, minlength=len(GROUPS))
        source_hi = np.full(self.n_slots + self.market.n_rounds * len(CASCADE_FIELDS), -1)
        start = 0
        for breakdown, g in self.n_groups.items():
            source_hi[start : start + g] = self.sizes[breakdown]
            start += g
        source_hi[self.ad_slot0 : self.n_slots] = np.minimum(
            capacity[:, None], n_education[None, :]
        ).ravel()
        source_hi[self.n_slots :] = int(capacity.sum())
        n_qualified = int(np.count_nonzero(self.market.qualified))
        skipped = CASCADE_FIELDS.index("skipped_withdrawn")
        source_hi[self.n_slots + skipped :: len(CASCADE_FIELDS)] = n_qualified
        assert source_hi.min() >= 0
        # Value k = value_const[k] + sum of value_src[value_ptr[k]:value_ptr[k + 1]], each
        # source an index into [counts (S), cascade.ravel() (R * F)]; it lies in
        # [value_const[k], value_hi[k]].
        self.value_const = np.array([c for c, _ in recipe], dtype=np.int64)  # (K,)
        self.value_ptr = np.zeros(len(recipe) + 1, dtype=np.int64)  # (K + 1,)
        np.cumsum([len(s) for _, s in recipe], out=self.value_ptr[1:])
        self.value_src = np.array([x for _, s in recipe for x in s], dtype=np.int64)  # (P,)
        running = np.concatenate([[0], np.cumsum(source_hi[self.value_src])])
        self.value_hi = (
            self.value_const + running[self.value_ptr[1:]] - running[self.value_ptr[:-1]]
        )
        all_skipped = (self.layout["group"] == "all") & (
            self.layout["metric"] == "skipped_withdrawn"
        )
        self.value_hi[all_skipped.to_numpy()] = n_qualified

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
        counts = np.ascontiguousarray(counts, dtype=np.int64)
        cascade = np.ascontiguousarray(cascade, dtype=np.int64)
        out = np.empty((counts.shape[0], len(self.value_const)), dtype=np.int64)
        _values(counts, cascade, self.value_const, self.value_ptr, self.value_src, out)
        return out

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


@njit(inline="always")  # inlined, so that the GPU kernels compile it with no GPU present
def recipe_value(k, counts, cascade, const, ptr, src) -> int:
    """Value k of one replication (:class:`Tally`'s recipe ``const, ptr, src``) from its hire
    counts, int64 (S,), and cascade flattened, int64 (R * F,) (round by round, as
    ``cascade.reshape(-1)`` of the (R, F) table). Flat, so that the GPU kernels can pass the
    cascade they keep in one shared-memory row."""
    n_slots = counts.shape[0]
    v = const[k]
    for p in range(ptr[k], ptr[k + 1]):
        s = src[p]
        v += counts[s] if s < n_slots else cascade[s - n_slots]
    return v


@cached_njit(parallel=True)
def _values(counts, cascade, const, ptr, src, out):
    """Every value of replications (counts (B, S), cascade (B, R, F)) into ``out`` (B, K)."""
    for b in prange(counts.shape[0]):
        for k in range(const.shape[0]):
            out[b, k] = recipe_value(k, counts[b], cascade[b].reshape(-1), const, ptr, src)


def tally(market: Market, outcome: ReplicationOutcome) -> pd.DataFrame:
    """One replication as a long table (see :class:`Tally`)."""
    t = Tally(market)
    return t.table([outcome.replication], t.values(outcome)[None, :])
