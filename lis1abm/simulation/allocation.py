"""How a scenario's positions are allocated: by the offer cascade or by a central match, and
how stable the allocation is.

:func:`run_allocation` plays a scenario's replications either way and returns

* the tally's values of every replication (hires per group and ad; for the cascade its
  rounds), so that hire rates come out of a central match exactly as out of the cascade;
* where the experiment keeps them (:data:`MATCH_BREAKDOWNS`), each replication's blocking
  pairs and the preference ranks of the hired jobs (:mod:`lis1abm.engine.stability`), and how
  many applicants get another job under hospital- than under applicant-proposing deferred
  acceptance (:mod:`lis1abm.engine.deferred_acceptance`).

Both allocations of a replication use its same preferences and ranked lists (the same
interview noise and withdrawals), so a scenario pair differing only in the allocation compares
the rules on identical markets (common random numbers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lis1abm.engine.cpu import run_cpu
from lis1abm.engine.deferred_acceptance import run_deferred_acceptance
from lis1abm.engine.layout import F_OPEN_AFTER, EngineArrays
from lis1abm.engine.stability import MEASURES, RANK_TOP, allocation_measures
from lis1abm.market.ranking import Market
from lis1abm.outcomes.tally import Tally
from lis1abm.rules import CASCADE_FIELDS
from lis1abm.simulation.replications import replication_ids, run_flattened, run_replications
from lis1abm.simulation.sink import ResultSink

ALLOCATIONS = ("cascade", "deferred_acceptance")
"""Allocation rules: the offer cascade (the rounds, any backend), or applicant-proposing
deferred acceptance on the same preferences and ranked lists (the CPU engine)."""
MATCH_BREAKDOWNS = ("stability", "preference_rank", "proposing_side")
"""Breakdowns of :func:`match_layout`, kept where an experiment's ``breakdowns`` name them."""
BATCH = 1024  # replications per call: each keeps every applicant's job (8 bytes x N each)


def match_layout() -> pd.DataFrame:
    """The rows ``breakdown, group, metric`` of a replication's match values, in order.

    * ``stability``, ``all``: ``blocking_pairs``, ``applicants_blocking`` (applicants in at
      least one blocking pair);
    * ``preference_rank``, ``1`` .. ``5`` and ``6+``: ``hired`` (hires whose job is the
      applicant's k-th choice), and ``all``: ``rank_sum`` (their sum of ranks);
    * ``proposing_side``, ``all``: ``applicants_differ`` (applicants whose job differs between
      applicant- and hospital-proposing deferred acceptance).
    """
    groups = [str(r) for r in range(1, RANK_TOP + 1)] + [f"{RANK_TOP + 1}+"]
    rows = [("stability", "all", "blocking_pairs"), ("stability", "all", "applicants_blocking")]
    rows += [("preference_rank", g, "hired") for g in groups]
    rows += [("preference_rank", "all", "rank_sum"), ("proposing_side", "all", "applicants_differ")]
    assert len(rows) == len(MEASURES) + 1
    return pd.DataFrame(rows, columns=["breakdown", "group", "metric"])


@dataclass
class AllocationRun:
    """A scenario's replications (R of them) under one allocation.

    Attributes
    ----------
    values : int64 (R, K): the tally's values (:attr:`Tally.layout`).
    meaningful : bool (K,): the tally rows this allocation defines. A central match has no
        rounds: of the cascade's rows it keeps only ``unfilled`` (positions left open).
    match : int64 (R, len(match_layout())): the match values, zero in the breakdowns not
        asked for; None if none was.
    """

    values: np.ndarray
    meaningful: np.ndarray
    match: np.ndarray | None


