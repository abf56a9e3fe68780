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

from lis1abm.engine.compiled import cached, is_cached
from lis1abm.engine.kernel import replicate
from lis1abm.engine.layout import EngineArrays
from lis1abm.rng import key
from lis1abm.rules import CASCADE_FIELDS

# -- the CPU driver -----------------------------------------------------------------------


def _run_cpu(
    k0,
    k1,
    reps,
    prows,
    chunk,
    market,
    shapes,
    counts,
    cascade,
    hired_ad,
    hired_round,
    offers,
    keep_applicants,
    keep_offers,
):
    """Play replications ``reps`` in parallel chunks; ``market`` is
    :class:`EngineArrays`, ``shapes`` :meth:`EngineArrays.scratch_shapes`; outputs
    as in :func:`replicate`, one row per replication (row 0 only, unused, when not kept)."""
    # Sizes as scalars: numba's parallel loops do not take tuples of shapes.
    n_keys, n_segment, n_work = shapes[0][0], shapes[1][0], shapes[2][0]
    n_ad_state, n_ads = shapes[3]
    n_who, n_people = shapes[4]
    n_offer = shapes[5][0]
    n = reps.shape[0]
    n_chunks = (n + chunk - 1) // chunk
    for c in prange(n_chunks):
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
                counts[b],
                cascade[b],
                hired_ad[out],
                hired_round[out],
                offers[out_offers],
                keep_applicants,
                keep_offers,
            )


@cache
def _driver():
    """:func:`_run_cpu` compiled for parallel threads, cached on disk by the digest of the
    engine's sources (:mod:`lis1abm.engine.compiled`); compiled on first use."""
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
    counts : int64 (B, S): hires per slot (:meth:`lis1abm.results.tally.Tally.values_from`).
    cascade : int64 (B, R, len(CASCADE_FIELDS)).
    hired_ad, hired_round : int64 (B, N) if applicant outcomes were asked for, else None.
    offers : int16 (B, A) if offers were asked for (see :func:`replicate`), else None.
    """

    replications: np.ndarray
    counts: np.ndarray
    cascade: np.ndarray
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
    """
    (k0, k1), reps, prows = check_batch(arrays, seed, replications, params)
    b = len(reps)
    n, a = arrays.n_applicants, arrays.n_applications
    counts = np.zeros((b, arrays.n_slots), np.int64)
    cascade = np.zeros((b, arrays.n_rounds, len(CASCADE_FIELDS)), np.int64)
    hired_ad = np.zeros((b if keep_applicants else 1, n), np.int64)
    hired_round = np.zeros_like(hired_ad)
    offers = np.zeros((b if keep_offers else 1, a if keep_offers else 1), np.int16)
    previous = numba.get_num_threads()
    if threads is not None:
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        _driver()(
            k0,
            k1,
            reps,
            prows,
            max(1, int(chunk)),
            arrays,
            arrays.scratch_shapes(),
            counts,
            cascade,
            hired_ad,
            hired_round,
            offers,
            keep_applicants,
            keep_offers,
        )
    finally:
        numba.set_num_threads(previous)
    return EngineResult(
        reps,
        counts,
        cascade,
        hired_ad if keep_applicants else None,
        hired_round if keep_applicants else None,
        offers if keep_offers else None,
    )
