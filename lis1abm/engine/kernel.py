"""The array engine: the offer cascade of many replications in compiled code.

The Mesa model (:mod:`lis1abm.abm.model`) is the readable reference; this module plays the same
rounds on plain arrays, for thousands of replications per second. For the same (seed,
replication) it gives the same outcome as the Mesa model, applicant by applicant and offer by
offer, because

* every random draw comes from :mod:`lis1abm.rng` with the same coordinates (drawn lazily
  here, for the applicants who need one, and eagerly there: a draw does not depend on when);
* every decision calls the same rule in :mod:`lis1abm.rules`;
* ranking is on integer keys that cannot tie (score, then applicant id).

:func:`replicate` plays one replication. It is written once and compiled twice: into the CPU
driver here (``prange`` over chunks of replications) and into the CUDA kernel of
:mod:`lis1abm.engine.cuda`. It allocates nothing: all its scratch memory is passed in.

Ranking without sorting
-----------------------
An ad only ever reaches the top of its ranked list (its positions, the declines, and the
candidates already hired elsewhere), so a full sort of its applicants is wasted work. The
ranking keys of all applications are computed in one vectorised loop, each ad's in its own
segment of ``keys``. Of an ad's keys, only those at least a threshold (the first *band*: about
``BAND_FACTOR * capacity + BAND_EXTRA`` of them) are kept: gathered into a buffer, then
sorted back to the front of the segment (a counting sort on a fine bucket of the key, then an
insertion sort within buckets: linear time in practice). The ad takes its next candidate from
the front. Only when the band runs out are the ad's keys computed again and the next band
taken: those below the last threshold and at least a new one, chosen with a histogram. The
candidates come out in exactly the order of a full sort.

Where the rest of the time went
-------------------------------
Measured with ``python scripts/profile_engine.py`` and a sampling profiler: once ranking was
cheap, most of a replication's time was mispredicted branches (whether a candidate is marked
as hired, whether an applicant already holds an offer, what they reply: all random) and
numba's handling of negative indices. So the offer rounds decide without branches (flags
added to counters, conditional expressions that compile to selects), and the hot loops index
with unsigned integers (:func:`_ix`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from lis1abm import rules
from lis1abm.engine.layout import (
    AD_BAND_LEFT,
    AD_BAND_NEXT,
    AD_FLOOR,
    AD_HIRED,
    AD_REST,
    F_NO_REPLY,
    F_OFFERS,
    F_OPEN_AFTER,
    F_WAITING,
    F_WITHDRAWN,
    INT64_MAX,
    INT64_MIN,
    LOW32,
    N_BUCKETS,
    N_EDUCATION,
    PARAM_LATE,
    PARAM_NO_REPLY,
    PARAM_WAIT,
    PARAM_WITHDRAW,
    S_INTERVIEW,
    S_REPLY_DAY,
    S_WITHDRAWAL,
    SORT_BUCKETS,
    SORT_FACTOR,
    WHO_BEST_APP,
    WHO_DECISION,
    WHO_HIRED_AD,
    WHO_HIRED_ROUND,
    WHO_MARKED,
    WHO_TOUCHED,
    WHO_U_LATE,
    WHO_U_NO_REPLY,
    WHO_U_WAIT,
    WHO_WITHDRAWN,
)
from lis1abm.rng import noise_jit, u16_jit, u16x4_jit

# -- one replication ----------------------------------------------------------------------


@njit(inline="always")
def _ix(i):
    """An array index as uint64. Indices in the engine are never negative, and with an unsigned
    index numba leaves out its code for negative (from the end) indices: in the tightest loops
    that code took about a third of the time."""
    return np.uint64(i)


@njit(inline="always")
def _segment_keys(k0, k1, rep, market, start, end, segment):
    """The ranking keys of the applications ``start:end`` (one ad's) into ``segment[:end -
    start]``: score plus interview noise, packed with the application index so that keys never
    tie and a larger key ranks higher (ties in score go to the lower index, hence the lower
    applicant id). One Philox block per key; the loop vectorises on the CPU."""
    ad_app, ad_app_applicant, ad_app_ad, ad_app_score = market[1], market[2], market[3], market[4]
    for k in range(start, end):
        q = _ix(k)
        score = ad_app_score[q] + noise_jit(
            k0, k1, rep, S_INTERVIEW, ad_app_applicant[q], ad_app_ad[q]
        )
        segment[_ix(k - start)] = score * 4294967296 + (LOW32 - ad_app[q])


@njit(inline="always")
def _take_band(source, first, n_keys, threshold, floor, keys, dst, work):
    """Write the keys of ``source[first:first + n_keys]`` that lie in ``[threshold, floor)``
    to ``keys[dst:]``, sorted in descending order, and return their number. The source may be
    ``keys`` itself, with ``dst == first``: it is read whole before anything is written.

    ``work`` (SORT_BUCKETS + n_keys + 1,) is scratch: a histogram, then the unsorted band. The
    band is sorted by a counting sort on a fine bucket of the key (most buckets hold one key),
    then an insertion sort that only fixes the order inside buckets: linear time in practice.
    """
    # Branch-free compaction: every key is written to the next free place, which only
    # advances for a key inside the range (no branch to mispredict on random keys).
    n = 0
    for k in range(first, first + n_keys):
        x = source[_ix(k)]
        work[_ix(SORT_BUCKETS + n)] = x
        n += (x >= threshold) & (x < floor)
    if n == 0:
        return 0
    top = INT64_MIN
    bottom = INT64_MAX
    for k in range(SORT_BUCKETS, SORT_BUCKETS + n):
        top = max(top, work[_ix(k)])
        bottom = min(bottom, work[_ix(k)])
    high = top >> 32
    n_buckets = min(SORT_FACTOR * n, SORT_BUCKETS)
    shift = 0
    while (high - (bottom >> 32)) >> shift >= n_buckets:
        shift += 1
    for b in range(n_buckets):
        work[_ix(b)] = 0
    for k in range(SORT_BUCKETS, SORT_BUCKETS + n):
        work[_ix((high - (work[_ix(k)] >> 32)) >> shift)] += 1  # bucket 0 holds the highest keys
    position = dst
    for b in range(n_buckets):
        count = work[_ix(b)]
        work[_ix(b)] = position
        position += count
    for k in range(SORT_BUCKETS, SORT_BUCKETS + n):
        x = work[_ix(k)]
        b = _ix((high - (x >> 32)) >> shift)
        keys[_ix(work[b])] = x
        work[b] += 1
    # Insertion sort, descending: keys only move within their bucket, and most buckets hold
    # one key, so the common case is one comparison with the previous key (kept in a
    # register: reading it back from memory would wait for the store before it).
    previous = keys[_ix(dst)]
    for k in range(dst + 1, dst + n):
        x = keys[_ix(k)]
        if x < previous:
            previous = x
            continue
        m = k
        while m > dst and keys[_ix(m - 1)] < x:
            keys[_ix(m)] = keys[_ix(m - 1)]
            m -= 1
        keys[_ix(m)] = x
    return n


@njit(inline="always")
def _bucket(packed, bucket_lo, bucket_shift):
    """The histogram bucket of a packed key, in [0, N_BUCKETS)."""
    b = ((packed >> 32) - bucket_lo) >> bucket_shift
    return min(max(b, 0), N_BUCKETS - 1)


@njit(inline="always")
def _band_threshold(segment, n_keys, floor, want, work, bucket_lo, bucket_shift):
    """The lowest key of the fewest whole buckets of the keys of ``segment[:n_keys]`` below
    ``floor`` that hold at least ``want`` of them (or INT64_MIN: all of them)."""
    for b in range(N_BUCKETS):
        work[b] = 0
    for k in range(n_keys):
        x = segment[k]
        work[_bucket(x, bucket_lo, bucket_shift)] += x < floor
    lowest = N_BUCKETS - 1
    total = work[lowest]
    while total < want and lowest > 0:
        lowest -= 1
        total += work[lowest]
    if lowest == 0:
        return INT64_MIN
    # Bucket >= lowest  <=>  key >= this (buckets are monotone in the key).
    return (bucket_lo + (lowest << bucket_shift)) * 4294967296


@njit(inline="always")
def replicate(
    k0,
    k1,
    rep,
    prow,
    market,
    keys,
    segment,
    work,
    ad_state,
    who,
    offer_app,
    counts,
    cascade,
    hired_ad_out,
    hired_round_out,
    offers_out,
    keep_applicants,
    keep_offers,
):
    """Play one replication of the offer rounds.

    Parameters
    ----------
    k0, k1 : uint64: the seed's Philox key (:func:`lis1abm.rng.key`).
    rep : replication index.
    prow : int64 (3 + R,): this replication's parameter row (see :func:`param_rows`).
    market : the market's arrays and scalars, a tuple (:meth:`EngineArrays.kernel_args`).
    keys, segment, work, ad_state, who, offer_app : int64 scratch arrays, overwritten, shaped
        as :meth:`EngineArrays.scratch_shapes` says.
    counts : int64 (S,): out, hires per slot.
    cascade : int64 (R, len(CASCADE_FIELDS)): out, the cascade per round.
    hired_ad_out, hired_round_out : int64 (N,): out if ``keep_applicants``: each applicant's
        ad (-1 if not hired) and round of acceptance (0 if not hired).
    offers_out : int16 (A,): out if ``keep_offers``: per application, ``4 * round + response``
        of the offer it got, or 0 if it got none (an ad never offers twice to one applicant).
    """
    (
        ad_ptr,
        ad_app,
        ad_app_applicant,
        ad_app_ad,
        ad_app_score,
        app_applicant,
        app_ad,
        app_pref,
        n_applied,
        capacity,
        slots,
        education,
        ad_slot0,
        n_rounds,
        bucket_lo,
        bucket_shift,
        band_size,
        band_threshold,
    ) = market
    n_ads = capacity.shape[0]
    n_people = n_applied.shape[0]
    wait_q16 = prow[PARAM_WAIT]
    late_q16 = prow[PARAM_LATE]
    withdraw_q16 = prow[PARAM_WITHDRAW]

    # Ranking keys of every application (one vectorised loop), then every ad's first band:
    # the keys at least its precomputed threshold (no histogram), sorted at the front of the
    # ad's segment. The keys below it are not kept: a later band computes them again.
    _segment_keys(k0, k1, rep, market, 0, ad_app.shape[0], keys)
    for j in range(n_ads):
        start, end = ad_ptr[j], ad_ptr[j + 1]
        got = _take_band(keys, start, end - start, band_threshold[j], INT64_MAX, keys, start, work)
        ad_state[AD_BAND_NEXT, j] = start
        ad_state[AD_BAND_LEFT, j] = got
        ad_state[AD_REST, j] = start + got
        ad_state[AD_FLOOR, j] = band_threshold[j]
        ad_state[AD_HIRED, j] = 0
    for i in range(n_people):
        # Decided once per replication; drawn for everyone in one (vectorised) loop.
        who[WHO_WITHDRAWN, i] = rules.has_withdrawn(
            u16_jit(k0, k1, rep, S_WITHDRAWAL, i, 0), withdraw_q16
        )
    for i in range(n_people):
        who[WHO_HIRED_AD, i] = -1
        who[WHO_HIRED_ROUND, i] = 0
        who[WHO_MARKED, i] = rules.NOT_MARKED
        who[WHO_BEST_APP, i] = -1
    for r in range(cascade.shape[0]):
        for f in range(cascade.shape[1]):
            cascade[r, f] = 0
    total_capacity = 0
    for j in range(n_ads):
        total_capacity += capacity[j]
    total_hired = 0

    for r in range(1, n_rounds + 1):
        row = r - 1
        # 1. Offers: each ad offers one position per vacancy to its best remaining candidates
        # who are not marked as hired.
        n_offers = 0
        n_touched = 0
        for j in range(n_ads):
            open_positions = rules.vacancies(capacity[j], ad_state[AD_HIRED, j])
            while open_positions > 0:
                if ad_state[AD_BAND_LEFT, j] == 0:
                    start, end, rest = ad_ptr[j], ad_ptr[j + 1], ad_state[AD_REST, j]
                    if rest == end:
                        break  # the ranked list is exhausted
                    # The next band: recompute the ad's keys, take those below the last band.
                    _segment_keys(k0, k1, rep, market, start, end, segment)
                    floor = ad_state[AD_FLOOR, j]
                    threshold = _band_threshold(
                        segment, end - start, floor, band_size[j], work, bucket_lo, bucket_shift
                    )
                    got = _take_band(segment, 0, end - start, threshold, floor, keys, rest, work)
                    ad_state[AD_BAND_NEXT, j] = rest
                    ad_state[AD_BAND_LEFT, j] = got
                    ad_state[AD_REST, j] = rest + got
                    ad_state[AD_FLOOR, j] = threshold
                top = keys[_ix(ad_state[AD_BAND_NEXT, j])]
                ad_state[AD_BAND_NEXT, j] += 1
                ad_state[AD_BAND_LEFT, j] -= 1
                a = LOW32 - (top & LOW32)
                i = app_applicant[_ix(a)]
                ia, ii = _ix(a), _ix(i)
                # Without branches (whether a candidate is marked, or already has an offer
                # this round, is random, and mispredicted branches were most of the time):
                # the offer and the applicant's entry in the round's list are always written,
                # and count only if the candidate can receive an offer (a marked candidate is
                # skipped, and never reconsidered). Row WHO_TOUCHED has a spare last place.
                ok = rules.can_receive_offer(who[WHO_MARKED, ii], r)
                offer_app[_ix(n_offers)] = a
                n_offers += ok
                open_positions -= ok
                best = who[WHO_BEST_APP, ii]
                first = best < 0  # the applicant's first offer this round
                who[WHO_TOUCHED, _ix(n_touched)] = i
                n_touched += ok & first
                better = first | (app_pref[ia] < app_pref[_ix(a if first else best)])
                who[WHO_BEST_APP, ii] = a if ok & better else best

        n_waiting = 0
        n_no_reply = 0
        n_withdrawn = 0
        # 2. Replies: each applicant with offers decides by the deadline. The day's draws
        # first, in a loop of their own that vectorises.
        for t in range(n_touched):
            u_no_reply, u_wait, u_late, _ = u16x4_jit(
                k0, k1, rep, S_REPLY_DAY, who[WHO_TOUCHED, t], r
            )
            who[WHO_U_NO_REPLY, t] = u_no_reply
            who[WHO_U_WAIT, t] = u_wait
            who[WHO_U_LATE, t] = u_late
        for t in range(n_touched):
            i = who[WHO_TOUCHED, t]
            ii = _ix(i)
            best = who[WHO_BEST_APP, ii]
            ib = _ix(best)
            u_no_reply, u_wait, u_late = (
                who[WHO_U_NO_REPLY, t],
                who[WHO_U_WAIT, t],
                who[WHO_U_LATE, t],
            )
            decision = rules.reply(
                who[WHO_HIRED_AD, ii] >= 0,
                who[WHO_WITHDRAWN, ii] != 0,
                app_pref[ib],
                n_applied[ii],
                u_no_reply,
                prow[PARAM_NO_REPLY + row],
                u_wait,
                wait_q16,
                n_rounds - r,
                n_rounds,
            )
            who[WHO_DECISION, ii] = decision
            # Counted and recorded without branches, as above.
            n_waiting += decision == rules.WAIT
            n_no_reply += decision == rules.NO_REPLY
            n_withdrawn += decision == rules.WITHDRAWN
            accept = decision == rules.ACCEPT_BEST
            j = app_ad[ib]
            marked = rules.marking_round(r, u_late, late_q16)
            who[WHO_HIRED_AD, ii] = j if accept else who[WHO_HIRED_AD, ii]
            who[WHO_HIRED_ROUND, ii] = r if accept else who[WHO_HIRED_ROUND, ii]
            who[WHO_MARKED, ii] = marked if accept else who[WHO_MARKED, ii]
            ad_state[AD_HIRED, _ix(j)] += accept
            total_hired += accept
        cascade[row, F_OFFERS] = n_offers
        cascade[row, F_WAITING] = n_waiting
        cascade[row, F_NO_REPLY] = n_no_reply
        cascade[row, F_WITHDRAWN] = n_withdrawn
        for o in range(n_offers):
            a = offer_app[o]
            ii = _ix(app_applicant[_ix(a)])
            response = rules.offer_response(who[WHO_DECISION, ii], a == who[WHO_BEST_APP, ii])
            cascade[row, _ix(1 + response)] += 1
            if keep_offers:
                offers_out[_ix(a)] = 4 * r + response
        for t in range(n_touched):
            who[WHO_BEST_APP, _ix(who[WHO_TOUCHED, t])] = -1
        cascade[row, F_OPEN_AFTER] = total_capacity - total_hired

    # Hires by slot.
    for s in range(counts.shape[0]):
        counts[s] = 0
    for i in range(n_people):
        j = who[WHO_HIRED_AD, i]
        if keep_applicants:
            hired_ad_out[i] = j
            hired_round_out[i] = who[WHO_HIRED_ROUND, i]
        hired = j >= 0  # added without a branch, as in the rounds
        for c in range(slots.shape[1]):
            counts[_ix(slots[i, c])] += hired
        counts[_ix(ad_slot0 + N_EDUCATION * max(j, 0) + education[i])] += hired
