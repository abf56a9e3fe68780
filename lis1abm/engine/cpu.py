"""The CPU driver: replications in parallel chunks on numba threads (``prange``).

Each thread takes whole chunks of replications and allocates its scratch memory once per
chunk; :func:`lis1abm.engine.kernel.replicate` plays each replication. Results do not depend on
the thread count or the chunk size.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, partial
from typing import NamedTuple

import numba
import numpy as np
from numba import njit, prange

from lis1abm.compiled import cached, is_cached
from lis1abm.engine.kernel import behaviour_of, outputs_of, replicate, scratch
from lis1abm.engine.layout import (
    EngineArrays,
    ScratchBlocks,
    SummaryArgs,
    behaviour,
    outputs,
)
from lis1abm.outcomes.aggregate import Summary, add_replication
from lis1abm.rng import key

CHUNK = 16
"""Replications a thread plays with one allocation of scratch memory (a task's unit of work);
results do not depend on it (tests set it to other values)."""

# -- the CPU driver -----------------------------------------------------------------------


# The kernel compiled on its own, not inlined into the parallel loop: numba's parallel
# passes, applied to it there, mis-analyse its tuples of array views (indices out of bounds,
# shown by NUMBA_BOUNDSCHECK=1, and crashes).
_replicate = njit(getattr(replicate, "py_func", replicate))


@njit
def _new_scratch(n_keys, n_segment, n_work, ads, who, n_offer):
    """One replication's :class:`~lis1abm.engine.layout.Scratch`, newly allocated (sizes as
    :meth:`EngineArrays.scratch_shapes` gives them)."""
    return scratch(
        ScratchBlocks(
            np.empty(n_keys, np.int64),
            np.empty(n_segment, np.int64),
            np.empty(n_work, np.int64),
            np.empty(ads, np.int64),
            np.empty(who, np.int64),
            np.empty(n_offer, np.int64),
        )
    )


def _run_cpu(key, reps, m, behaviour, out, summary, shapes, split):
    """Play replications ``reps`` (B,) in parallel chunks.

    Parameters
    ----------
    key : the seed's Philox key (k0, k1). m : the market (:class:`EngineArrays`).
    behaviour : :class:`~lis1abm.engine.layout.Behaviour` of the batch (B replications).
    out : :class:`~lis1abm.engine.layout.Outputs`, one row per replication (counts and
        cascade: one per task when summarising).
    summary : :class:`~lis1abm.engine.layout.SummaryArgs`, a partial histogram per task.
    shapes : :meth:`EngineArrays.scratch_shapes`.
    split : (chunk, tasks): replications per chunk; the chunks are split into ``tasks`` runs of
        consecutive chunks, one per parallel task.

    With ``summary.on``, each replication's values are counted into the task's histogram
    ``summary.hist[t]`` (values outside their bins in ``summary.outside[t]``), so that the
    summary is computed on every thread."""
    # Sizes as scalars: numba's parallel loops do not take tuples of shapes.
    n_keys, n_segment, n_work = shapes.keys[0], shapes.segment[0], shapes.work[0]
    n_ad_state, n_ads = shapes.ads
    n_who, n_people = shapes.who
    n_offer = shapes.offer_app[0]
    chunk, tasks = split
    n = reps.shape[0]
    n_chunks = (n + chunk - 1) // chunk
    # The summary's fields as plain values: numba's parallel loops take a tuple of arrays
    # for an array of arrays.
    const, ptr, src, lo, width, offset = summary.recipe
    summarize, hist, outside = summary.on, summary.hist, summary.outside
    for task in prange(tasks):
        t = np.int64(task)  # one integer type with ``b`` below (a prange index may be unsigned)
        for c in range(t * n_chunks // tasks, (t + 1) * n_chunks // tasks):
            # Scratch memory, once per chunk of replications (each thread takes whole chunks).
            s = _new_scratch(
                n_keys, n_segment, n_work, (n_ad_state, n_ads), (n_who, n_people), n_offer
            )
            for b in range(c * chunk, min(n, (c + 1) * chunk)):
                row = t if summarize else b
                mine = outputs_of(out, row, b)
                _replicate(key, reps[b], behaviour_of(behaviour, b), m, s, mine)
                if summarize:
                    outside[t] += add_replication(
                        mine.counts, mine.cascade, const, ptr, src, lo, width, offset, hist[t]
                    )


@cache
def _driver():
    """:func:`_run_cpu` compiled for parallel threads, cached on disk by the digest of the
    engine's sources (:mod:`lis1abm.compiled`); compiled on first use."""
    return cached(partial(njit, parallel=True), _run_cpu, numba.config)


def needs_compile() -> bool:
    """Whether the first run in this process will compile the CPU engine (about 20 s), as
    after installing or editing the engine, rather than load it from the cache."""
    return _driver.cache_info().currsize == 0 and not is_cached("_run_cpu")


