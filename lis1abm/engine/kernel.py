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
    F_SKIPPED_WITHDRAWN,
    F_WAITING,
    INT64_MAX,
    INT64_MIN,
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
def _segment_keys(k0, k1, rep, m, start, end, segment):
    """The ranking keys (:func:`lis1abm.rules.ranking_key`) of the applications ``start:end``
    of ``m.ad_app`` (one ad's, or all) into ``segment[:end - start]``: score plus interview
    noise, packed with the application index so that keys never tie. The noise is keyed by
    (applicant, trust of the ad): a trust interviews an applicant once for all its ads (see
    :func:`lis1abm.market.ranking.ranked_lists`). One Philox block per key; the loop
    vectorises on the CPU."""
    for k in range(start, end):
        q = _ix(k)
        score = m.ad_app_score[q] + noise_jit(
            k0, k1, rep, S_INTERVIEW, m.ad_app_applicant[q], m.ad_app_trust[q]
        )
        segment[_ix(k - start)] = rules.ranking_key(score, m.ad_app[q])


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
    return _threshold_of_histogram(work, want, bucket_lo, bucket_shift)


@njit(inline="always")
def _threshold_of_histogram(hist, want, bucket_lo, bucket_shift):
    """The lowest key of the fewest whole top buckets of ``hist`` (N_BUCKETS,: keys per
    bucket) that hold at least ``want`` keys, or INT64_MIN if that takes all of them."""
    lowest = N_BUCKETS - 1
    total = hist[lowest]
    while total < want and lowest > 0:
        lowest -= 1
        total += hist[lowest]
    if lowest == 0:
        return INT64_MIN
    # Bucket >= lowest  <=>  key >= this (buckets are monotone in the key).
    return (bucket_lo + (lowest << bucket_shift)) * rules.KEY_SHIFT


@njit(inline="always")
def _first_bands(k0, k1, rep, m, keys, work, ad_state):
    """The ranking keys of every application (one vectorised loop), then every ad's first
    band: the keys at least its precomputed threshold (no histogram), sorted at the front of
    the ad's segment of ``keys``. The keys below it are not kept: a later band computes them
    again (:func:`_next_band`)."""
    _segment_keys(k0, k1, rep, m, 0, m.ad_app.shape[0], keys)
    for j in range(m.capacity.shape[0]):
        start, end = m.ad_ptr[j], m.ad_ptr[j + 1]
        threshold = m.band_threshold[j]
        got = _take_band(keys, start, end - start, threshold, INT64_MAX, keys, start, work)
        ad_state[AD_BAND_NEXT, j] = start
        ad_state[AD_BAND_LEFT, j] = got
        ad_state[AD_REST, j] = start + got
        ad_state[AD_FLOOR, j] = threshold
        ad_state[AD_HIRED, j] = 0


@njit(inline="always")
def _next_band(k0, k1, rep, m, j, keys, segment, work, ad_state):
    """Refill ad j's band when it has run out: recompute the ad's keys and take the best
    ``band_size`` of those below the last band's floor. Returns False if the ranked list is
    exhausted."""
    start, end, rest = m.ad_ptr[j], m.ad_ptr[j + 1], ad_state[AD_REST, j]
    if rest == end:
        return False
    _segment_keys(k0, k1, rep, m, start, end, segment)
    floor = ad_state[AD_FLOOR, j]
    threshold = _band_threshold(
        segment, end - start, floor, m.band_size[j], work, m.bucket_lo, m.bucket_shift
    )
    got = _take_band(segment, 0, end - start, threshold, floor, keys, rest, work)
    ad_state[AD_BAND_NEXT, j] = rest
    ad_state[AD_BAND_LEFT, j] = got
    ad_state[AD_REST, j] = rest + got
    ad_state[AD_FLOOR, j] = threshold
    return True


@njit(inline="always")
def _start_state(k0, k1, rep, withdraw_q16, n_people, who, cascade):
    """Applicants' state before the first round: who has taken another job and withdrawn
    (decided once per replication; drawn for everyone in one vectorised loop), nobody hired or
    marked, no offers; the cascade zeroed."""
    for i in range(n_people):
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


