"""The kernels' typed arguments: the market as :class:`EngineArrays`, built once by
:func:`flatten`; the behavioural thresholds (:class:`Behaviour`, from the per-replication
parameter rows of :func:`param_rows`); the scratch memory (:class:`ScratchBlocks`, its state
rows named by :class:`AdState` and :class:`Who`); the outputs (:class:`Outputs`) and a
summary counted in the kernel (:class:`SummaryArgs`).

Every kernel (:mod:`lis1abm.engine.kernel` on the CPU, :mod:`lis1abm.engine.cuda` and
:mod:`lis1abm.engine.cuda_block` on a GPU) takes these NamedTuples and reads their fields by
name; this module is the one place where a :class:`~lis1abm.market.ranking.Market` becomes
them, and the builders here are what the drivers and the GPU resource report
(:mod:`lis1abm.engine.cuda_resources`) both call.
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

# Parameter row of a replication (the public format of :func:`param_rows`): thresholds of
# the behavioural rules (q16 integers). The kernels read them by name (:class:`Behaviour`).
PARAM_WAIT, PARAM_LATE, PARAM_WITHDRAW, PARAM_NO_REPLY = 0, 1, 2, 3
"""Columns of a parameter row: wait (at its largest), late marking, withdrawal, then the
no-reply threshold of each offer round (R columns). A row has ``3 + R`` columns."""

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

    def scratch_shapes(self) -> ScratchBlocks:
        """Shapes of one replication's scratch blocks (int64), by field of
        :class:`ScratchBlocks`."""
        return ScratchBlocks(
            keys=(len(self.ad_app),),
            segment=(self.max_segment,),
            work=(SORT_BUCKETS + self.max_segment + 1,),
            ads=(N_AD_STATE, self.n_ads),
            who=(N_WHO_STATE, self.n_applicants + 1),  # + a spare place (see _make_offers)
            offer_app=(self.max_offers,),
        )


# -- the kernels' other arguments: behaviour, scratch, outputs, summary -------------------
#
# Each is a NamedTuple, so that a kernel takes a handful of typed arguments and reads their
# fields by name. Where several fields share one shape they are the rows of one 2-D block
# (allocated as before, so memory layout and speed are unchanged), wrapped into 1-D views.


class Behaviour(NamedTuple):
    """The behavioural rules' thresholds (q16 integers) of a batch of B replications: the
    rows of one int64 (3 + R, B) block (:func:`behaviour`), so that neighbouring replications'
    thresholds are neighbours (coalesced on a GPU). Inside a kernel, one replication's
    (:func:`lis1abm.engine.kernel.behaviour_of`) has the scalars and a no-reply column.

    Attributes
    ----------
    wait : (B,): waiting threshold at its largest (:func:`lis1abm.rules.wants_to_wait`).
    late : (B,): late marking (:func:`lis1abm.rules.marking_round`).
    withdraw : (B,): withdrawal (:func:`lis1abm.rules.has_withdrawn`).
    no_reply : (R, B): missing the deadline, per offer round
        (:func:`lis1abm.rules.misses_deadline`).
    """

    wait: np.ndarray
    late: np.ndarray
    withdraw: np.ndarray
    no_reply: np.ndarray


def behaviour_rows(block) -> Behaviour:
    """The :class:`Behaviour` whose fields are the rows of ``block``, (3 + R, B): a NumPy
    or a device array (the views stay on its device)."""
    return Behaviour(
        wait=block[PARAM_WAIT],
        late=block[PARAM_LATE],
        withdraw=block[PARAM_WITHDRAW],
        no_reply=block[PARAM_NO_REPLY:],
    )


def behaviour(prows: np.ndarray, put=np.ascontiguousarray) -> Behaviour:
    """A batch's :class:`Behaviour` from its parameter rows, int64 (B, 3 + R)
    (:func:`param_rows`); ``put`` places the (3 + R, B) block on a device (default: host)."""
    return behaviour_rows(put(np.ascontiguousarray(prows.T)))


class AdState(NamedTuple):
    """Each ad's place down its ranked list in one replication: the rows of an int64
    (N_AD_STATE, J) block, each (J,).

    Attributes
    ----------
    band_next : place in ``keys`` of the ad's next candidate.
    band_left : candidates left in its current band.
    rest : place in ``keys`` where its next band goes.
    floor : key below which its next band lies (the last band's threshold).
    hired : hires made.
    """

    band_next: np.ndarray
    band_left: np.ndarray
    rest: np.ndarray
    floor: np.ndarray
    hired: np.ndarray


class Who(NamedTuple):
    """The applicants' state in one replication: the rows of an int64 (N_WHO_STATE, N + 1)
    block, each (N + 1,) (a spare last place: see :func:`lis1abm.engine.kernel._make_offers`).

    Attributes
    ----------
    hired_ad : the ad whose offer the applicant accepted, -1 if none.
    hired_round : the round of acceptance, 0 if none.
    marked : first round in which the applicant counts as marked (rules.NOT_MARKED).
    best_app : the best offer of the day (an application), -1 if none.
    decision : the day's decision (:func:`lis1abm.rules.reply`).
    touched : by position, the applicants with offers this round.
    withdrawn : has withdrawn before the first round (0 or 1).
    u_no_reply, u_wait, u_late : by position in ``touched``, the reply day's draws
        (:func:`lis1abm.rng.reply_day_u16`).
    """

    hired_ad: np.ndarray
    hired_round: np.ndarray
    marked: np.ndarray
    best_app: np.ndarray
    decision: np.ndarray
    touched: np.ndarray
    withdrawn: np.ndarray
    u_no_reply: np.ndarray
    u_wait: np.ndarray
    u_late: np.ndarray


N_AD_STATE = len(AdState._fields)  # rows of the ads' state block
N_WHO_STATE = len(Who._fields)  # rows of the applicants' state block


class ScratchBlocks(NamedTuple):
    """The scratch memory of :func:`lis1abm.engine.kernel.replicate` as allocated: int64
    blocks shaped as :meth:`EngineArrays.scratch_shapes` says (on a GPU with a last axis of
    one column per replication). :func:`lis1abm.engine.kernel.scratch` names their rows.

    Attributes
    ----------
    keys : (Q,): ranking keys, each ad's bands sorted at the front of its segment.
    segment : (longest list,): one ad's keys, computed again for its next band.
    work : (SORT_BUCKETS + longest list + 1,): histograms and an unsorted band.
    ads : (N_AD_STATE, J): :class:`AdState`'s rows.
    who : (N_WHO_STATE, N + 1): :class:`Who`'s rows.
    offer_app : (sum of capacities,): the round's offers, by application.
    """

    keys: np.ndarray
    segment: np.ndarray
    work: np.ndarray
    ads: np.ndarray
    who: np.ndarray
    offer_app: np.ndarray


class Scratch(NamedTuple):
    """:class:`ScratchBlocks` with the state blocks' rows named (what
    :func:`lis1abm.engine.kernel.replicate` takes); fields as there."""

    keys: np.ndarray
    segment: np.ndarray
    work: np.ndarray
    ads: AdState
    who: Who
    offer_app: np.ndarray


def scratch_blocks(arrays: EngineArrays, empty=np.empty, columns: int | None = None):
    """One replication's :class:`ScratchBlocks`, allocated by ``empty(shape, dtype)``, or,
    with ``columns``, one column per replication on a last axis (a GPU's thread kernel)."""
    extra = () if columns is None else (columns,)
    return ScratchBlocks(*(empty((*s, *extra), np.int64) for s in arrays.scratch_shapes()))


class Outputs(NamedTuple):
    """What the kernels write: a batch's rows, or (inside a kernel, see
    :func:`lis1abm.engine.kernel.outputs_of`) one replication's row of each.

    Attributes
    ----------
    counts : int64 (rows, S): hires per slot.
    cascade : int64 (rows, R, len(CASCADE_FIELDS)): the cascade per round (the calendar's
        rounds, then those after it; rounds not played are zero but for the open positions).
    hired_ad, hired_round : int64 (B, N), or (1, N) unused unless ``keep_applicants``: each
        applicant's ad (-1 if not hired) and round of acceptance (0 if not hired).
    offers : int16 (B, A), or (1, 1) unused unless ``keep_offers``: per application, the
        code of the offer it got (:func:`lis1abm.rules.offer_code`), or 0 if none (an ad
        never offers twice to one applicant).
    keep_applicants, keep_offers : bool: whether those are written.
    """

    counts: np.ndarray
    cascade: np.ndarray
    hired_ad: np.ndarray
    hired_round: np.ndarray
    offers: np.ndarray
    keep_applicants: bool
    keep_offers: bool


def outputs(arrays: EngineArrays, rows: int, counted: int, keep: tuple[bool, bool], zeros=np.zeros):
    """:class:`Outputs` for ``rows`` replications, zeroed by ``zeros(shape, dtype)`` (host
    or device); ``counted``: rows of counts and cascade (fewer for a driver that summarises
    them itself); ``keep``: (keep_applicants, keep_offers)."""
    keep_applicants, keep_offers = keep
    n, a = arrays.n_applicants, arrays.n_applications
    applicants = rows if keep_applicants else 1
    return Outputs(
        counts=zeros((counted, arrays.n_slots), np.int64),
        cascade=zeros((counted, arrays.n_rounds, len(CASCADE_FIELDS)), np.int64),
        hired_ad=zeros((applicants, n), np.int64),
        hired_round=zeros((applicants, n), np.int64),
        offers=zeros((rows if keep_offers else 1, a if keep_offers else 1), np.int16),
        keep_applicants=bool(keep_applicants),
        keep_offers=bool(keep_offers),
    )


class SummaryArgs(NamedTuple):
    """A summary counted inside a kernel (:meth:`lis1abm.outcomes.aggregate.Summary.
    kernel_args`): dummies of one element when ``on`` is False, so that a kernel has one
    compiled version either way.

    Attributes
    ----------
    on : bool: count each replication into ``hist``.
    recipe : six int64 arrays (const, ptr, src, lo, width, offset): each value's bins.
    hist : int64 (H,), or (tasks, H) on the CPU (a partial histogram per task).
    outside : int64 (1,), or (tasks,) on the CPU: values outside their bins.
    """

    on: bool
    recipe: tuple
    hist: np.ndarray
    outside: np.ndarray


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
