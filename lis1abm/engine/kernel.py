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
    F_NO_REPLY,
    F_OFFERS,
    F_OPEN_AFTER,
    F_SKIPPED_WITHDRAWN,
    F_WAITING,
    INT64_MAX,
    INT64_MIN,
    N_BUCKETS,
    N_EDUCATION,
    S_INTERVIEW,
    SORT_BUCKETS,
    SORT_FACTOR,
    AdState,
    Behaviour,
    Outputs,
    Scratch,
    Who,
)
from lis1abm.rng import noise_jit, reply_day_u16_jit, withdrawal_u16_jit

# -- the kernels' tuples, one replication's part ------------------------------------------


@njit(inline="always")
def scratch(blocks):
    """:class:`~lis1abm.engine.layout.Scratch`: the scratch blocks
    (:class:`~lis1abm.engine.layout.ScratchBlocks`, one replication's) with the rows of the
    state blocks named."""
    ads, who = blocks.ads, blocks.who
    return Scratch(
        blocks.keys,
        blocks.segment,
        blocks.work,
        AdState(ads[0], ads[1], ads[2], ads[3], ads[4]),
        Who(who[0], who[1], who[2], who[3], who[4], who[5], who[6], who[7], who[8], who[9]),
        blocks.offer_app,
    )


@njit(inline="always")
def behaviour_of(behaviour, b):
    """Replication ``b``'s thresholds of a batch's :class:`~lis1abm.engine.layout.Behaviour`:
    wait, late, withdraw scalars and the no-reply column (R,)."""
    return Behaviour(
        behaviour.wait[b], behaviour.late[b], behaviour.withdraw[b], behaviour.no_reply[:, b]
    )


@njit(inline="always")
def outputs_of(out, row, b):
    """Replication ``b``'s part of a batch's :class:`~lis1abm.engine.layout.Outputs`: row
    ``row`` of counts and cascade (a driver that summarises reuses one row per task), row
    ``b`` of the per-applicant and per-offer outputs if kept (else row 0, never written)."""
    kept = b if out.keep_applicants else 0
    kept_offers = b if out.keep_offers else 0
    return Outputs(
        out.counts[row],
        out.cascade[row],
        out.hired_ad[kept],
        out.hired_round[kept],
        out.offers[kept_offers],
        out.keep_applicants,
        out.keep_offers,
    )


# -- one replication ----------------------------------------------------------------------


@njit(inline="always")
def _ix(i):
    """An array index as uint64. Indices in the engine are never negative, and with an unsigned
    index numba leaves out its code for negative (from the end) indices: in the tightest loops
    that code took about a third of the time."""
    return np.uint64(i)


@njit(inline="always")
def _segment_keys(key, rep, m, start, end, segment):
    """The ranking keys (:func:`lis1abm.rules.ranking_key`) of the applications ``start:end``
    of ``m.ad_app`` (one ad's, or all) into ``segment[:end - start]``: score plus interview
    noise, packed with the application index so that keys never tie. The noise is keyed by
    (applicant, trust of the ad): a trust interviews an applicant once for all its ads (see
    :func:`lis1abm.market.ranking.ranked_lists`). One Philox block per key; the loop
    vectorises on the CPU. ``key``: the seed's Philox key (k0, k1)."""
    k0, k1 = key
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
def _first_bands(key, rep, m, s):
    """The ranking keys of every application (one vectorised loop), then every ad's first
    band: the keys at least its precomputed threshold (no histogram), sorted at the front of
    the ad's segment of ``s.keys``. The keys below it are not kept: a later band computes them
    again (:func:`_next_band`)."""
    keys, ads = s.keys, s.ads
    _segment_keys(key, rep, m, 0, m.ad_app.shape[0], keys)
    for j in range(m.capacity.shape[0]):
        start, end = m.ad_ptr[j], m.ad_ptr[j + 1]
        threshold = m.band_threshold[j]
        got = _take_band(keys, start, end - start, threshold, INT64_MAX, keys, start, s.work)
        ads.band_next[j] = start
        ads.band_left[j] = got
        ads.rest[j] = start + got
        ads.floor[j] = threshold
        ads.hired[j] = 0


