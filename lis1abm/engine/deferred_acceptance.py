"""A central match: deferred acceptance on the cascade's preferences and ranked lists.

National matches elsewhere (the NRMP in the USA, the Scottish and Japanese residency matches)
allocate first jobs by deferred acceptance: every applicant submits a ranked list of the
programmes they applied to, every programme a ranked list of applicants, and an algorithm
finds a stable allocation. Here both sides' lists are the cascade's own in the same
replication (:mod:`lis1abm.engine.preferences`): applicants rank the ads they applied to in
their preference order, an ad ranks the qualified applicants on its ranked list by their key,
and an ad's capacity is its capacity in the cascade (the scenario's capacity rule). Applicants
who have withdrawn before the first round (taken another job) are not in the match, as they
are in no cascade round.

Both proposing sides are here: the applicant-proposing algorithm gives the stable allocation
every applicant likes best, the hospital-proposing one that every ad likes best (Gale and
Shapley 1962; Roth 1984 for many positions per hospital). Where the two agree, the market has
a single stable allocation; in large real matches fewer than 1 applicant in 1,000 differs
(Roth and Peranson 1999).

Each replication is independent; :func:`run_deferred_acceptance` runs a batch in parallel
(``prange``), each replication with its own scratch memory.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange

from lis1abm import rules
from lis1abm.compiled import cached_njit
from lis1abm.engine.cpu import check_batch
from lis1abm.engine.layout import EngineArrays, behaviour
from lis1abm.engine.preferences import (
    NOT_LISTED,
    application_keys,
    preference_lists,
    withdrawals,
)


@njit(inline="always")
def _sift_down(heap, lo, n, k):
    """Restore the min-heap ``heap[lo:lo + n]`` below its entry ``k`` (0-based in the heap)."""
    while True:
        smallest = k
        left, right = 2 * k + 1, 2 * k + 2
        if left < n and heap[lo + left] < heap[lo + smallest]:
            smallest = left
        if right < n and heap[lo + right] < heap[lo + smallest]:
            smallest = right
        if smallest == k:
            return
        heap[lo + k], heap[lo + smallest] = heap[lo + smallest], heap[lo + k]
        k = smallest


@njit(inline="always")
def _sift_up(heap, lo, k):
    """Restore the min-heap ``heap[lo:...]`` above its entry ``k``."""
    while k > 0:
        parent = (k - 1) // 2
        if heap[lo + parent] <= heap[lo + k]:
            return
        heap[lo + parent], heap[lo + k] = heap[lo + k], heap[lo + parent]
        k = parent


class Lists(NamedTuple):
    """The applicants' lists and the ads' places for held proposals (once per market).

    Attributes
    ----------
    app_ptr, by_preference : int64 (N + 1,), (A,): each applicant's applications in
        preference order (:func:`lis1abm.engine.preferences.preference_lists`).
    cap_ptr : int64 (J + 1,): the cumulative capacities: ad j's held proposals are a min-heap
        of keys in ``heap[cap_ptr[j]:cap_ptr[j] + held[j]]``.
    """

    app_ptr: np.ndarray
    by_preference: np.ndarray
    cap_ptr: np.ndarray


class Proposals(NamedTuple):
    """Scratch of :func:`applicant_proposing`: heap int64 (C,) (C the summed capacities),
    held int64 (J,), free int64 (N,), choice int64 (N,)."""

    heap: np.ndarray
    held: np.ndarray
    free: np.ndarray
    choice: np.ndarray


# Compiled on its own rather than inlined into the parallel loop of _match_batch: numba's
# parallel passes mis-analyse tuples of arrays in code inlined there (see
# lis1abm.engine.cpu._replicate).
@njit
def applicant_proposing(m, lists, app_key, withdrawn, work, hired_app):
    """Applicant-proposing deferred acceptance with capacities (hospitals/residents).

    1. Every applicant who has not withdrawn is free, at the top of their list.
    2. A free applicant proposes to the next ad on their list (the ads applied to, favourite
       first). An ad whose ranked list lacks them (not qualified) rejects them at once.
    3. An ad with an open position holds the proposal. A full ad compares it with the worst
       proposal it holds (by ranking key): it holds the better one and rejects the other;
       a rejected applicant is free again and goes on down their list.
    4. When no free applicant has an ad left to propose to, the held proposals are the hires.

    The outcome does not depend on the order in which free applicants propose (it is the
    applicant-optimal stable allocation), so they propose in id order from a stack.

    Parameters
    ----------
    m : the market (:class:`EngineArrays`).
    lists : :class:`Lists`.
    app_key : int64 (A,): each application's ranking key, NOT_LISTED if not on the list.
    withdrawn : int64 (N,): nonzero for an applicant not in the match.
    work : :class:`Proposals`, scratch.
    hired_app : int64 (N,): out, each applicant's application held at the end (-1: none).
    """
    app_ptr, by_preference, cap_ptr = lists
    heap, held, free, choice = work
    n = m.n_applied.shape[0]
    for j in range(held.shape[0]):
        held[j] = 0
    n_free = 0
    for i in range(n - 1, -1, -1):  # pushed in reverse, so applicant 0 proposes first
        hired_app[i] = -1
        choice[i] = 0
        if withdrawn[i] == 0:
            free[n_free] = i
            n_free += 1
    while n_free > 0:
        n_free -= 1
        i = free[n_free]
        while choice[i] < m.n_applied[i]:
            a = by_preference[app_ptr[i] + choice[i]]
            choice[i] += 1
            key = app_key[a]
            j = m.app_ad[a]
            capacity = m.capacity[j]
            if key == NOT_LISTED or capacity == 0:
                continue  # not on the ad's list (or the ad has no position): rejected
            lo = cap_ptr[j]
            if held[j] < capacity:
                heap[lo + held[j]] = key
                _sift_up(heap, lo, held[j])
                held[j] += 1
                hired_app[i] = a
                break
            worst = heap[lo]
            if key > worst:
                heap[lo] = key
                _sift_down(heap, lo, capacity, 0)
                hired_app[i] = a
                displaced = m.app_applicant[rules.ranked_application(worst)]
                hired_app[displaced] = -1
                free[n_free] = displaced  # it was not on the stack: it held a proposal
                n_free += 1
                break


@njit(inline="always")
def hospital_proposing(m, keys, withdrawn, position, held, active, on_stack, hired_app):
    """Hospital-proposing deferred acceptance with capacities (hospitals/residents).

    1. Every ad with positions is active, at the top of its ranked list.
    2. An active ad proposes to the next applicant on its list, one proposal per open
       position; an applicant who has withdrawn is passed over.
    3. An applicant holds the proposal they like best (by their preference order) and rejects
       the others; giving up a held proposal for a better one gives that ad a position back,
       and it becomes active again.
    4. When every ad is full or at the end of its list, the held proposals are the hires.

    Parameters
    ----------
    keys : int64 (Q,): in/out, the ranking keys in ranked-list order (``m.ad_app``), as
        :func:`lis1abm.engine.preferences.application_keys` leaves them; each ad's segment is
        sorted here (ascending: the ad proposes from its end).
    withdrawn : int64 (N,): nonzero for an applicant not in the match.
    position, held, active, on_stack : int64 (J,): scratch.
    hired_app : int64 (N,): out, each applicant's application held at the end (-1: none).
    """
    n_ads = m.capacity.shape[0]
    for i in range(hired_app.shape[0]):
        hired_app[i] = -1
    n_active = 0
    for j in range(n_ads - 1, -1, -1):  # pushed in reverse, so ad 0 proposes first
        start, end = m.ad_ptr[j], m.ad_ptr[j + 1]
        keys[start:end].sort()
        position[j] = end - 1
        held[j] = 0
        on_stack[j] = m.capacity[j] > 0
        if m.capacity[j] > 0:
            active[n_active] = j
            n_active += 1
    while n_active > 0:
        n_active -= 1
        j = active[n_active]
        on_stack[j] = 0
        start = m.ad_ptr[j]
        while held[j] < m.capacity[j] and position[j] >= start:
            a = rules.ranked_application(keys[position[j]])
            position[j] -= 1
            i = m.app_applicant[a]
            if withdrawn[i] != 0:
                continue
            h = hired_app[i]
            if h < 0:
                hired_app[i] = a
                held[j] += 1
            elif m.app_pref[a] < m.app_pref[h]:
                hired_app[i] = a
                held[j] += 1
                jilted = m.app_ad[h]  # never j: an ad proposes to an applicant once
                held[jilted] -= 1
                if on_stack[jilted] == 0:
                    on_stack[jilted] = 1
                    active[n_active] = jilted
                    n_active += 1


@njit(inline="always")
def _hired_ads(m, hired_app, out):
    """Each applicant's ad (-1: not hired) from their held application."""
    for i in range(hired_app.shape[0]):
        a = hired_app[i]
        out[i] = m.app_ad[a] if a >= 0 else -1


