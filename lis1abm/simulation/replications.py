"""Replications of a prepared market on an engine, summarised as they come.

:func:`run_replications` plays a block of replications on the Mesa model or a compiled engine
and counts their values into a :class:`~lis1abm.outcomes.aggregate.Summary` (exact
histograms), so memory does not grow with their number; per-replication values and offers go
to a :class:`~lis1abm.simulation.sink.ResultSink` when it keeps them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from lis1abm.abm.model import LIS1Model
from lis1abm.engine.layout import EngineArrays, param_rows
from lis1abm.market.ranking import Market
from lis1abm.outcomes.aggregate import Summary
from lis1abm.outcomes.events import offer_events
from lis1abm.outcomes.tally import Tally
from lis1abm.simulation.sink import ResultSink

MESA_BATCH = 64  # Mesa replications summarised (and written) at a time
BATCH = 8192  # replications per engine call: bounds memory and paces the progress bar
# Replications per GPU call: each call copies the market to the device and returns every
# replication's counts (about 1.5 KB), so larger calls keep the GPU busy; 262,144 of them
# hold about 400 MB of counts on the host.
CUDA_BATCH = 262_144


def run_replications(
    engine_name: str,
    market: Market,
    tally: Tally,
    arrays: EngineArrays,
    reps: int,
    sink: ResultSink | None = None,
    progress: Callable[[int], None] | None = None,
    *,
    first: int = 0,
    ids: np.ndarray | None = None,
    summary: Summary | None = None,
) -> Summary:
    """Replications ``first .. first + reps - 1`` of a built market on an engine (``mesa``,
    ``cpu`` or ``cuda``), summarised as they come; per-replication values and offers go to
    ``sink`` when it keeps them. This is :func:`lis1abm.report.simulate.simulate` without
    preparing, comparing and recording. ``first`` picks a block of replication indices: a
    calibration evaluates every candidate on the same block (common random numbers) and checks
    the best on another. ``ids``, int (reps,), plays those replication indices instead (a
    population ensemble's draw plays every K-th). ``summary``: count into this one (of
    ``tally``'s recipe, perhaps wider bounds) instead of a new one; it is returned."""
    if sink is None:
        sink = ResultSink(tally, {}, None, per_replication=False, log_events=False)
    ids = replication_ids(first, reps, ids)
    if engine_name == "mesa":
        return _run_mesa(market, tally, ids, sink, progress, summary)
    return run_flattened(
        engine_name,
        arrays,
        market.seed,
        param_rows(market),
        tally,
        reps,
        sink,
        progress,
        ids=ids,
        market=market,
        summary=summary,
    )


def replication_ids(first: int, reps: int, ids: np.ndarray | None = None) -> np.ndarray:
    """int64 (reps,): ``ids`` when given (``reps`` of them), else ``first .. first + reps - 1``;
    every index in [0, 2**32) (ValueError if not)."""
    if ids is None:
        if not (0 <= first and first + reps <= 2**32):
            raise ValueError(f"replications {first}..{first + reps - 1} leave [0, 2**32)")
        return np.arange(first, first + reps, dtype=np.int64)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if ids.shape != (reps,):
        raise ValueError(f"{len(ids)} replication indices for {reps} replications")
    if ids.size and (ids.min() < 0 or ids.max() >= 2**32):
        raise ValueError("replication indices must lie in [0, 2**32)")
    return ids


def _run_mesa(market, tally, every, sink, progress, summary=None) -> Summary:
    summary = Summary(tally) if summary is None else summary
    for start in range(0, len(every), MESA_BATCH):
        ids = every[start : start + MESA_BATCH]
        values = np.empty((len(ids), len(tally.layout)), dtype=np.int64)
        logs = []
        for i, r in enumerate(ids):
            model = LIS1Model(market, int(r), log_events=sink.log_events, collect=False)
            values[i] = tally.values(model.run())
            if sink.log_events:
                logs.append(model.event_log())
            if progress is not None:
                progress(1)
        summary.add_values(values)
        sink.add_values(ids, values)
        if sink.log_events:
            sink.add_events(pd.concat(logs, ignore_index=True))
    return summary


def run_flattened(
    engine_name: str,
    arrays: EngineArrays,
    seed: int,
    rows: np.ndarray,
    tally: Tally,
    reps: int,
    sink: ResultSink | None = None,
    progress: Callable[[int], None] | None = None,
    *,
    first: int = 0,
    ids: np.ndarray | None = None,
    market: Market | None = None,
    summarise: bool = True,
    summary: Summary | None = None,
) -> Summary | None:
    """Replications ``first .. first + reps - 1`` on the ``cpu`` or ``cuda`` engine from the
    flattened market alone: its arrays, root ``seed`` and parameter rows int64 (1, 3 + R)
    (:func:`~lis1abm.engine.layout.param_rows`), which is what a worker of a cluster receives.
    The :class:`Market` itself is needed only to log offers (``sink.log_events``).

    ``summarise=False`` returns None instead of a :class:`Summary`, for a caller that keeps
    every replication's values (``sink.per_replication``) and summarises them itself: a
    Summary's histograms cost about 35 ms a batch on 2 cores whatever its size, which is most
    of the cost of a small task of an experiment. ``ids`` and ``summary``: as in
    :func:`run_replications`."""
    from lis1abm.engine.cpu import run_cpu

    if sink is None:
        sink = ResultSink(tally, {}, None, per_replication=False, log_events=False)
    if sink.log_events and market is None:
        raise ValueError("logging offers needs the market, not only its arrays")
    every = replication_ids(first, reps, ids)
    if not summarise:
        summary = None
    elif summary is None:
        summary = Summary(tally)
    if engine_name == "cuda":
        from lis1abm.engine.backends import gpu_engine

        run = gpu_engine(arrays)
    else:
        run = run_cpu
    # The engines summarise where they play (on the CPU's threads, on the GPU) unless every
    # replication's values are kept: then each batch's counts come back and are summarised
    # here.
    in_engine = not sink.per_replication and summarise
    batch = CUDA_BATCH if engine_name == "cuda" else BATCH
    for start in range(0, len(every), batch):
        ids = every[start : start + batch]
        keep = {"keep_offers": sink.log_events}
        if in_engine:
            out = run(arrays, seed, ids, rows, summary=summary, **keep)
        else:
            out = run(arrays, seed, ids, rows, **keep)
            if summary is not None:
                summary.add_counts(out.counts, out.cascade)
            if sink.per_replication:
                sink.add_values(ids, tally.values_from(out.counts, out.cascade))
        if sink.log_events:
            sink.add_events(offer_events(market, ids, out.offers))
        if progress is not None:
            progress(len(ids))
    return summary