@njit(inline="always")
def _next_band(key, rep, m, j, s):
    """Refill ad j's band when it has run out: recompute the ad's keys and take the best
    ``band_size`` of those below the last band's floor. Returns False if the ranked list is
    exhausted."""
    ads = s.ads
    start, end, rest = m.ad_ptr[j], m.ad_ptr[j + 1], ads.rest[j]
    if rest == end:
        return False
    _segment_keys(key, rep, m, start, end, s.segment)
    floor = ads.floor[j]
    threshold = _band_threshold(
        s.segment, end - start, floor, m.band_size[j], s.work, m.bucket_lo, m.bucket_shift
    )
    got = _take_band(s.segment, 0, end - start, threshold, floor, s.keys, rest, s.work)
    ads.band_next[j] = rest
    ads.band_left[j] = got
    ads.rest[j] = rest + got
    ads.floor[j] = threshold
    return True


@njit(inline="always")
def _start_state(key, rep, withdraw_q16, n_people, who, cascade):
    """Applicants' state before the first round: who has taken another job and withdrawn
    (decided once per replication; drawn for everyone in one vectorised loop), nobody hired or
    marked, no offers; the cascade zeroed."""
    k0, k1 = key
    for i in range(n_people):
        who.withdrawn[i] = rules.has_withdrawn(withdrawal_u16_jit(k0, k1, rep, i), withdraw_q16)
    for i in range(n_people):
        who.hired_ad[i] = -1
        who.hired_round[i] = 0
        who.marked[i] = rules.NOT_MARKED
        who.best_app[i] = -1
    for r in range(cascade.shape[0]):
        for f in range(cascade.shape[1]):
            cascade[r, f] = 0


@njit(inline="always")
def _make_offers(key, rep, r, m, s):
    """Step 1 of round r: each ad offers one position per vacancy to its best remaining
    candidates who are not marked as hired and have not withdrawn. Each applicant's best offer
    of the day is kept in ``s.who.best_app``, and the applicants with offers are listed in
    ``s.who.touched``. Returns (offers made, applicants with offers, withdrawn candidates
    passed over)."""
    ads, who, keys, offer_app = s.ads, s.who, s.keys, s.offer_app
    n_offers = 0
    n_touched = 0
    n_skipped_withdrawn = 0
    for j in range(m.capacity.shape[0]):
        open_positions = rules.vacancies(m.capacity[j], ads.hired[j])
        while open_positions > 0:
            if ads.band_left[j] == 0:
                if not _next_band(key, rep, m, j, s):
                    break  # the ranked list is exhausted
            top = keys[_ix(ads.band_next[j])]
            ads.band_next[j] += 1
            ads.band_left[j] -= 1
            a = rules.ranked_application(top)
            i = m.app_applicant[_ix(a)]
            ia, ii = _ix(a), _ix(i)
            # Without branches (whether a candidate is marked, or already has an offer this
            # round, is random, and mispredicted branches were most of the time): the offer
            # and the applicant's entry in the round's list are always written, and count
            # only if the candidate can receive an offer (a marked or withdrawn candidate is
            # skipped, and never reconsidered). ``who.touched`` has a spare last place for this.
            withdrawn = who.withdrawn[ii] != 0
            n_skipped_withdrawn += withdrawn
            ok = rules.can_receive_offer(who.marked[ii], withdrawn, r)
            offer_app[_ix(n_offers)] = a
            n_offers += ok
            open_positions -= ok
            best = who.best_app[ii]
            first = best < 0  # the applicant's first offer this round
            who.touched[_ix(n_touched)] = i
            n_touched += ok & first
            better = first | (m.app_pref[ia] < m.app_pref[_ix(a if first else best)])
            who.best_app[ii] = a if ok & better else best
    return n_offers, n_touched, n_skipped_withdrawn


@njit(inline="always")
def _reply(key, rep, r, p, m, n_touched, s, cascade_row):
    """Step 2 of round r: each applicant with offers decides by the deadline (accept the
    best, wait, miss the deadline, must decline), and an acceptance is recorded with the round
    from which the applicant counts as marked. ``p``: the replication's thresholds
    (:func:`behaviour_of`). Returns the hires made."""
    k0, k1 = key
    ads, who = s.ads, s.who
    # The day's draws first, in a loop of their own that vectorises.
    for t in range(n_touched):
        u_no_reply, u_wait, u_late = reply_day_u16_jit(k0, k1, rep, who.touched[t], r)
        who.u_no_reply[t] = u_no_reply
        who.u_wait[t] = u_wait
        who.u_late[t] = u_late
    rounds_left = rules.rounds_left(m.n_calendar, r)
    no_reply_q16 = p.no_reply[r - 1]
    n_waiting = 0
    n_no_reply = 0
    hired = 0
    for t in range(n_touched):
        ii = _ix(who.touched[t])
        ib = _ix(who.best_app[ii])
        decision = rules.reply(
            who.hired_ad[ii] >= 0,
            m.app_pref[ib],
            m.n_applied[ii],
            who.u_no_reply[t],
            no_reply_q16,
            who.u_wait[t],
            p.wait,
            rounds_left,
            m.n_calendar,
        )
        who.decision[ii] = decision
        # Counted and recorded without branches, as in the offers.
        n_waiting += decision == rules.WAIT
        n_no_reply += decision == rules.NO_REPLY
        accept = decision == rules.ACCEPT_BEST
        j = m.app_ad[ib]
        marked = rules.marking_round(r, who.u_late[t], p.late)
        who.hired_ad[ii] = j if accept else who.hired_ad[ii]
        who.hired_round[ii] = r if accept else who.hired_round[ii]
        who.marked[ii] = marked if accept else who.marked[ii]
        ads.hired[_ix(j)] += accept
        hired += accept
    cascade_row[F_WAITING] = n_waiting
    cascade_row[F_NO_REPLY] = n_no_reply
    return hired