@cached_njit(parallel=True)
def _match_batch(key, reps, withdraw_q16, m, lists, out):
    """Both deferred acceptance allocations of replications ``reps`` (B,) into ``out``
    (applicant-proposing, hospital-proposing), int64 (B, N) each: each applicant's ad, -1 if
    not hired. ``key``: the seed's Philox key (k0, k1); ``withdraw_q16`` int64 (B,);
    ``lists``: :class:`Lists`."""
    k0, k1 = key
    # Plain arrays in the parallel loop: it takes a tuple of arrays for an array of arrays.
    app_ptr, by_preference, cap_ptr = lists
    ap_out, hp_out = out
    n_people = m.n_applied.shape[0]
    n_ads = m.capacity.shape[0]
    for b in prange(reps.shape[0]):
        keys = np.empty(m.ad_app.shape[0], np.int64)
        app_key = np.empty(m.app_ad.shape[0], np.int64)
        withdrawn = np.empty(n_people, np.int64)
        hired_app = np.empty(n_people, np.int64)
        free = np.empty(n_people, np.int64)
        choice = np.empty(n_people, np.int64)
        heap = np.empty(max(cap_ptr[n_ads], 1), np.int64)
        held = np.empty(n_ads, np.int64)
        position = np.empty(n_ads, np.int64)
        active = np.empty(n_ads, np.int64)
        on_stack = np.empty(n_ads, np.int64)
        application_keys(k0, k1, reps[b], m, keys, app_key)
        withdrawals(k0, k1, reps[b], withdraw_q16[b], withdrawn)
        applicant_proposing(
            m,
            Lists(app_ptr, by_preference, cap_ptr),
            app_key,
            withdrawn,
            Proposals(heap, held, free, choice),
            hired_app,
        )
        _hired_ads(m, hired_app, ap_out[b])
        hospital_proposing(m, keys, withdrawn, position, held, active, on_stack, hired_app)
        _hired_ads(m, hired_app, hp_out[b])


