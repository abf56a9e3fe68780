"""How far an allocation is from stable, and how well it serves applicants' preferences.

An allocation (each applicant's ad or none: the cascade's hires, or a central match's) is
*blocked* by an applicant i and an ad j when both would rather be together than keep what
they have, judged by the same preferences and ranked lists the cascade used in that
replication (:mod:`lis1abm.engine.preferences`):

* i applied to j and is on j's ranked list (qualified), and has not withdrawn;
* i prefers j to their job (by their preference order), or has none;
* j has an open position, or ranks i above the lowest-ranked applicant it hired.

An allocation with no blocking pair is stable: deferred acceptance always gives one
(:mod:`lis1abm.engine.deferred_acceptance`); the offer cascade need not (an applicant who
accepted an early offer cannot take a better one that comes later, and an applicant who
missed a deadline is passed over).

Per replication (:data:`MEASURES`, in this order): the blocking pairs, the applicants in at
least one, the hires at each preference rank (the hired job's place on the applicant's list,
1 = first choice; ranks from :data:`RANK_TOP` + 1 on pooled) and the sum of the hires' ranks
(their mean is this sum over the hires).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from lis1abm.compiled import cached_njit
from lis1abm.engine.cpu import check_batch
from lis1abm.engine.layout import INT64_MAX, EngineArrays, behaviour
from lis1abm.engine.preferences import NOT_LISTED, application_keys, withdrawals

RANK_TOP = 5
"""Preference ranks counted one by one (1 .. RANK_TOP); later ranks are pooled."""
MEASURES = (
    "blocking_pairs",
    "applicants_blocking",
    *(f"rank_{r}" for r in range(1, RANK_TOP + 1)),
    f"rank_{RANK_TOP + 1}_plus",
    "rank_sum",
)
"""The columns of :func:`allocation_measures`' rows."""
M_BLOCKING, M_APPLICANTS = 0, 1
M_RANK = 2  # hires at rank r (1-based) count in column M_RANK + min(r, RANK_TOP + 1) - 1
M_RANK_SUM = len(MEASURES) - 1


@njit(inline="always")
def blocking_pairs(m, app_key, withdrawn, hired_ad, hired_pref, worst, filled):
    """The blocking pairs of an allocation and the applicants in at least one.

    Parameters
    ----------
    m : the market (:class:`EngineArrays`); applications are stored by applicant.
    app_key : int64 (A,): each application's ranking key, NOT_LISTED if not on the list.
    withdrawn : int64 (N,): nonzero for an applicant not in the market.
    hired_ad : int64 (N,): each applicant's ad, -1 if not hired.
    hired_pref : int64 (N,): out, the preference rank (0 = favourite) of each applicant's job,
        ``n_applied`` (below every ad applied to) if not hired.
    worst, filled : int64 (J,): out, each ad's lowest hire's key (INT64_MAX if none) and hires.

    Returns
    -------
    (pairs, applicants) : ints.
    """
    n_apps = m.app_ad.shape[0]
    for i in range(hired_ad.shape[0]):
        hired_pref[i] = m.n_applied[i]
    for j in range(worst.shape[0]):
        worst[j] = INT64_MAX
        filled[j] = 0
    for a in range(n_apps):
        i = m.app_applicant[a]
        j = m.app_ad[a]
        if hired_ad[i] == j:
            hired_pref[i] = m.app_pref[a]
            filled[j] += 1
            worst[j] = min(worst[j], app_key[a])
    pairs = 0
    applicants = 0
    first = 0
    for i in range(hired_ad.shape[0]):
        last = first + m.n_applied[i]
        mine = 0
        if withdrawn[i] == 0:
            for a in range(first, last):
                key = app_key[a]
                j = m.app_ad[a]
                mine += (
                    (key != NOT_LISTED)
                    & (m.app_pref[a] < hired_pref[i])
                    & ((filled[j] < m.capacity[j]) | (key > worst[j]))
                )
        pairs += mine
        applicants += mine > 0
        first = last
    return pairs, applicants


@njit(inline="always")
def _measures(m, app_key, withdrawn, hired_ad, hired_pref, worst, filled, out):
    """One replication's row of :data:`MEASURES` into ``out``."""
    for k in range(out.shape[0]):
        out[k] = 0
    pairs, applicants = blocking_pairs(m, app_key, withdrawn, hired_ad, hired_pref, worst, filled)
    out[M_BLOCKING] = pairs
    out[M_APPLICANTS] = applicants
    for i in range(hired_ad.shape[0]):
        if hired_ad[i] >= 0:
            rank = hired_pref[i] + 1
            out[M_RANK + min(rank, RANK_TOP + 1) - 1] += 1
            out[M_RANK_SUM] += rank


@cached_njit(parallel=True)
def _measure_batch(k0, k1, reps, withdraw_q16, m, hired_ad, out):
    """Rows of :data:`MEASURES` (B, M) of replications ``reps`` (B,) with allocations
    ``hired_ad`` (B, N)."""
    n_people = m.n_applied.shape[0]
    n_ads = m.capacity.shape[0]
    for b in prange(reps.shape[0]):
        keys = np.empty(m.ad_app.shape[0], np.int64)
        app_key = np.empty(m.app_ad.shape[0], np.int64)
        withdrawn = np.empty(n_people, np.int64)
        hired_pref = np.empty(n_people, np.int64)
        worst = np.empty(n_ads, np.int64)
        filled = np.empty(n_ads, np.int64)
        application_keys(k0, k1, reps[b], m, keys, app_key)
        withdrawals(k0, k1, reps[b], withdraw_q16[b], withdrawn)
        _measures(m, app_key, withdrawn, hired_ad[b], hired_pref, worst, filled, out[b])


def allocation_measures(
    arrays: EngineArrays, seed: int, replications, params, hired_ad: np.ndarray
) -> np.ndarray:
    """Blocking pairs and preference ranks of allocations, in parallel over replications.

    Parameters
    ----------
    arrays : the market (:func:`lis1abm.engine.layout.flatten`).
    seed : root seed.
    replications : int (B,): replication indices (their interview noise and withdrawals).
    params : int64 (B, 3 + R) parameter rows, or one row for all; only the withdrawal
        threshold is read.
    hired_ad : int (B, N): each replication's allocation, each applicant's ad (-1: none).

    Returns
    -------
    int64 (B, len(MEASURES)): one row of :data:`MEASURES` per replication.
    """
    (k0, k1), reps, prows = check_batch(arrays, seed, replications, params)
    hired = np.ascontiguousarray(hired_ad, dtype=np.int64)
    if hired.shape != (len(reps), arrays.n_applicants):
        raise ValueError(f"hired_ad must have shape ({len(reps)}, {arrays.n_applicants})")
    out = np.zeros((len(reps), len(MEASURES)), dtype=np.int64)
    withdraw_q16 = behaviour(prows).withdraw
    _measure_batch(k0, k1, reps, withdraw_q16, arrays, hired, out)
    return out
