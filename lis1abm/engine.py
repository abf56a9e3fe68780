"""The array engine: the offer cascade of many replications in compiled code.

The Mesa model (:mod:`lis1abm.model`) is the readable reference; this module plays the same
rounds on plain arrays, for thousands of replications per second. For the same (seed,
replication) it gives the same outcome as the Mesa model, applicant by applicant and offer by
offer, because

* every random draw comes from :mod:`lis1abm.rng` with the same coordinates (drawn lazily
  here, for the applicants who need one, and eagerly there: a draw does not depend on when);
* every decision calls the same rule in :mod:`lis1abm.behaviour`;
* ranking is on integer keys that cannot tie (score, then applicant id).

:func:`replicate` plays one replication. It is written once and compiled twice: into the CPU
driver here (``prange`` over chunks of replications) and into the CUDA kernel of
:mod:`lis1abm.cuda_engine`. It allocates nothing: all its scratch memory is passed in.

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

from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, prange

from . import behaviour
from .market import Market
from .outcomes import CASCADE_FIELDS, Tally
from .rng import NOISE_MAX, Stream, key, noise, noise_jit, u16_jit, u16x4_jit
from .round_data import GROUPS

# -- layout of the arrays the kernels share -----------------------------------------------

N_BUCKETS = 256  # buckets of the ranking key used to pick an ad's next band of candidates
# A band of n keys is counting-sorted into about SORT_FACTOR * n buckets (at most
# SORT_BUCKETS), so that most buckets hold one key and the insertion sort after it rarely
# moves anything.
SORT_FACTOR = 4
SORT_BUCKETS = 1024
# An ad sorts BAND_FACTOR * capacity + BAND_EXTRA candidates at a time: on the autumn 2024
# market an ad reaches about 3.4 times its capacity down its list (declines, and candidates
# already hired elsewhere), so most ads never need a second band.
BAND_FACTOR = 4
BAND_EXTRA = 16
PILOT_REPS = 8  # replications whose keys size an ad's first band (see EngineArrays)
LOW32 = 0xFFFFFFFF
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1  # above every packed key (scores are below 2**31 - 1)
MAX_ROUNDS = 8000  # 4 * round + response must fit the int16 offer codes

# Parameter row of a replication: thresholds of the behavioural rules (q16 integers).
PARAM_WAIT, PARAM_LATE, PARAM_WITHDRAW, PARAM_NO_REPLY = 0, 1, 2, 3
"""Columns of a parameter row: wait (at its largest), late marking, withdrawal, then the
no-reply threshold of each offer round (R columns). A row has ``3 + R`` columns."""

# Per-ad scratch rows and per-applicant scratch rows.
AD_BAND_NEXT, AD_BAND_LEFT, AD_REST, AD_FLOOR, AD_HIRED = 0, 1, 2, 3, 4
N_AD_STATE = 5
WHO_HIRED_AD, WHO_HIRED_ROUND, WHO_MARKED, WHO_BEST_APP, WHO_DECISION, WHO_TOUCHED = range(6)
WHO_WITHDRAWN = 6
# The reply-day draws, by position in the round's list of applicants with offers.
WHO_U_NO_REPLY, WHO_U_WAIT, WHO_U_LATE = 7, 8, 9
N_WHO_STATE = 10

# Cascade fields (columns of a replication's cascade); a response counts in 1 + response.
F_OFFERS = CASCADE_FIELDS.index("offers")
F_WAITING = CASCADE_FIELDS.index("applicants_waiting")
F_NO_REPLY = CASCADE_FIELDS.index("applicants_no_reply")
F_WITHDRAWN = CASCADE_FIELDS.index("applicants_withdrawn")
F_OPEN_AFTER = CASCADE_FIELDS.index("open_after")
assert [CASCADE_FIELDS.index(r) for r in behaviour.RESPONSES] == [1, 2, 3, 4]
N_EDUCATION = len(GROUPS)  # education groups: a hire at ad j counts in slot 3 j + group

S_INTERVIEW = int(Stream.INTERVIEW)
S_REPLY_DAY = int(Stream.REPLY_DAY)
S_WITHDRAWAL = int(Stream.WITHDRAWAL)


@dataclass(frozen=True)
class EngineArrays:
    """A market flattened for the kernels (N applicants, J ads, A applications, Q of them
    qualified for a ranked list, S hire-count slots, B applicant breakdowns). All int64.

    Attributes
    ----------
    ad_ptr : (J + 1,): ad j's qualified applications are ``ad_app[ad_ptr[j]:ad_ptr[j + 1]]``.
    ad_app : (Q,): application indices, ascending within each ad (so ascending applicant id).
    ad_app_applicant, ad_app_ad, ad_app_score : (Q,): their applicant, ad and pre-interview
        score, in the same order (contiguous, so that the key loop vectorises, which gathering
        through ``ad_app`` prevents).
    app_applicant, app_ad, app_pref : (A,): each application's applicant, ad and preference
        rank (0 = the applicant's favourite).
    n_applied : (N,): ads each applicant applied to.
    capacity : (J,): hires each ad can make.
    slots : (N, B): hire-count slots of each applicant (see :class:`lis1abm.outcomes.Tally`).
    education : (N,): education group index; a hire at ad j also counts in slot
        ``ad_slot0 + 3 j + education``.
    ad_slot0, n_slots : first ad slot, number of slots.
    n_rounds : offer rounds R.
    bucket_lo, bucket_shift : ranking keys map to buckets ``(key - bucket_lo) >> shift``.
    band_size : (J,): candidates an ad sorts at a time, ``BAND_FACTOR * capacity +
        BAND_EXTRA``.
    band_threshold : (J,): packed key above which an ad's first band lies, so that the first
        band needs no histogram: the median over PILOT_REPS replications of the key of the ad's
        ``band_size``-th best application. Any value gives the same outcome (a short band is
        refilled); this one makes the first band about the right size.
    """

    ad_ptr: np.ndarray
    ad_app: np.ndarray
    ad_app_applicant: np.ndarray
    ad_app_ad: np.ndarray
    ad_app_score: np.ndarray
    app_applicant: np.ndarray
    app_ad: np.ndarray
    app_pref: np.ndarray
    n_applied: np.ndarray
    capacity: np.ndarray
    slots: np.ndarray
    education: np.ndarray
    ad_slot0: int
    n_slots: int
    n_rounds: int
    bucket_lo: int
    bucket_shift: int
    band_size: np.ndarray
    band_threshold: np.ndarray

    @property
    def n_applicants(self) -> int:
        return len(self.n_applied)

    @property
    def n_ads(self) -> int:
        return len(self.capacity)

    @property
    def n_applications(self) -> int:
        return len(self.app_ad)

    @property
    def max_segment(self) -> int:
        """Length of the longest ranked list."""
        return max(int(np.diff(self.ad_ptr).max(initial=0)), 1)

    @property
    def max_offers(self) -> int:
        """Most offers in one round: one per position."""
        return max(int(self.capacity.sum()), 1)

    def scratch_shapes(self) -> tuple[tuple[int, ...], ...]:
        """Shapes of one replication's scratch arrays (int64), in :func:`replicate`'s order:
        keys, segment, work, ad_state, who, offer_app."""
        return (
            (len(self.ad_app),),
            (self.max_segment,),
            (SORT_BUCKETS + self.max_segment + 1,),
            (N_AD_STATE, self.n_ads),
            (N_WHO_STATE, self.n_applicants + 1),  # + a spare place (see replicate)
            (self.max_offers,),
        )

    def kernel_args(self) -> tuple:
        """The arrays and scalars in the order of :func:`replicate`'s ``market`` tuple."""
        return (
            self.ad_ptr,
            self.ad_app,
            self.ad_app_applicant,
            self.ad_app_ad,
            self.ad_app_score,
            self.app_applicant,
            self.app_ad,
            self.app_pref,
            self.n_applied,
            self.capacity,
            self.slots,
            self.education,
            self.ad_slot0,
            self.n_rounds,
            self.bucket_lo,
            self.bucket_shift,
            self.band_size,
            self.band_threshold,
        )


def flatten(market: Market, tally: Tally | None = None) -> EngineArrays:
    """The one place where a market becomes the kernels' arrays.

    ``tally`` gives the hire-count slots (see :class:`lis1abm.outcomes.Tally`). Without one
    (a hand-made market without round data, in tests) every hire counts in one slot, 0, and
    by ad in slots ``1 + 3 j``.
    """
    if tally is not None:
        slots, education, ad_slot0, n_slots = (
            tally.slots,
            tally.education,
            tally.ad_slot0,
            tally.n_slots,
        )
    else:
        slots = np.zeros((market.n_applicants, 1), dtype=np.int64)
        education = np.zeros(market.n_applicants, dtype=np.int64)
        ad_slot0, n_slots = 1, 1 + N_EDUCATION * market.n_ads
    apps = market.applications
    qualified = np.flatnonzero(market.qualified)
    order = np.argsort(apps.ad[qualified], kind="stable")  # by ad, then application index
    ad_app = qualified[order]
    ad_ptr = np.zeros(market.n_ads + 1, dtype=np.int64)
    np.cumsum(np.bincount(apps.ad[ad_app], minlength=market.n_ads), out=ad_ptr[1:])
    base = np.asarray(market.base_score, dtype=np.int64)
    lo = int(base.min()) - NOISE_MAX if base.size else 0
    hi = int(base.max()) + NOISE_MAX if base.size else 0
    if max(abs(lo), abs(hi)) >= 2**31 - 1:
        raise ValueError("ranking scores out of range: keys must fit in 32 bits")
    if len(apps.ad) >= 2**32:
        raise ValueError("too many applications for the engine (at most 2**32)")
    if market.n_rounds > MAX_ROUNDS:
        raise ValueError(f"at most {MAX_ROUNDS} offer rounds (offer codes are int16)")
    shift = 0
    while (hi - lo) >> shift >= N_BUCKETS:
        shift += 1
    band_size = BAND_FACTOR * market.capacity.astype(np.int64) + BAND_EXTRA
    band_threshold = np.full(market.n_ads, INT64_MIN, dtype=np.int64)
    who, ad = market.app_applicant[ad_app], apps.ad[ad_app]
    pilot = [
        base[ad_app] + noise(market.seed, rep, Stream.INTERVIEW, who, ad)
        for rep in range(PILOT_REPS)
    ]
    for j in range(market.n_ads):
        lo_j, hi_j = ad_ptr[j], ad_ptr[j + 1]
        if hi_j - lo_j > band_size[j]:
            kth = [np.sort(keys[lo_j:hi_j])[::-1][band_size[j] - 1] for keys in pilot]
            band_threshold[j] = int(np.median(kth)) * 2**32
    c = np.ascontiguousarray
    return EngineArrays(
        ad_ptr=ad_ptr,
        ad_app=c(ad_app, dtype=np.int64),
        ad_app_applicant=c(market.app_applicant[ad_app], dtype=np.int64),
        ad_app_ad=c(apps.ad[ad_app], dtype=np.int64),
        ad_app_score=c(base[ad_app]),
        app_applicant=c(market.app_applicant, dtype=np.int64),
        app_ad=c(apps.ad, dtype=np.int64),
        app_pref=c(apps.pref, dtype=np.int64),
        n_applied=np.diff(apps.ptr).astype(np.int64),
        capacity=c(market.capacity, dtype=np.int64),
        slots=c(slots, dtype=np.int64),
        education=c(education, dtype=np.int64),
        ad_slot0=int(ad_slot0),
        n_slots=int(n_slots),
        n_rounds=market.n_rounds,
        bucket_lo=lo,
        bucket_shift=shift,
        band_size=band_size,
        band_threshold=band_threshold,
    )


def param_rows(market: Market, n: int = 1) -> np.ndarray:
    """The market's behaviour thresholds as ``n`` identical parameter rows, int64
    (n, 3 + R). Rows may then be varied one by one (a calibration batch, a scenario grid)."""
    row = np.empty(3 + market.n_rounds, dtype=np.int64)
    row[PARAM_WAIT] = market.wait_q16
    row[PARAM_LATE] = market.late_q16
    row[PARAM_WITHDRAW] = market.withdraw_q16
    row[PARAM_NO_REPLY:] = market.no_reply_q16
    return np.tile(row, (n, 1))


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
        who[WHO_WITHDRAWN, i] = behaviour.has_withdrawn(
            u16_jit(k0, k1, rep, S_WITHDRAWAL, i, 0), withdraw_q16
        )
    for i in range(n_people):
        who[WHO_HIRED_AD, i] = -1
        who[WHO_HIRED_ROUND, i] = 0
        who[WHO_MARKED, i] = behaviour.NOT_MARKED
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
            open_positions = behaviour.vacancies(capacity[j], ad_state[AD_HIRED, j])
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
                ok = behaviour.can_receive_offer(who[WHO_MARKED, ii], r)
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
            decision = behaviour.reply(
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
            n_waiting += decision == behaviour.WAIT
            n_no_reply += decision == behaviour.NO_REPLY
            n_withdrawn += decision == behaviour.WITHDRAWN
            accept = decision == behaviour.ACCEPT_BEST
            j = app_ad[ib]
            marked = behaviour.marking_round(r, u_late, late_q16)
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
            response = behaviour.offer_response(who[WHO_DECISION, ii], a == who[WHO_BEST_APP, ii])
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


# -- the CPU driver -----------------------------------------------------------------------


@njit(parallel=True, cache=True)
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
    :meth:`EngineArrays.kernel_args`, ``shapes`` :meth:`EngineArrays.scratch_shapes`; outputs
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


@dataclass
class EngineResult:
    """Outcomes of a batch of replications (B of them).

    Attributes
    ----------
    replications : int64 (B,): replication indices.
    counts : int64 (B, S): hires per slot (:meth:`lis1abm.outcomes.Tally.values_from`).
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
        _run_cpu(
            k0,
            k1,
            reps,
            prows,
            max(1, int(chunk)),
            arrays.kernel_args(),
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
