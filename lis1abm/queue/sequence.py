"""A chain of rounds: the base round, then spring and autumn rounds in turn, each playing the
applicants the earlier rounds left waiting and the new ones.

One chain is one replication of the queue: round 0 is the calibrated base round as
``lis1abm simulate`` plays its replication ``chain`` on population draw ``chain``; its not
hired apply again or leave (:func:`~lis1abm.queue.people.who_returns`), half a year on; new
applicants come in (:func:`~lis1abm.queue.people.new_applicants`); the round's market is built
for exactly these people (their applications drawn anew, the hospitals' scores from their
attributes as in one round) and its offer cascade is played on an engine. Every draw of round
``t`` is keyed by ``(seed, chain, t, ...)``, so a chain is a pure function of (seed, chain)
and the same on every engine: the Mesa model and the compiled CPU engine play each round's
cascade identically (the engines' own guarantee), and everything between rounds is the same
code for both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from lis1abm import engine as compiled
from lis1abm.abm.model import LIS1Model
from lis1abm.data.round import GROUPS, RoundData, load_round
from lis1abm.data.scaling import scale_applications, scale_positions
from lis1abm.market.population import COLUMNS
from lis1abm.market.ranking import Market, market_of
from lis1abm.outcomes.tally import Tally
from lis1abm.params import Params, with_overrides
from lis1abm.queue.people import (
    base_applicants,
    half_a_year_on,
    new_applicants,
    round_population,
    who_returns,
)
from lis1abm.queue.schedule import RoundSpec, projection
from lis1abm.queue.settings import QueueSettings
from lis1abm.rng import Stream, derived_seed
from lis1abm.simulation.prepare import prepare, resolve_inputs

ENGINES = ("cpu", "mesa", "cuda")
LONG_TERM_ROUNDS = 4  # table 2 of the report: not hired after four or more rounds
MANY_ROUNDS = 6  # the report's "applied more than five times"
ROUND_COUNTS = (
    "applicants",
    "new",
    "returning",
    "hired",
    "not_hired",
    "leaving",
    "long_term_not_hired",
    "more_than_five_rounds",
)
"""Per round and education group: counts that add up (applicants = new + returning, not_hired
= applicants - hired, not_hired = returning next round + leaving), the not hired who have
applied in :data:`LONG_TERM_ROUNDS` rounds or more (the report's table 2), and the applicants
who have applied in more than five (this round included)."""


@dataclass(frozen=True)
class ChainResult:
    """What one chain produced.

    Attributes
    ----------
    rounds : one row per round and group ("all" and each education group): ``round`` (0 =
        base), ``label`` ("spring2025"), ``season``, ``positions``, ``group`` and the
        :data:`ROUND_COUNTS`.
    people : one row per person who applied: ``person``, ``entered`` (round of the first
        application in the chain), ``nationality_group``, ``education_group``, ``outcome``
        ("hired", "left" or "waiting" after the last round), ``ended`` (the round it happened
        in; the last round for "waiting"), ``rounds_applied`` (all rounds, earlier ones
        included), ``graduation_period`` (the base round's period label, relative to the
        round it ended in), ``graduated`` (the calendar year of graduation).
    """

    rounds: pd.DataFrame
    people: pd.DataFrame


@dataclass(frozen=True)
class Sequence:
    """What a chain plays: the settings, the schedule of rounds, the base round's data and
    parameters, and the spring calendar, resolved once.

    ``schedule[0]`` with ``positions`` None is the base round itself (a projection);
    otherwise the chain starts from an empty queue (a back-cast).
    """

    settings: QueueSettings
    schedule: tuple[RoundSpec, ...]
    base: RoundData
    params: Params
    spring: RoundData

    @classmethod
    def of(
        cls,
        settings: QueueSettings,
        schedule: tuple[RoundSpec, ...] | None = None,
        params: Params | str | None = None,
    ) -> Sequence:
        """The sequence of ``settings`` (default schedule: :func:`projection`) with ``params``
        (default: the base round's)."""
        data, resolved = resolve_inputs(settings.base_round, params)
        schedule = projection(settings) if schedule is None else schedule
        sequence = cls(settings, schedule, data, resolved, load_round("spring2024"))
        sequence.round_params  # noqa: B018 (a bad ranking path fails here, not in a round)
        return sequence

    @property
    def starts_from_base(self) -> bool:
        return self.schedule[0].positions is None

    def round_data(self, spec: RoundSpec, applicants: int) -> RoundData:
        """A round after the base: the base round's ads with the round's positions (in the
        ads' proportions), its season's calendar, the applications scaled to ``applicants``."""
        data = scale_positions(self.base, spec.positions)
        data = scale_applications(data, applicants / self.base.totals["applicants"])
        calendar = self.spring if spec.season == "spring" else self.base
        return dataclasses.replace(
            data,
            name=spec.label,
            season=spec.season,
            calendar=calendar.calendar,
            after_calendar_rounds=calendar.after_calendar_rounds,
            totals=dict(data.totals, applicants=applicants),
        )

    @cached_property
    def round_params(self) -> Params:
        """Rounds after the base hire up to their positions (the base round's capacity rule
        adds the report's hires beyond positions, a figure only the base round has), and rank
        with the queue's ranking weights (:attr:`QueueSettings.ranking`)."""
        overrides = {"capacity.rule": "positions", **self.settings.ranking_overrides()}
        return with_overrides(self.params, overrides)


def play_market(market: Market, replication: int, engine_name: str) -> np.ndarray:
    """Each applicant's ad after the round's offer cascade, -1 if not hired (int64 (N,)).

    ``cuda`` plays the one replication on the GPU: the same outcome, but a round's market is
    one replication, so a chain gains nothing from a GPU (it is there so that a GPU batch job
    can run the queue and check it against the CPU)."""
    if engine_name == "mesa":
        return LIS1Model(market, replication, log_events=False, collect=False).run().hired_ad
    if engine_name not in ENGINES:
        raise ValueError(f"unknown engine {engine_name!r} (known: {', '.join(ENGINES)})")
    tally = Tally(market)
    arrays = compiled.flatten(market, tally)
    rows = compiled.param_rows(market)
    ids = np.array([replication])
    if engine_name == "cuda":
        from lis1abm.engine.backends import gpu_engine

        out = gpu_engine(arrays)(arrays, market.seed, ids, rows, keep_applicants=True)
    else:
        out = compiled.run_cpu(arrays, market.seed, ids, rows, keep_applicants=True, threads=1)
    return out.hired_ad[0]


@dataclass
class _Played:
    """A round as played: its applicants, who of them were new, who were on any ad's ranked
    list, each one's ad (-1: not hired) and how many could be hired."""

    people: pd.DataFrame
    new: np.ndarray
    listed: np.ndarray
    hired_ad: np.ndarray
    capacity: int


def listed(market: Market) -> np.ndarray:
    """Whether each applicant is on any ad's ranked list (qualified for an ad they applied
    to), bool (N,)."""
    return np.bincount(market.app_applicant[market.qualified], minlength=market.n_applicants) > 0


def play_chain(
    sequence: Sequence,
    seed: int,
    chain: int,
    engine_name: str = "cpu",
    on_round: Callable[[int], None] | None = None,
) -> ChainResult:
    """Chain ``chain`` of the queue: every round of the sequence's schedule, in order.

    Each round: the waiting who return and the new applicants apply, the round's market is
    built for them and played; then its not hired either return next round or leave."""
    rows: list[dict] = []
    ended: list[pd.DataFrame] = []
    waiting = None  # a back-cast's first round has new applicants only
    first = 0
    if sequence.starts_from_base:
        played, first = _base_round(sequence, seed, chain, engine_name), 1
    for t in range(first, len(sequence.schedule) + 1):
        if t > 0:
            waiting = _close_round(sequence, played, seed, chain, t - 1, rows, ended)
        if t == len(sequence.schedule):
            ended.append(_ended(waiting, "waiting", t - 1, sequence.schedule[t - 1]))
            break
        gain = sequence.settings.proficiency_gain
        returning = None if waiting is None else half_a_year_on(waiting, sequence.base, gain)
        played = _play_round(sequence, returning, seed, chain, t, engine_name)
        if on_round is not None:
            on_round(t)
    return ChainResult(pd.DataFrame(rows), pd.concat(ended, ignore_index=True))


def _base_round(sequence: Sequence, seed: int, chain: int, engine_name: str) -> _Played:
    """The base round as ``lis1abm simulate`` plays replication ``chain`` on draw ``chain``;
    all its applicants count as new."""
    market = prepare(sequence.base, sequence.params, seed=seed, draw=chain).market
    people = base_applicants(market.population)
    hired_ad = play_market(market, chain, engine_name)
    new = np.ones(len(people), bool)
    return _Played(people, new, listed(market), hired_ad, int(market.capacity.sum()))


def _play_round(
    sequence: Sequence,
    returning: pd.DataFrame | None,
    seed: int,
    chain: int,
    t: int,
    engine_name: str,
) -> _Played:
    """Round ``t``: the returning (None: nobody) and the new applicants, their market built
    and played."""
    spec = sequence.schedule[t]
    arrivals = new_applicants(sequence.base, sequence.params, spec.inflow, seed, chain, t)
    people = round_population(returning, arrivals)
    round_seed = derived_seed(seed, chain, Stream.QUEUE_ROUND, t)
    data = sequence.round_data(spec, len(people))
    market = market_of(data, sequence.round_params, round_seed, people[list(COLUMNS)], round_seed)
    hired_ad = play_market(market, chain, engine_name)
    new = np.arange(len(people)) >= len(people) - len(arrivals)
    return _Played(people, new, listed(market), hired_ad, int(market.capacity.sum()))


def _close_round(
    sequence: Sequence, played: _Played, seed: int, chain: int, t: int, rows: list, ended: list
) -> pd.DataFrame:
    """After round ``t``: its counts into ``rows``, the hired and the leaving into ``ended``;
    returns the not hired who will apply in the next round (as they were in this one)."""
    hired = played.hired_ad >= 0
    not_hired = played.people[~hired]
    back = who_returns(not_hired, played.listed[~hired], sequence.settings, seed, chain, t)
    spec = sequence.schedule[t]
    rows += _round_rows(t, spec, played.capacity, played.people, played.new, hired, back)
    ended.append(_ended(played.people[hired], "hired", t, spec))
    ended.append(_ended(not_hired[~back], "left", t, spec))
    return not_hired[back]


def _round_rows(t, spec, positions, people, new, hired, back) -> list[dict]:
    """One row per group ("all" and each education group) of round ``t``'s counts."""
    edu = people["education_group"].to_numpy()
    rounds_applied = people["rounds_applied"].to_numpy()
    not_hired = ~hired
    long_term = not_hired & (rounds_applied >= LONG_TERM_ROUNDS)
    many = rounds_applied >= MANY_ROUNDS
    leaving = np.zeros(len(people), dtype=bool)
    leaving[np.flatnonzero(not_hired)[~back]] = True
    out = []
    for group in ("all", *GROUPS):
        mine = np.ones(len(people), dtype=bool) if group == "all" else edu == group
        out.append(
            {
                "round": t,
                "label": spec.label,
                "season": spec.season,
                "counted": spec.counted,
                "positions": int(positions),
                "group": group,
                "applicants": int(mine.sum()),
                "new": int((mine & new).sum()),
                "returning": int((mine & ~new).sum()),
                "hired": int((mine & hired).sum()),
                "not_hired": int((mine & not_hired).sum()),
                "leaving": int((mine & leaving).sum()),
                "long_term_not_hired": int((mine & long_term).sum()),
                "more_than_five_rounds": int((mine & many).sum()),
            }
        )
    return out


def _ended(people: pd.DataFrame, outcome: str, t: int, spec: RoundSpec) -> pd.DataFrame:
    """The people whose time in the queue ended in round ``t`` (``spec``) with ``outcome``,
    with the calendar year they graduated in."""
    columns = ["person", "entered", "nationality_group", "education_group", "rounds_applied"]
    out = people[[*columns, "graduation_period"]]
    graduated = np.floor(spec.starts - people["years_since_graduation"].to_numpy())
    return out.assign(outcome=outcome, ended=t, graduated=graduated.astype(np.int64))
