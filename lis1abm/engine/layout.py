"""The market as the kernels' arrays: :class:`EngineArrays`, built once by :func:`flatten`,
and the per-replication parameter rows (:func:`param_rows`).

The kernels (:mod:`lis1abm.engine.kernel`) take plain arrays and scalars only; this module is
the one place where a :class:`~lis1abm.market.ranking.Market` becomes them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lis1abm import rules
from lis1abm.data.round import GROUPS
from lis1abm.market.ranking import Market
from lis1abm.outcomes.tally import Tally
from lis1abm.rng import NOISE_MAX, Stream, noise
from lis1abm.rules import CASCADE_FIELDS, RESPONSES

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
F_SKIPPED_WITHDRAWN = CASCADE_FIELDS.index("skipped_withdrawn")
F_OPEN_AFTER = CASCADE_FIELDS.index("open_after")
assert [CASCADE_FIELDS.index(r) for r in RESPONSES] == [1, 2, 3, 4]
N_EDUCATION = len(GROUPS)  # education groups: a hire at ad j counts in slot 3 j + group

S_INTERVIEW = int(Stream.INTERVIEW)
S_REPLY_DAY = int(Stream.REPLY_DAY)
S_WITHDRAWAL = int(Stream.WITHDRAWAL)


class EngineArrays(NamedTuple):
    """A market flattened for the kernels (N applicants, J ads, A applications, Q of them
    qualified for a ranked list, S hire-count slots, B applicant breakdowns). All int64.

    A NamedTuple, so that every kernel (numba CPU and CUDA) takes the whole market as one
    typed argument and reads its fields by name: no argument list to keep in order. Built
    only by :func:`flatten`; on a GPU the same tuple holds device arrays (``_replace``).

    Attributes
    ----------
    ad_ptr : (J + 1,): ad j's qualified applications are ``ad_app[ad_ptr[j]:ad_ptr[j + 1]]``.
    ad_app : (Q,): application indices, ascending within each ad (so ascending applicant id).
    ad_app_applicant, ad_app_ad, ad_app_score : (Q,): their applicant, ad and pre-interview
        score, in the same order (contiguous, so that the key loop vectorises, which gathering
        through ``ad_app`` prevents).
    ad_app_trust : (Q,): the trust of each ranked-list entry's ad, contiguous like
        ``ad_app_score`` (a gather ``ad_trust[ad_app_ad]`` would stop the key loop vectorising).
    ad_trust : (J,): each ad's trust: interview noise is keyed by (applicant, trust), since a
        trust interviews an applicant once for all its ads (see
        :func:`lis1abm.market.ranking.ranked_lists`).
    app_applicant, app_ad, app_pref : (A,): each application's applicant, ad and preference
        rank (0 = the applicant's favourite).
    n_applied : (N,): ads each applicant applied to.
    capacity : (J,): hires each ad can make.
    slots : (N, B): hire-count slots of each applicant (see :class:`lis1abm.outcomes.tally.Tally`).
    education : (N,): education group index; a hire at ad j also counts in slot
        ``ad_slot0 + 3 j + education``.
    ad_slot0, n_slots : first ad slot, number of slots.
    n_rounds : offer rounds R at most: the calendar's, then those after it.
    n_calendar : the calendar's offer rounds (applicants wait only for these).
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
    ad_app_trust: np.ndarray
    ad_trust: np.ndarray
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
    n_calendar: int
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


def flatten(market: Market, tally: Tally | None = None) -> EngineArrays:
    """The one place where a market becomes the kernels' arrays.

    ``tally`` gives the hire-count slots (see :class:`lis1abm.outcomes.tally.Tally`). Without one
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
    ad_trust = np.asarray(market.ad_trust, dtype=np.int64)
    band_threshold = band_thresholds(
        ad_ptr,
        base[ad_app],
        market.app_applicant[ad_app],
        ad_trust[apps.ad[ad_app]],
        market.seed,
        band_size,
    )
    c = np.ascontiguousarray
    return EngineArrays(
        ad_ptr=ad_ptr,
        ad_app=c(ad_app, dtype=np.int64),
        ad_app_applicant=c(market.app_applicant[ad_app], dtype=np.int64),
        ad_app_ad=c(apps.ad[ad_app], dtype=np.int64),
        ad_app_score=c(base[ad_app]),
        ad_app_trust=c(ad_trust[apps.ad[ad_app]]),
        ad_trust=c(ad_trust),
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
        n_calendar=int(market.n_calendar),
        bucket_lo=lo,
        bucket_shift=shift,
        band_size=band_size,
        band_threshold=band_threshold,
    )


def band_thresholds(ad_ptr, score, applicant, trust, seed: int, band_size) -> np.ndarray:
    """Packed key above which each ad's first band lies (int64 (J,)): the median over
    PILOT_REPS replications of the key of the ad's ``band_size[j]``-th best application
    (INT64_MIN where the list is no longer than the band). ``score``, ``applicant``, ``trust``
    (Q,): the qualified applications in ranked-list order (by ad), and the trust of their ad
    (the interview noise's coordinate). Any threshold gives the same outcome (a short band is
    refilled); this one makes the first band about the right size, so that few ads need a
    second."""
    thresholds = np.full(len(ad_ptr) - 1, INT64_MIN, dtype=np.int64)
    pilot = [
        score + noise(seed, rep, Stream.INTERVIEW, applicant, trust) for rep in range(PILOT_REPS)
    ]
    for j in range(len(thresholds)):
        lo, hi = ad_ptr[j], ad_ptr[j + 1]
        if hi - lo > band_size[j]:
            kth = [np.sort(keys[lo:hi])[::-1][band_size[j] - 1] for keys in pilot]
            thresholds[j] = int(np.median(kth)) * rules.KEY_SHIFT
    return thresholds


def with_bands(arrays: EngineArrays, seed: int, factor: int, extra: int) -> EngineArrays:
    """The same market with first bands of ``factor * capacity + extra`` candidates (an
    engine that pays more for a refill than for a longer band takes longer ones)."""
    band_size = factor * arrays.capacity + extra
    return arrays._replace(
        band_size=band_size,
        band_threshold=band_thresholds(
            arrays.ad_ptr,
            arrays.ad_app_score,
            arrays.ad_app_applicant,
            arrays.ad_app_trust,
            seed,
            band_size,
        ),
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