@njit(inline="always")
def _make_offers(k0, k1, rep, r, m, keys, segment, work, ad_state, who, offer_app):
    """Step 1 of round r: each ad offers one position per vacancy to its best remaining
    candidates who are not marked as hired and have not withdrawn. Each applicant's best offer
    of the day is kept in ``who[WHO_BEST_APP]``, and the applicants with offers are listed in
    ``who[WHO_TOUCHED]``. Returns (offers made, applicants with offers, withdrawn candidates
    passed over)."""
    n_offers = 0
    n_touched = 0
    n_skipped_withdrawn = 0
    for j in range(m.capacity.shape[0]):
        open_positions = rules.vacancies(m.capacity[j], ad_state[AD_HIRED, j])
        while open_positions > 0:
            if ad_state[AD_BAND_LEFT, j] == 0:
                if not _next_band(k0, k1, rep, m, j, keys, segment, work, ad_state):
                    break  # the ranked list is exhausted
            top = keys[_ix(ad_state[AD_BAND_NEXT, j])]
            ad_state[AD_BAND_NEXT, j] += 1
            ad_state[AD_BAND_LEFT, j] -= 1
            a = rules.ranked_application(top)
            i = m.app_applicant[_ix(a)]
            ia, ii = _ix(a), _ix(i)
            # Without branches (whether a candidate is marked, or already has an offer this
            # round, is random, and mispredicted branches were most of the time): the offer
            # and the applicant's entry in the round's list are always written, and count
            # only if the candidate can receive an offer (a marked or withdrawn candidate is
            # skipped, and never reconsidered). Row WHO_TOUCHED has a spare last place for this.
            withdrawn = who[WHO_WITHDRAWN, ii] != 0
            n_skipped_withdrawn += withdrawn
            ok = rules.can_receive_offer(who[WHO_MARKED, ii], withdrawn, r)
            offer_app[_ix(n_offers)] = a
            n_offers += ok
            open_positions -= ok
            best = who[WHO_BEST_APP, ii]
            first = best < 0  # the applicant's first offer this round
            who[WHO_TOUCHED, _ix(n_touched)] = i
            n_touched += ok & first
            better = first | (m.app_pref[ia] < m.app_pref[_ix(a if first else best)])
            who[WHO_BEST_APP, ii] = a if ok & better else best
    return n_offers, n_touched, n_skipped_withdrawn


@njit(inline="always")
def _reply(k0, k1, rep, r, prow, m, n_touched, ad_state, who, cascade_row):
    """Step 2 of round r: each applicant with offers decides by the deadline (accept the
    best, wait, miss the deadline, must decline), and an acceptance is recorded with the round
    from which the applicant counts as marked. Returns the hires made."""
    # The day's draws first, in a loop of their own that vectorises.
    for t in range(n_touched):
        u_no_reply, u_wait, u_late, _ = u16x4_jit(k0, k1, rep, S_REPLY_DAY, who[WHO_TOUCHED, t], r)
        who[WHO_U_NO_REPLY, t] = u_no_reply
        who[WHO_U_WAIT, t] = u_wait
        who[WHO_U_LATE, t] = u_late
    rounds_left = rules.rounds_left(m.n_calendar, r)
    n_waiting = 0
    n_no_reply = 0
    hired = 0
    for t in range(n_touched):
        ii = _ix(who[WHO_TOUCHED, t])
        ib = _ix(who[WHO_BEST_APP, ii])
        decision = rules.reply(
            who[WHO_HIRED_AD, ii] >= 0,
            m.app_pref[ib],
            m.n_applied[ii],
            who[WHO_U_NO_REPLY, t],
            prow[PARAM_NO_REPLY + r - 1],
            who[WHO_U_WAIT, t],
            prow[PARAM_WAIT],
            rounds_left,
            m.n_calendar,
        )
        who[WHO_DECISION, ii] = decision
        # Counted and recorded without branches, as in the offers.
        n_waiting += decision == rules.WAIT
        n_no_reply += decision == rules.NO_REPLY
        accept = decision == rules.ACCEPT_BEST
        j = m.app_ad[ib]
        marked = rules.marking_round(r, who[WHO_U_LATE, t], prow[PARAM_LATE])
        who[WHO_HIRED_AD, ii] = j if accept else who[WHO_HIRED_AD, ii]
        who[WHO_HIRED_ROUND, ii] = r if accept else who[WHO_HIRED_ROUND, ii]
        who[WHO_MARKED, ii] = marked if accept else who[WHO_MARKED, ii]
        ad_state[AD_HIRED, _ix(j)] += accept
        hired += accept
    cascade_row[F_WAITING] = n_waiting
    cascade_row[F_NO_REPLY] = n_no_reply
    return hired