@dataclass
class EngineResult:
    """Outcomes of a batch of replications (B of them).

    Attributes
    ----------
    replications : int64 (B,): replication indices.
    counts : int64 (B, S): hires per slot (:meth:`lis1abm.outcomes.tally.Tally.values_from`);
        None when the batch went into a summary.
    cascade : int64 (B, R, len(CASCADE_FIELDS)), or None likewise.
    hired_ad, hired_round : int64 (B, N) if applicant outcomes were asked for, else None.
    offers : int16 (B, A) if offers were asked for (see :func:`replicate`), else None.
    """

    replications: np.ndarray
    counts: np.ndarray | None
    cascade: np.ndarray | None
    hired_ad: np.ndarray | None = None
    hired_round: np.ndarray | None = None
    offers: np.ndarray | None = None


class Batch(NamedTuple):
    """A batch of replications, checked (:func:`check_batch`).

    Attributes
    ----------
    key : (uint64, uint64): the seed's Philox key (:func:`lis1abm.rng.key`).
    reps : int64 (B,): replication indices.
    prows : int64 (B, 3 + R): parameter rows (:func:`lis1abm.engine.layout.param_rows`).
    """

    key: tuple
    reps: np.ndarray
    prows: np.ndarray

    def part(self, start: int, stop: int) -> Batch:
        """Replications ``start:stop`` of the batch (one launch's)."""
        return Batch(self.key, self.reps[start:stop], self.prows[start:stop])


def check_batch(arrays: EngineArrays, seed: int, replications, params) -> Batch:
    """Validate a batch: replication indices (B,) in [0, 2**32), parameter rows (B, 3 + R)."""
    reps = np.ascontiguousarray(replications, dtype=np.int64).reshape(-1)
    prows = np.ascontiguousarray(params, dtype=np.int64)
    if prows.ndim == 1 or prows.shape[0] == 1:
        # A real (writable) copy: a read-only view would make numba compile a second version.
        prows = np.repeat(prows.reshape(1, -1), len(reps), axis=0)
    if prows.shape != (len(reps), 3 + arrays.n_rounds):
        raise ValueError(
            f"parameter rows must have shape ({len(reps)}, {3 + arrays.n_rounds}), "
            f"got {prows.shape}"
        )
    if reps.size and (reps.min() < 0 or reps.max() >= 2**32):
        raise ValueError("replication indices must lie in [0, 2**32)")
    return Batch(key(seed), reps, prows)


def check_summary(summary: Summary, arrays: EngineArrays) -> None:
    """A summary must be of the tally the arrays were flattened with (ValueError if not)."""
    tally = summary.tally
    if tally.n_slots != arrays.n_slots or tally.market.n_rounds != arrays.n_rounds:
        raise ValueError("the summary's tally does not match the engine arrays")


def run_cpu(
    arrays: EngineArrays,
    seed: int,
    replications,
    params,
    *,
    threads: int | None = None,
    keep_applicants: bool = False,
    keep_offers: bool = False,
    summary: Summary | None = None,
) -> EngineResult:
    """Play replications on the CPU, in parallel over chunks of :data:`CHUNK` replications.

    Parameters
    ----------
    arrays : the market (:func:`flatten`).
    seed : root seed.
    replications : int (B,): replication indices.
    params : int64 (B, 3 + R) parameter rows, or one row for all (:func:`param_rows`).
    threads : numba threads (default: all).
    keep_applicants, keep_offers : also return per-applicant outcomes / per-application
        offers.
    summary : add the replications' values into this summary, counted on the threads,
        instead of returning per-replication hire counts and cascades (then None); it must
        be of the tally ``arrays`` was flattened with.
    """
    (k0, k1), reps, prows = check_batch(arrays, seed, replications, params)
    b = len(reps)
    chunk = max(1, int(CHUNK))
    n_chunks = max(1, -(-b // chunk))
    summarize = summary is not None
    if summarize:
        check_summary(summary, arrays)
    previous = numba.get_num_threads()
    if threads is not None:
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    # One task per chunk when every replication keeps its own row (as many tasks as there is
    # work to share); one per thread when summarising (a partial histogram per task).
    tasks = min(n_chunks, numba.get_num_threads()) if summarize else n_chunks
    out = outputs(arrays, b, tasks if summarize else b, (keep_applicants, keep_offers))
    if summarize:
        counted = SummaryArgs(
            True, summary.kernel_args(), np.zeros((tasks, len(summary.hist)), np.int64),
            np.zeros(tasks, np.int64),
        )  # fmt: skip
    else:
        counted = SummaryArgs(
            False, tuple(np.zeros(1, np.int64) for _ in range(6)), np.zeros((1, 1), np.int64),
            np.zeros(tasks, np.int64),
        )  # fmt: skip
    try:
        _driver()(
            (k0, k1),
            reps,
            arrays,
            behaviour(prows),
            out,
            counted,
            arrays.scratch_shapes(),
            (chunk, tasks),
        )
    finally:
        numba.set_num_threads(previous)
    if summarize:
        summary.add_histogram(counted.hist.sum(axis=0), b, int(counted.outside.sum()))
    return EngineResult(
        reps,
        None if summarize else out.counts,
        None if summarize else out.cascade,
        out.hired_ad if keep_applicants else None,
        out.hired_round if keep_applicants else None,
        out.offers if keep_offers else None,
    )