def run_deferred_acceptance(
    arrays: EngineArrays, seed: int, replications, params
) -> tuple[np.ndarray, np.ndarray]:
    """Applicant- and hospital-proposing deferred acceptance of replications on the CPU, in
    parallel over replications (numba threads).

    Parameters
    ----------
    arrays : the market (:func:`lis1abm.engine.layout.flatten`).
    seed : root seed.
    replications : int (B,): replication indices (their interview noise and withdrawals).
    params : int64 (B, 3 + R) parameter rows, or one row for all
        (:func:`lis1abm.engine.layout.param_rows`); only the withdrawal threshold is read.

    Returns
    -------
    applicant_proposing, hospital_proposing : int64 (B, N): each applicant's ad, -1 if not
        hired.
    """
    key, reps, prows = check_batch(arrays, seed, replications, params)
    app_ptr, by_preference = preference_lists(arrays)
    cap_ptr = np.zeros(arrays.n_ads + 1, dtype=np.int64)
    np.cumsum(arrays.capacity, out=cap_ptr[1:])
    ap = np.empty((len(reps), arrays.n_applicants), dtype=np.int64)
    hp = np.empty_like(ap)
    withdraw_q16 = behaviour(prows).withdraw
    _match_batch(key, reps, withdraw_q16, arrays, Lists(app_ptr, by_preference, cap_ptr), (ap, hp))
    return ap, hp