@njit(inline="always")
def _responses(r, m, n_offers, n_touched, s, cascade_row, out):
    """Step 3 of round r: the response to every offer made (accepted, declined, unanswered,
    declined because hired elsewhere), counted in the cascade and, if kept, recorded per
    application in ``out.offers``; then the day's best offers are cleared."""
    who = s.who
    cascade_row[F_OFFERS] = n_offers
    for o in range(n_offers):
        a = s.offer_app[o]
        ii = _ix(m.app_applicant[_ix(a)])
        response = rules.offer_response(who.decision[ii], a == who.best_app[ii])
        cascade_row[_ix(1 + response)] += 1
        if out.keep_offers:
            out.offers[_ix(a)] = rules.offer_code(r, response)
    for t in range(n_touched):
        who.best_app[_ix(who.touched[t])] = -1


@njit(inline="always")
def _hire_counts(m, who, out):
    """Hires per slot into ``out.counts`` (every breakdown's group, and each ad by education
    group), and, if kept, each applicant's ad and round."""
    counts = out.counts
    for c in range(counts.shape[0]):
        counts[c] = 0
    for i in range(m.n_applied.shape[0]):
        j = who.hired_ad[i]
        if out.keep_applicants:
            out.hired_ad[i] = j
            out.hired_round[i] = who.hired_round[i]
        hired = j >= 0  # added without a branch, as in the rounds
        for c in range(m.slots.shape[1]):
            counts[_ix(m.slots[i, c])] += hired
        counts[_ix(m.ad_slot0 + N_EDUCATION * max(j, 0) + m.education[i])] += hired


@njit(inline="always")
def replicate(key, rep, p, m, s, out):
    """Play one replication of the offer rounds.

    Parameters
    ----------
    key : (uint64, uint64): the seed's Philox key (:func:`lis1abm.rng.key`).
    rep : replication index.
    p : this replication's thresholds (:func:`behaviour_of` of a batch's
        :class:`~lis1abm.engine.layout.Behaviour`).
    m : the market (:class:`lis1abm.engine.layout.EngineArrays`, a NamedTuple).
    s : scratch memory, overwritten (:func:`scratch` of
        :class:`~lis1abm.engine.layout.ScratchBlocks` shaped as
        :meth:`EngineArrays.scratch_shapes` says).
    out : this replication's outputs (:func:`outputs_of` of a batch's
        :class:`~lis1abm.engine.layout.Outputs`): hire counts (S,), cascade (R, F),
        and if kept each applicant's ad and round (N,) and each application's offer (A,).
    """
    cascade = out.cascade
    _first_bands(key, rep, m, s)
    _start_state(key, rep, p.withdraw, m.n_applied.shape[0], s.who, cascade)
    n_positions = rules.positions(m.capacity)
    hired = 0
    for r in range(1, m.n_rounds + 1):
        n_offers, n_touched, n_skipped = _make_offers(key, rep, r, m, s)
        hired += _reply(key, rep, r, p, m, n_touched, s, cascade[r - 1])
        _responses(r, m, n_offers, n_touched, s, cascade[r - 1], out)
        open_after = rules.open_positions(n_positions, hired)
        cascade[r - 1, F_SKIPPED_WITHDRAWN] = n_skipped
        cascade[r - 1, F_OPEN_AFTER] = open_after
        if n_offers == 0:
            # Nothing changed in this round (every ad full or its list exhausted), so no later
            # round would differ: stop, and carry the open positions (as the Mesa model does).
            for later in range(r, m.n_rounds):
                cascade[later, F_OPEN_AFTER] = open_after
            break
    _hire_counts(m, s.who, out)