@njit(inline="always")
def _responses(r, m, n_offers, n_touched, who, offer_app, cascade_row, offers_out, keep_offers):
    """Step 3 of round r: the response to every offer made (accepted, declined, unanswered,
    declined because hired elsewhere), counted in the cascade and, if kept, recorded per
    application; then the day's best offers are cleared."""
    cascade_row[F_OFFERS] = n_offers
    for o in range(n_offers):
        a = offer_app[o]
        ii = _ix(m.app_applicant[_ix(a)])
        response = rules.offer_response(who[WHO_DECISION, ii], a == who[WHO_BEST_APP, ii])
        cascade_row[_ix(1 + response)] += 1
        if keep_offers:
            offers_out[_ix(a)] = rules.offer_code(r, response)
    for t in range(n_touched):
        who[WHO_BEST_APP, _ix(who[WHO_TOUCHED, t])] = -1


@njit(inline="always")
def _hire_counts(m, who, counts, hired_ad_out, hired_round_out, keep_applicants):
    """Hires per slot (every breakdown's group, and each ad by education group), and, if
    kept, each applicant's ad and round."""
    for s in range(counts.shape[0]):
        counts[s] = 0
    for i in range(m.n_applied.shape[0]):
        j = who[WHO_HIRED_AD, i]
        if keep_applicants:
            hired_ad_out[i] = j
            hired_round_out[i] = who[WHO_HIRED_ROUND, i]
        hired = j >= 0  # added without a branch, as in the rounds
        for c in range(m.slots.shape[1]):
            counts[_ix(m.slots[i, c])] += hired
        counts[_ix(m.ad_slot0 + N_EDUCATION * max(j, 0) + m.education[i])] += hired


@njit(inline="always")
def replicate(
    k0,
    k1,
    rep,
    prow,
    m,
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
    prow : int64 (3 + R,): this replication's parameter row (see
        :func:`lis1abm.engine.layout.param_rows`).
    m : the market (:class:`lis1abm.engine.layout.EngineArrays`, a NamedTuple).
    keys, segment, work, ad_state, who, offer_app : int64 scratch arrays, overwritten, shaped
        as :meth:`EngineArrays.scratch_shapes` says.
    counts : int64 (S,): out, hires per slot.
    cascade : int64 (R, len(CASCADE_FIELDS)): out, the cascade per round (the calendar's
        rounds, then those after it; rounds not played are zero but for the open positions).
    hired_ad_out, hired_round_out : int64 (N,): out if ``keep_applicants``: each applicant's
        ad (-1 if not hired) and round of acceptance (0 if not hired).
    offers_out : int16 (A,): out if ``keep_offers``: per application, the code of the offer
        it got (:func:`lis1abm.rules.offer_code`), or 0 if it got none (an ad never offers
        twice to one applicant).
    """
    _first_bands(k0, k1, rep, m, keys, work, ad_state)
    _start_state(k0, k1, rep, prow[PARAM_WITHDRAW], m.n_applied.shape[0], who, cascade)
    open_positions = 0
    for j in range(m.capacity.shape[0]):
        open_positions += m.capacity[j]
    for r in range(1, m.n_rounds + 1):
        n_offers, n_touched, n_skipped = _make_offers(
            k0, k1, rep, r, m, keys, segment, work, ad_state, who, offer_app
        )
        open_positions -= _reply(k0, k1, rep, r, prow, m, n_touched, ad_state, who, cascade[r - 1])
        _responses(
            r, m, n_offers, n_touched, who, offer_app, cascade[r - 1], offers_out, keep_offers
        )
        cascade[r - 1, F_SKIPPED_WITHDRAWN] = n_skipped
        cascade[r - 1, F_OPEN_AFTER] = open_positions
        if n_offers == 0:
            # Nothing changed in this round (every ad full or its list exhausted), so no later
            # round would differ: stop, and carry the open positions (as the Mesa model does).
            for later in range(r, m.n_rounds):
                cascade[later, F_OPEN_AFTER] = open_positions
            break
    _hire_counts(m, who, counts, hired_ad_out, hired_round_out, keep_applicants)
