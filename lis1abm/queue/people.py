"""The people of a queue: new applicants entering, and the not hired moving on to the next round.

A person is a row with the columns of the synthetic population
(:data:`lis1abm.market.population.COLUMNS`, ``id`` being the row in the round's market) plus
``person`` (an id unique in the queue's chain: ``round * PERSONS_PER_ROUND + k``) and
``entered`` (the round of the sequence in which they first applied; 0 for the base round's
applicants). This table of the waiting is the whole state carried from one round to the next
in a chain (:mod:`lis1abm.queue.sequence`): a few hundred rows of 20 small columns.

Between two rounds, half a year passes: the time since graduation and the age grow by 0.5
years, the graduation period and age group follow (the base round's periods and age groups,
relative to each round's start), a returning person has applied in one more round, and their
Norwegian may have improved (:attr:`QueueSettings.proficiency_gain`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lis1abm.data.round import RoundData
from lis1abm.market.population import (
    COLUMNS,
    InfeasiblePopulation,
    age_group_of,
    build_population,
    period_index_of,
)
from lis1abm.params import Params
from lis1abm.queue.settings import QueueSettings
from lis1abm.rng import Stream, derived_seed, uniform

PERSONS_PER_ROUND = 1_000_000  # person ids of round t: t * PERSONS_PER_ROUND + 0, 1, ...
HALF_YEAR = 0.5  # years between two rounds
MAX_DRAWS = 64  # base-round populations a cohort may draw from (an inflow factor f needs about f)
PEOPLE_COLUMNS = (*COLUMNS, "person", "entered")


def cell_of(people: pd.DataFrame) -> np.ndarray:
    """Each person's "nationality x education" group label (N,)."""
    return (people["nationality_group"] + " x " + people["education_group"]).to_numpy()


def base_applicants(pop: pd.DataFrame) -> pd.DataFrame:
    """The base round's population as people of round 0."""
    people = pop.copy()
    people["age"] = people["age"].astype(float)
    people["person"] = people["id"].astype(np.int64)
    people["entered"] = np.int64(0)
    return people[list(PEOPLE_COLUMNS)]


def new_applicants(
    data: RoundData, params: Params, inflow: dict[str, float], seed: int, chain: int, t: int
) -> pd.DataFrame:
    """The new applicants of round ``t`` of chain ``chain``: the first-time applicants of a
    population draw of the base round, each "nationality x education" group times its
    ``inflow`` factor (rounded to whole applicants; more draws of the base round when a
    group needs more than one draw holds). They keep every attribute the population model
    gave them (graduation period, age, proficiency, study city, home region, ...).

    Draws: population ``k`` of the cohort has seed ``(seed, chain, QUEUE_COHORT, t, k)``, and
    the order in which a group's members are taken is keyed by ``(seed, chain, QUEUE_ORDER,
    t, row)``.
    """
    firsts = []
    want: dict[str, int] | None = None
    for k in range(MAX_DRAWS):
        drawn = derived_seed(seed, chain, Stream.QUEUE_COHORT, t, k)
        try:
            pop = build_population(data, params, drawn)
        except InfeasiblePopulation:
            continue
        firsts.append(pop[pop["rounds_applied"] == 1])
        if want is None:  # the first draw that could be built sets the counts
            cells = cell_of(firsts[0])
            labels, counts = np.unique(cells, return_counts=True)
            factor = np.array([inflow[c] for c in labels])
            want = dict(zip(labels, np.rint(counts * factor).astype(np.int64), strict=True))
        pool = pd.concat(firsts, ignore_index=True)
        have = pd.Series(cell_of(pool)).value_counts()
        if all(have.get(c, 0) >= n for c, n in want.items()):
            break
    else:
        raise RuntimeError(f"round {t}: {MAX_DRAWS} population draws hold too few new applicants")
    order = uniform(seed, chain, Stream.QUEUE_ORDER, t, np.arange(len(pool)))
    pool = pool.iloc[np.argsort(order, kind="stable")]
    cells = cell_of(pool)
    rank = pd.Series(cells).groupby(cells).cumcount().to_numpy()
    limit = np.array([want.get(c, 0) for c in cells])
    chosen = pool[rank < limit].sort_values(["nationality_group", "education_group"], kind="stable")
    people = chosen.reset_index(drop=True)
    people["age"] = people["age"].astype(float)
    people["person"] = t * PERSONS_PER_ROUND + np.arange(len(people), dtype=np.int64)
    people["entered"] = np.int64(t)
    return people[list(PEOPLE_COLUMNS)]


def who_returns(
    not_hired: pd.DataFrame,
    listed: np.ndarray,
    settings: QueueSettings,
    seed: int,
    chain: int,
    t: int,
) -> np.ndarray:
    """Whether each applicant not hired in round ``t`` applies in round ``t + 1`` (bool (N,)),
    given whether they were on any ad's ranked list in it (``listed``, bool (N,)); the others
    leave the queue. Keyed by ``(seed, chain, QUEUE_RETURN, person, t)``."""
    chance = settings.return_chance(
        not_hired["education_group"].to_numpy(),
        not_hired["nationality_group"].to_numpy(),
        not_hired["rounds_applied"].to_numpy(),
        listed,
    )
    u = uniform(seed, chain, Stream.QUEUE_RETURN, not_hired["person"].to_numpy(), t)
    return u < chance


def half_a_year_on(
    people: pd.DataFrame, data: RoundData, proficiency_gain: float = 0.0
) -> pd.DataFrame:
    """The returning applicants at the next round: half a year older, half a year further from
    graduation (graduation period and age group recomputed), one more round applied, their
    proficiency ``proficiency_gain`` higher (at most 1)."""
    moved = people.copy()
    moved["proficiency"] = np.minimum(moved["proficiency"] + proficiency_gain, 1.0)
    moved["years_since_graduation"] = moved["years_since_graduation"] + HALF_YEAR
    moved["age"] = moved["age"] + HALF_YEAR
    moved["rounds_applied"] = moved["rounds_applied"] + 1
    period = period_index_of(moved["years_since_graduation"].to_numpy(), data)
    labels = [p.group for p in data.breakdowns["graduation_period"]]
    moved["period_index"] = period
    moved["graduation_period"] = np.array(labels, dtype=object)[period]
    moved["age_group"] = age_group_of(moved["age"].to_numpy(), data)
    return moved


def round_population(returning: pd.DataFrame | None, new: pd.DataFrame) -> pd.DataFrame:
    """A round's applicants: the returning (None: nobody), then the new, with market ids
    0..N-1."""
    parts = [new] if returning is None else [returning, new]
    pop = pd.concat(parts, ignore_index=True)
    pop["id"] = np.arange(len(pop), dtype=np.int64)
    return pop


__all__ = [
    "PEOPLE_COLUMNS",
    "PERSONS_PER_ROUND",
    "base_applicants",
    "half_a_year_on",
    "new_applicants",
    "round_population",
    "who_returns",
]
