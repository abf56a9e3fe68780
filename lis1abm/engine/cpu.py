"""The CPU driver: replications in parallel chunks on numba threads (``prange``).

Each thread takes whole chunks of replications and allocates its scratch memory once per
chunk; :func:`lis1abm.engine.kernel.replicate` plays each replication. Results do not depend on
the thread count or the chunk size.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, partial

import numba
import numpy as np
from numba import njit, prange

from lis1abm.compiled import cached, is_cached
from lis1abm.engine.kernel import replicate
from lis1abm.engine.layout import EngineArrays
from lis1abm.outcomes.aggregate import Summary, add_replication
from lis1abm.rng import key
from lis1abm.rules import CASCADE_FIELDS

# -- the CPU driver -----------------------------------------------------------------------


def _run_cpu(
    k0,
    k1,
    reps,
    prows,
    chunk,
    tasks,
    market,
    shapes,
    counts,
    cascade,
    hired_ad,
    hired_round,
    offers,
    keep_applicants,
    keep_offers,
    summarize,
    recipe,
    hist,
    outside,
):
    """Play replications ``reps`` in parallel chunks; ``market`` is
    :class:`EngineArrays`, ``shapes`` :meth:`EngineArrays.scratch_shapes`; outputs
    as in :func:`replicate`, one row per replication (row 0 only, unused, when not kept).

    The chunks are split into ``tasks`` runs of consecutive chunks, one per parallel task.
    With ``summarize``, ``counts`` and ``cascade`` have one row per task, reused from one
    replication to the next, and each replication's values are counted into the task's
    histogram ``hist[t]`` (``recipe``: :meth:`Summary.kernel_args`; ``outside[t]``: values
    outside their bins), so that the summary is computed on every thread."""
    # Sizes as scalars: numba's parallel loops do not take tuples of shapes.
    n_keys, n_segment, n_work = shapes[0][0], shapes[1][0], shapes[2][0]
    n_ad_state, n_ads = shapes[3]
    n_who, n_people = shapes[4]
    n_offer = shapes[5][0]
    n = reps.shape[0]
    n_chunks = (n + chunk - 1) // chunk
    const, ptr, src, lo, width, offset = recipe
    for task in prange(tasks):
        t = np.int64(task)  # one integer type with ``b`` below (a prange index may be unsigned)
        for c in range(t * n_chunks // tasks, (t + 1) * n_chunks // tasks):
            # Scratch memory, once per chunk of replications (each thread takes whole chunks).
            keys = np.empty(n_keys, np.int64)
            segment = np.empty(n_segment, np.int64)
            work = np.empty(n_work, np.int64)
            ad_state = np.empty((n_ad_state, n_ads), np.int64)
            who = np.empty((n_who, n_people), np.int64)
            offer_app = np.empty(n_offer, np.int64)
            for b in range(c * chunk, min(n, (c + 1) * chunk)):
                out = b if keep_applicants else 0
                out_offers = b if keep_offers else 0
                row = t if summarize else b
                replicate(
                    k0,
                    k1,
                    reps[b],
                    prows[b],
                    market,
                    keys,
                    segment,
                    work,
                    ad_state,
                    who,
                    offer_app,
                    counts[row],
                    cascade[row],
                    hired_ad[out],
                    hired_round[out],
                    offers[out_offers],
                    keep_applicants,
                    keep_offers,
                )
                if summarize:
                    outside[t] += add_replication(
                        counts[row], cascade[row], const, ptr, src, lo, width, offset, hist[t]
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


def check_batch(arrays: EngineArrays, seed: int, replications, params) -> tuple:
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
    return key(seed), reps, prows


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
    chunk: int = 16,
    keep_applicants: bool = False,
    keep_offers: bool = False,
    summary: Summary | None = None,
) -> EngineResult:
    """Play replications on the CPU, in parallel over chunks of ``chunk`` replications.

    Parameters
    ----------
    arrays : the market (:func:`flatten`).
    seed : root seed.
    replications : int (B,): replication indices.
    params : int64 (B, 3 + R) parameter rows, or one row for all (:func:`param_rows`).
    threads : numba threads (default: all).
    chunk : replications per task; results do not depend on it.
    keep_applicants, keep_offers : also return per-applicant outcomes / per-application
        offers.
    summary : add the replications' values into this summary, counted on the threads,
        instead of returning per-replication hire counts and cascades (then None); it must
        be of the tally ``arrays`` was flattened with.
    """
    (k0, k1), reps, prows = check_batch(arrays, seed, replications, params)
    b = len(reps)
    n, a = arrays.n_applicants, arrays.n_applications
    n_chunks = max(1, -(-b // max(1, int(chunk))))
    summarize = summary is not None
    if summarize:
        check_summary(summary, arrays)
    previous = numba.get_num_threads()
    if threads is not None:
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    # One task per chunk when every replication keeps its own row (as many tasks as there is
    # work to share); one per thread when summarising (a partial histogram per task).
    tasks = min(n_chunks, numba.get_num_threads()) if summarize else n_chunks
    rows_out = tasks if summarize else b
    counts = np.zeros((rows_out, arrays.n_slots), np.int64)
    cascade = np.zeros((rows_out, arrays.n_rounds, len(CASCADE_FIELDS)), np.int64)
    if summarize:
        recipe = summary.kernel_args()
        hist = np.zeros((tasks, len(summary.hist)), np.int64)
    else:
        recipe = tuple(np.zeros(1, np.int64) for _ in range(6))
        hist = np.zeros((1, 1), np.int64)
    outside = np.zeros(tasks, np.int64)
    hired_ad = np.zeros((b if keep_applicants else 1, n), np.int64)
    hired_round = np.zeros_like(hired_ad)
    offers = np.zeros((b if keep_offers else 1, a if keep_offers else 1), np.int16)
    try:
        _driver()(
            k0,
            k1,
            reps,
            prows,
            max(1, int(chunk)),
            tasks,
            arrays,
            arrays.scratch_shapes(),
            counts,
            cascade,
            hired_ad,
            hired_round,
            offers,
            keep_applicants,
            keep_offers,
            summarize,
            recipe,
            hist,
            outside,
        )
    finally:
        numba.set_num_threads(previous)
    if summarize:
        summary.add_histogram(hist.sum(axis=0), b, int(outside.sum()))
    return EngineResult(
        reps,
        None if summarize else counts,
        None if summarize else cascade,
        hired_ad if keep_applicants else None,
        hired_round if keep_applicants else None,
        offers if keep_offers else None,
    )