def run_allocation(
    allocation: str,
    engine_name: str,
    arrays: EngineArrays,
    seed: int,
    rows: np.ndarray,
    tally: Tally,
    first: int,
    n: int,
    breakdowns=(),
    progress: Callable[[int], None] | None = None,
    market: Market | None = None,
    ids: np.ndarray | None = None,
) -> AllocationRun:
    """Replications ``first .. first + n - 1`` of a flattened market (``arrays``, its
    parameter ``rows``, root ``seed``) under ``allocation`` (one of :data:`ALLOCATIONS`; the
    cascade on ``engine_name``, where ``mesa`` needs the ``market`` object), with the match
    values of ``breakdowns`` (those of :data:`MATCH_BREAKDOWNS` it names). ``ids``, int (n,):
    those replication indices instead (a population draw's share of a block)."""
    if allocation not in ALLOCATIONS:
        raise ValueError(f"unknown allocation {allocation!r} (known: {', '.join(ALLOCATIONS)})")
    wanted = set(breakdowns) & set(MATCH_BREAKDOWNS)
    layout = tally.layout
    every = replication_ids(first, n, ids)
    if allocation == "cascade":
        values = _cascade_values(engine_name, arrays, seed, rows, tally, every, progress, market)
        meaningful = np.ones(len(layout), dtype=bool)
    else:
        values = np.empty((n, len(layout)), dtype=np.int64)
        meaningful = (
            (layout["breakdown"] != "cascade") | (layout["metric"] == "unfilled")
        ).to_numpy()
    match = np.zeros((n, len(MEASURES) + 1), dtype=np.int64) if wanted else None
    if allocation == "cascade" and not wanted:
        return AllocationRun(values, meaningful, None)
    for start in range(0, n, BATCH):
        local = np.arange(start, min(start + BATCH, n))
        ids = every[local]
        if allocation == "cascade":
            # Every engine gives the same outcome; the CPU engine replays the batch keeping
            # each applicant's job (a few milliseconds per thousand replications).
            hired = run_cpu(arrays, seed, ids, rows, keep_applicants=True).hired_ad
            other = None
        else:
            hired, other = run_deferred_acceptance(arrays, seed, ids, rows)
            values[local] = _match_values(tally, arrays, hired)
            if progress is not None:
                progress(len(ids))
        if match is None:
            continue
        if wanted & {"stability", "preference_rank"}:
            match[local, : len(MEASURES)] = allocation_measures(arrays, seed, ids, rows, hired)
        if "proposing_side" in wanted:
            if other is None:
                hired, other = run_deferred_acceptance(arrays, seed, ids, rows)
            match[local, len(MEASURES)] = np.count_nonzero(hired != other, axis=1)
    return AllocationRun(values, meaningful, match)


def _cascade_values(engine_name, arrays, seed, rows, tally, ids, progress, market):
    """The tally's values (n, K) of the cascade's replications ``ids`` (n,): on the fast
    engines from the arrays alone (no summary: the experiment summarises), on Mesa from the
    market object."""
    sink = ResultSink(tally, {}, None, per_replication=True, log_events=False)
    if engine_name == "mesa":
        if market is None:
            raise ValueError("the mesa engine needs the market object, not only its arrays")
        run_replications("mesa", market, tally, arrays, len(ids), sink, progress, ids=ids)
    else:
        run_flattened(
            engine_name, arrays, seed, rows, tally, len(ids), sink, progress, ids=ids,
            summarise=False,
        )  # fmt: skip
    return sink.values()


def _match_values(tally: Tally, arrays: EngineArrays, hired_ad: np.ndarray) -> np.ndarray:
    """The tally's values (B, K) of central-match allocations ``hired_ad`` (B, N): hires
    counted as the engine counts them, and a cascade of zeros but for the positions left open
    (in every round, so ``unfilled`` holds them)."""
    counts = np.stack([tally.hire_counts(h) for h in hired_ad])
    cascade = np.zeros((len(hired_ad), arrays.n_rounds, len(CASCADE_FIELDS)), dtype=np.int64)
    cascade[:, :, F_OPEN_AFTER] = (
        int(arrays.capacity.sum()) - np.count_nonzero(hired_ad >= 0, axis=1)
    )[:, None]
    return tally.values_from(counts, cascade)
