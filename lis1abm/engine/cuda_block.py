"""The offer cascade designed for the GPU: one thread block per replication.

Its job, which the thread kernel (:mod:`lis1abm.engine.cuda`) cannot do: **speed**. On an
H200 it played the summarised autumn 2024 market about 2.7 times as fast as the thread
kernel, which runs the CPU's :func:`~lis1abm.engine.kernel.replicate` in one thread per
replication: a replication's branchy, serial walk down the lists does not suit a GPU thread,
and its state is larger than a thread's share of the fast memory. Here the threads of a block
share one replication, its state in the block's shared memory (so only markets whose state
fits, :func:`fits`).

How the threads share a replication:

* **ranking keys**: the threads split the applications (neighbouring threads, neighbouring
  keys: coalesced); each ad's first band (the keys above a threshold set from pilot
  replications) is appended by atomics and sorted by the threads together;
* **offers**: one thread per ad goes down its band; an ad whose band runs out pauses, and
  the threads together take its next band (the ad's keys again, a shared-memory histogram
  for the threshold as on the CPU, :func:`~lis1abm.engine.kernel._threshold_of_histogram`,
  and the same parallel sort), so that no thread computes a whole list alone; an
  applicant's best offer of the day is an atomic minimum of ``preference * 2**32 +
  application`` in shared memory;
* **replies, responses, hire counts**: the threads split the applicants with offers, the
  offers and the applicants; counters are shared-memory atomic additions;
* the applicants' state (hired where and when, marked from, decision, withdrawn, best offer)
  lives in shared memory; the keys and the ads' scratch live in global memory per *resident
  block* (a grid-stride loop over replications), not per replication, so one launch holds any
  number of replications.

The same rules (:mod:`lis1abm.rules`), the same random numbers (:mod:`lis1abm.rng`) and the
same outcome as the CPU engine and the Mesa model, bit for bit.

**Why the outcome cannot depend on the threads' timing.** Three rules, each checked below
array by array:

1. *Every word a replication reads, it has written.* The start of each replication sets every
   per-replication array (or the phase that reads it writes it first). Shared memory is not
   cleared between blocks, so a word read before it is written would hold what an earlier
   block left there.
2. *A write and a read of the same word by different threads are in different phases*, with
   a barrier (``cuda.syncthreads()``) between them; within a phase, a thread reads only the
   words it writes itself, or words no thread writes in that phase.
3. *No result depends on the order of atomics.* Atomic additions and minima are order-free.
   An atomic that hands out places (``band_count``, ``MISC_TOUCHED``) fills them in arrival
   order; a band is then sorted by its keys (which never tie,
   :func:`lis1abm.rules.ranking_key`), and the list of applicants with offers is used as a
   set (each applicant's reply depends only on their own state and draws; the rest are sums).

Phases, in order, each ending at a barrier: *start* (state reset), *keys*, *first bands*,
then per round *offers* and *refills* (repeated while an ad waits for a band; a refill has
four barriers of its own), *replies*, *responses*, *round end* (two barriers), then *tally*.
"Thread of j" is the thread taking ad j's share (j, j + T, ...; T threads); "thread of i"
likewise for applicant i, "thread of t" for place t of the list of applicants with offers.

Shared memory, per replication:

========================= ============================================== ==================
array                     written (phase: by whom)                       read
========================= ============================================== ==================
``best`` (N)              start: thread of i; offers: atomic minimum;    replies, responses
                          round end: thread of t (reset for the next)
``withdrawn`` (N)         start: thread of i                             offers
``who_ad``, ``who_round`` start: thread of i; replies: thread of t        replies (own entry),
                          (an applicant has one place t)                 tally
``marked`` (N)            start: thread of i; replies: thread of t        offers
``decision`` (N)          replies: thread of t                           responses (only
                                                                         applicants with
                                                                         offers: written
                                                                         that round)
``touched`` (N)           offers: at a place handed out by an atomic      replies, round end
                          (``MISC_TOUCHED``); used as a set
``ad`` next, left, rest,  first bands: thread of j; offers: thread of j   offers (thread of
floor (J each)            (its own ad); refills: thread 0, after the      j), refills
                          band is sorted
``ad`` hired (J)          first bands: thread of j; replies: atomic add   round start
                                                                         (thread of j)
``n_offered``,            round start and offers: thread of j             offers, responses
``ad_open`` (J)                                                          (thread of j)
``needs_band`` (J)        start: thread of j (zero); offers: thread of j; refills (every
                          refills: thread 0, before the refill's last     thread, after the
                          barrier                                        offers' barrier)
``band_count`` (J)        start: thread of j (zero); keys: atomic add;   first bands; the
                          refills: thread 0 (zero), then atomic adds     refill's sort
``band_hist`` (buckets)   refills: every thread (zero), then atomic adds the threshold
                                                                         (thread 0)
cascade (R F)             start: thread of each word (zero); offers,      tally
                          replies, responses: atomic adds; round end:
                          thread 0 (open positions), thread of each
                          later round when a round made no offers
hire counts (S)           tally: thread of each slot (zero), then         tally (after a
                          atomic adds                                    barrier)
misc counters             start: thread 0; offers, replies: atomic adds; every thread, after
                          refills, round end: thread 0 between barriers  the barrier
========================= ============================================== ==================

The global scratch (a row per resident block) follows the same rules: ``band`` is filled
at places handed out by ``band_count`` and read, after a barrier, only to be sorted into
``keys``; ``keys`` is written by the sort and read in the offers after a barrier;
``segment`` is written and read by the same thread within a refill; ``offer_app`` is written
by the thread of j at its ad's places and read by that thread in the responses.

The checks (``tests/cuda_sim_check.py`` under the CUDA simulator, ``tests/test_cuda_block.py``
on a GPU) play launches in which this must not matter: blocks of 32, 64 and 128 threads,
shared memory filled with a nonzero pattern before the first replication
(:class:`Launch` ``poison``), and every share of the work dealt to another thread
(``lanes``). The first rule was once broken (``needs_band`` was not cleared at the start):
on an H200, a paused ad's refill then also took the band of an ad whose flag held an old
value, and a full-market test differed from the CPU engine; the simulator, whose shared
memory starts zeroed, showed it only once the memory was poisoned.
"""

from __future__ import annotations

import math
from functools import cache, partial
from types import FunctionType
from typing import NamedTuple

import numpy as np
from numba import cuda, int32, int64

from lis1abm import rules
from lis1abm.compiled import cached
from lis1abm.engine import cuda_profile as P
from lis1abm.engine import kernel as k
from lis1abm.engine.cpu import Batch, EngineResult, check_batch, check_summary
from lis1abm.engine.cuda import (
    RunOutputs,
    _Device,
    device_market,
    gpu_status,
    output_bytes,
    quiet_small_grids,
    simulator,
)
from lis1abm.engine.cuda_profile import Profile, clock64
from lis1abm.engine.cuda_summary import count_values
from lis1abm.engine.layout import (
    F_NO_REPLY,
    F_OFFERS,
    F_OPEN_AFTER,
    F_SKIPPED_WITHDRAWN,
    F_WAITING,
    INT64_MAX,
    N_AD_STATE,
    N_BUCKETS,
    N_EDUCATION,
    S_INTERVIEW,
    AdState,
    EngineArrays,
    behaviour,
    with_bands,
)
from lis1abm.outcomes.aggregate import Summary
from lis1abm.rng import noise_jit, reply_day_u16_jit, withdrawal_u16_jit
from lis1abm.rules import CASCADE_FIELDS

THREADS = 128  # threads per block (one replication)
# Registers per thread, at most, and the first bands: the fastest launch settings that
# scripts/gpu_compare.py --tune measured on an H200 (docs/performance.md). With nvJitLink
# 13.5's ptxas (scripts/kernel_resources.py) the kernel takes 164 registers on its own: 3
# blocks of 128 threads per multiprocessor. At 80 it spills about 300 bytes a thread, but 6
# blocks fit, as many as the shared memory allows; the spills stay in the L1 cache.
MAX_REGISTERS = 80
BLOCKS_PER_SM = 8  # an upper bound of resident blocks per SM: scratch is allocated for this many
SHARED_LIMIT = 48 * 1024  # bytes of dynamic shared memory a block may use without opting in
BAND_FACTOR, BAND_EXTRA = 2, 16  # first band: BAND_FACTOR * capacity + BAND_EXTRA keys
POISON = -1515870811  # 0xA5A5A5A5: a shared-memory word never written, under Launch.poison
# Compiled into the kernel as constants: the default kernel deals no work to other threads
# and poisons nothing; a check's launch compiles a variant with others (_kernel).
LANE_STRIDE, LANE_OFFSET, POISON_FIRST = 1, 0, False
MEMORY_SHARE = 0.5  # of the free device memory, for one launch's outputs
N_FIELDS = len(CASCADE_FIELDS)

# Shared memory, int64 part (offsets in int64 words; sizes in shared_layout()). The ads'
# state is one flat array, a row of J per field of AdState at these offsets (times J), not a
# tuple of row views: with the rows' five pointers live across the replication, ptxas spilled
# 144 bytes at MAX_REGISTERS (28 with the flat array; nvJitLink 13.5).
AD_NEXT, AD_LEFT, AD_REST, AD_FLOOR, AD_HIRED = range(len(AdState._fields))
# The misc counters: applicants with offers this round; hires made; positions of the market;
# ads waiting for a new band; the threshold of the band being taken.
MISC_TOUCHED, MISC_HIRED, MISC_POSITIONS, MISC_REFILLS, MISC_THRESHOLD = range(5)
N_MISC = 5


class Launch(NamedTuple):
    """How :func:`run_cuda_block` launches the kernel, and what it measures; no outcome
    depends on any of it.

    Attributes
    ----------
    batch : replications per launch (None: as many as MEMORY_SHARE of the free memory holds).
    threads : threads per block (one replication), a multiple of 32.
    bands : (factor, extra): first bands of ``factor * capacity + extra`` keys (small ones make
        every ad refill, for tests).
    max_registers : registers per thread (for tuning: scripts/gpu_compare.py --tune).
    phase_cycles : int64 (N_PHASES,), to which the blocks' cycles in each phase are added
        (:mod:`lis1abm.engine.cuda_profile`), or None: no profiling.
    poison : a check: fill each block's shared memory with a nonzero pattern before its first
        replication, so that a word read before it is written shows (the CUDA simulator's
        shared memory starts zeroed; a GPU's holds what the last block there left).
    lanes : (stride, offset), a check: thread t does the work of thread ``(t * stride +
        offset) % threads`` (``stride`` coprime with ``threads``, so each share is taken
        once). A check's kernel is compiled anew in each process.
    """

    batch: int | None = None
    threads: int = THREADS
    bands: tuple[int, int] = (BAND_FACTOR, BAND_EXTRA)
    max_registers: int = MAX_REGISTERS
    phase_cycles: np.ndarray | None = None
    poison: bool = False
    lanes: tuple[int, int] = (1, 0)


class BlockScratch(NamedTuple):
    """The block kernel's global scratch: a row per resident block (G of them), or, inside
    the kernel, one block's row (:func:`_row`); built by :func:`block_scratch`.

    Attributes
    ----------
    offer0 : int64 (J,): first place of ad j's offers in an ``offer_app`` row (shared).
    keys : int64 (G, Q): each ad's bands, sorted, in its segment.
    band : int64 (G, Q): a band's keys before they are sorted.
    segment : int64 (G, longest list): one ad's keys, for its next band.
    offer_app : int64 (G, sum of capacities): the round's offers, by application.
    """

    offer0: np.ndarray
    keys: np.ndarray
    band: np.ndarray
    segment: np.ndarray
    offer_app: np.ndarray


def block_scratch(arrays: EngineArrays, blocks: int, dev) -> BlockScratch:
    """The :class:`BlockScratch` of a launch on ``blocks`` blocks, on ``dev``'s memory
    (:class:`~lis1abm.engine.cuda._Device`, or host memory for
    :mod:`lis1abm.engine.cuda_resources`)."""
    offer0 = np.zeros(arrays.n_ads, np.int64)
    np.cumsum(arrays.capacity[:-1], out=offer0[1:])
    q = max(len(arrays.ad_app), 1)
    return BlockScratch(
        offer0=dev.put(offer0),
        keys=dev.empty((blocks, q), np.int64),
        band=dev.empty((blocks, q), np.int64),
        segment=dev.empty((blocks, arrays.max_segment), np.int64),
        offer_app=dev.empty((blocks, arrays.max_offers), np.int64),
    )


class Shared(NamedTuple):
    """One replication's state in the block's shared memory (carved in :func:`block_kernel`,
    sizes in :func:`shared_layout`).

    Attributes
    ----------
    best : int64 (N,): each applicant's best offer of the day, ``preference * 2**32 +
        application`` (INT64_MAX: none).
    ad : int64 (N_AD_STATE J,): the ads' state, :class:`~lis1abm.engine.layout.AdState`'s
        fields one after the other (offsets AD_NEXT, ... times J).
    misc : int64 (N_MISC,): the MISC_* counters.
    who_ad, who_round, marked, decision, withdrawn : int32 (N,): each applicant's hired ad
        (-1 if none), round of acceptance, first marked round, the day's decision, withdrawn.
    touched : int32 (N,): the applicants with offers this round.
    n_offered, ad_open, band_count, needs_band : int32 (J,): each ad's offers this round,
        positions still to offer, keys in the band being taken, whether it waits for a band.
    band_hist : int32 (N_BUCKETS,): a band's key histogram.
    """

    best: np.ndarray
    ad: np.ndarray
    misc: np.ndarray
    who_ad: np.ndarray
    who_round: np.ndarray
    marked: np.ndarray
    decision: np.ndarray
    withdrawn: np.ndarray
    touched: np.ndarray
    n_offered: np.ndarray
    ad_open: np.ndarray
    band_count: np.ndarray
    needs_band: np.ndarray
    band_hist: np.ndarray


def shared_layout(arrays: EngineArrays) -> tuple[int, int]:
    """Words of the block's dynamic shared memory: (int64 words, int32 words).

    int64: best offer (N), ads' state (N_AD_STATE J), the cascade (R F), hire counts (S),
    misc.
    int32: hired ad, hired round, marked from, decision, withdrawn, applicants with offers
    (N each); offers made this round, positions still to offer this round, keys in the band
    being taken, whether waiting for a new band (J each); a band's key histogram
    (N_BUCKETS).
    """
    n, j = arrays.n_applicants, arrays.n_ads
    cascade = arrays.n_rounds * N_FIELDS
    return n + N_AD_STATE * j + cascade + arrays.n_slots + N_MISC, 6 * n + 4 * j + N_BUCKETS


def shared_bytes(arrays: EngineArrays) -> int:
    """Bytes of dynamic shared memory a block needs."""
    words64, words32 = shared_layout(arrays)
    return 8 * words64 + 4 * words32


def fits(arrays: EngineArrays) -> bool:
    """Whether a replication's shared state fits a block (35,600 bytes for autumn 2024)."""
    return shared_bytes(arrays) <= SHARED_LIMIT


def block_kernel(key, reps, m, behaviour, scratch, out, summary, profile):
    """Replications ``reps`` (B,), block by block: block g plays replications g, g + G, ...
    (G blocks), in its own row g of the global ``scratch`` (:class:`BlockScratch`).

    Parameters
    ----------
    key : the seed's Philox key (k0, k1). m : the market
        (:class:`~lis1abm.engine.layout.EngineArrays`, device arrays).
    behaviour : :class:`~lis1abm.engine.layout.Behaviour` of the B replications.
    out : :class:`~lis1abm.engine.layout.Outputs`, as
        :func:`lis1abm.engine.kernel.replicate`'s, one row per replication; with
        ``summary.on`` the hire counts and cascade are counted into ``summary.hist`` (H,) and
        ``summary.outside`` (1,) instead (:class:`~lis1abm.engine.layout.SummaryArgs`, see
        :class:`~lis1abm.engine.cuda_summary.DeviceSummary`), and not written.
    profile : :class:`~lis1abm.engine.cuda_profile.Profile`: with ``profile.on``, block g adds
        the cycles of each phase to ``profile.cycles`` (G, N_PHASES).

    The module's constants LANE_STRIDE, LANE_OFFSET and POISON_FIRST are compiled in: a
    launch that perturbs what must not matter compiles a variant (:func:`_kernel`).

    Arguments as :func:`launch_args` builds them."""
    n_people = m.n_applied.shape[0]
    n_ads = m.capacity.shape[0]
    n_slots = out.counts.shape[1]
    step = cuda.blockDim.x
    # The share of the work this thread takes: its own, unless a check deals the shares to
    # other threads. The default kernel computes nothing here (constants), so ``tid`` stays
    # the special register, read again where needed rather than held in one of the few.
    tid = cuda.threadIdx.x
    if LANE_STRIDE != 1 or LANE_OFFSET != 0:
        tid = (tid * LANE_STRIDE + LANE_OFFSET) % step
    g = cuda.blockIdx.x
    # Dynamic shared memory, carved by hand: both arrays start at the same address, so the
    # int32 fields begin after the int64 ones (at twice their word count).
    s64 = cuda.shared.array(0, dtype=int64)
    s32 = cuda.shared.array(0, dtype=int32)
    o = 0
    best = s64[o : o + n_people]
    o += n_people
    ad = s64[o : o + N_AD_STATE * n_ads]
    o += N_AD_STATE * n_ads
    n_cascade = m.n_rounds * N_FIELDS
    casc_all = s64[o : o + n_cascade]  # the replication's cascade (R, F), round by round
    o += n_cascade
    slot_counts = s64[o : o + n_slots]
    o += n_slots
    misc = s64[o : o + N_MISC]
    o += N_MISC
    o *= 2
    st = Shared(
        best,
        ad,
        misc,
        s32[o : o + n_people],
        s32[o + n_people : o + 2 * n_people],
        s32[o + 2 * n_people : o + 3 * n_people],
        s32[o + 3 * n_people : o + 4 * n_people],
        s32[o + 4 * n_people : o + 5 * n_people],
        s32[o + 5 * n_people : o + 6 * n_people],
        s32[o + 6 * n_people : o + 6 * n_people + n_ads],
        s32[o + 6 * n_people + n_ads : o + 6 * n_people + 2 * n_ads],
        s32[o + 6 * n_people + 2 * n_ads : o + 6 * n_people + 3 * n_ads],
        s32[o + 6 * n_people + 3 * n_ads : o + 6 * n_people + 4 * n_ads],
        s32[o + 6 * n_people + 4 * n_ads : o + 6 * n_people + 4 * n_ads + N_BUCKETS],
    )
    who_ad, who_round, touched = st.who_ad, st.who_round, st.touched
    n_offered, ad_open, band_count = st.n_offered, st.ad_open, st.band_count
    mine = _row(scratch, g)
    n_keys = m.ad_app.shape[0]
    k0, k1 = key

    if POISON_FIRST:
        _poison(s32, o + 6 * n_people + 4 * n_ads + N_BUCKETS, tid, step)
    clock = clock64() if profile.on else 0  # thread 0's last cycle reading (profiling)
    for b in range(g, reps.shape[0], cuda.gridDim.x):
        rep = reps[b]
        # The applicants' state; counters.
        for i in range(tid, n_people, step):
            st.withdrawn[i] = rules.has_withdrawn(
                withdrawal_u16_jit(k0, k1, rep, i), behaviour.withdraw[b]
            )
            who_ad[i] = -1
            who_round[i] = 0
            st.marked[i] = rules.NOT_MARKED
            best[i] = INT64_MAX
        for f in range(tid, n_cascade, step):
            casc_all[f] = 0
        for j in range(tid, n_ads, step):
            band_count[j] = 0
            st.needs_band[j] = 0  # rule 1 of the module docstring
        if tid == 0:
            misc[MISC_TOUCHED] = 0
            misc[MISC_REFILLS] = 0
            misc[MISC_HIRED] = 0
            misc[MISC_POSITIONS] = rules.positions(m.capacity)
        cuda.syncthreads()
        clock = _tick(profile, tid, g, P.START, clock)
        # 1. Ranking keys, the threads splitting the applications; only the keys of each
        # ad's first band are kept, appended to the ad's part of ``band`` in whatever order
        # the threads get there (the sort below makes the order unique).
        for q in range(tid, n_keys, step):
            j = m.ad_app_ad[q]
            ranking_key = _ranking_key(key, rep, m, q)
            if ranking_key >= m.band_threshold[j]:
                mine.band[m.ad_ptr[j] + cuda.atomic.add(band_count, j, 1)] = ranking_key
        cuda.syncthreads()
        clock = _tick(profile, tid, g, P.KEYS, clock)
        # 2. Each band sorted (descending) to the front of its ad's segment of ``keys``.
        for q in range(tid, n_keys, step):
            j = m.ad_app_ad[q]
            start = m.ad_ptr[j]
            if q - start < band_count[j]:
                _place(mine.band, mine.keys, start, band_count[j], q)
        for j in range(tid, n_ads, step):
            start = m.ad_ptr[j]
            ad[AD_NEXT * n_ads + j] = start
            ad[AD_LEFT * n_ads + j] = band_count[j]
            ad[AD_REST * n_ads + j] = start + band_count[j]
            ad[AD_FLOOR * n_ads + j] = m.band_threshold[j]
            ad[AD_HIRED * n_ads + j] = 0
        cuda.syncthreads()
        clock = _tick(profile, tid, g, P.FIRST_BANDS, clock)
        for r in range(1, m.n_rounds + 1):
            casc = casc_all[(r - 1) * N_FIELDS : r * N_FIELDS]  # the round's counters
            # 3. Offers, a thread per ad down its band. An ad whose band runs out before its
            # vacancies are offered pauses; the block then takes the next band of each such
            # ad, one ad after the other, and the paused ads go on. A pause changes nothing:
            # an ad's offers depend only on its own list and on the marking, which changes
            # only in the replies.
            for j in range(tid, n_ads, step):
                n_offered[j] = 0
                ad_open[j] = rules.vacancies(m.capacity[j], ad[AD_HIRED * n_ads + j])
            cuda.syncthreads()
            while True:
                for j in range(tid, n_ads, step):
                    if ad_open[j] > 0:
                        _offers(r, m, j, st, mine, casc)
                cuda.syncthreads()
                clock = _tick(profile, tid, g, P.OFFERS, clock)
                if misc[MISC_REFILLS] == 0:  # every thread reads the same count
                    break
                for j in range(n_ads):  # the same ads in every thread: the barriers match
                    if st.needs_band[j] != 0:
                        _refill(key, rep, m, j, st, mine, tid, step)
                if tid == 0:
                    misc[MISC_REFILLS] = 0
                cuda.syncthreads()
                clock = _tick(profile, tid, g, P.REFILLS, clock)
            # 4. Replies, the threads splitting the applicants with offers.
            for t in range(tid, misc[MISC_TOUCHED], step):
                _reply(key, rep, r, m, touched[t], st, casc, (behaviour, b))
            cuda.syncthreads()
            clock = _tick(profile, tid, g, P.REPLIES, clock)
            # 5. Responses, a thread per ad over its offers.
            for j in range(tid, n_ads, step):
                for x in range(n_offered[j]):
                    a = mine.offer_app[mine.offer0[j] + x]
                    i = m.app_applicant[a]
                    is_best = a == (best[i] & rules.KEY_LOW)
                    response = rules.offer_response(st.decision[i], is_best)
                    cuda.atomic.add(casc, 1 + response, 1)
                    if out.keep_offers:
                        out.offers[b, a] = rules.offer_code(r, response)
                cuda.atomic.add(casc, F_OFFERS, n_offered[j])
            cuda.syncthreads()
            clock = _tick(profile, tid, g, P.RESPONSES, clock)
            # 6. The round closes: open positions, the day's best offers cleared. A round
            # without offers changes nothing, so no later round would differ: the block stops
            # (every thread reads the same count), the rounds not played carrying the open
            # positions (their other counts are the zeros they started with).
            if tid == 0:
                casc[F_OPEN_AFTER] = rules.open_positions(misc[MISC_POSITIONS], misc[MISC_HIRED])
            for t in range(tid, misc[MISC_TOUCHED], step):
                best[touched[t]] = INT64_MAX
            no_offers = casc[F_OFFERS] == 0
            cuda.syncthreads()
            if tid == 0:
                misc[MISC_TOUCHED] = 0
            cuda.syncthreads()
            clock = _tick(profile, tid, g, P.ROUND_END, clock)
            if no_offers:
                for later in range(r + tid, m.n_rounds, step):
                    casc_all[later * N_FIELDS + F_OPEN_AFTER] = casc[F_OPEN_AFTER]
                break
        # 7. Hires per slot, the threads splitting the applicants.
        for c in range(tid, n_slots, step):
            slot_counts[c] = 0
        cuda.syncthreads()
        for i in range(tid, n_people, step):
            j = who_ad[i]
            if out.keep_applicants:
                out.hired_ad[b, i] = j
                out.hired_round[b, i] = who_round[i]
            if j >= 0:
                for c in range(m.slots.shape[1]):
                    cuda.atomic.add(slot_counts, m.slots[i, c], 1)
                cuda.atomic.add(slot_counts, m.ad_slot0 + N_EDUCATION * j + m.education[i], 1)
        cuda.syncthreads()
        # 8. The replication's values into the summary, or its rows written out.
        if summary.on:
            count_values(
                tid, step, slot_counts, casc_all, summary.recipe, summary.hist, summary.outside
            )
        else:
            for c in range(tid, n_slots, step):
                out.counts[b, c] = slot_counts[c]
            for f in range(tid, n_cascade, step):
                out.cascade[b, f // N_FIELDS, f % N_FIELDS] = casc_all[f]
        cuda.syncthreads()
        clock = _tick(profile, tid, g, P.TALLY, clock)


def launch_args(dev, market, batch: Batch, scratch, out, summary, profile) -> tuple:
    """:func:`block_kernel`'s arguments for one launch, in its order: the replications and
    parameter rows of ``batch`` (a :class:`~lis1abm.engine.cpu.Batch`, host arrays) put on
    the device by ``dev`` (:class:`~lis1abm.engine.cuda._Device`, or host memory for
    :mod:`lis1abm.engine.cuda_resources`), the ``market`` there, the :class:`BlockScratch`,
    the launch's :class:`~lis1abm.engine.layout.Outputs`, the
    :class:`~lis1abm.engine.layout.SummaryArgs` and the
    :class:`~lis1abm.engine.cuda_profile.Profile`."""
    reps, behaviours = dev.put(batch.reps), behaviour(batch.prows, dev.put)
    return (batch.key, reps, market, behaviours, scratch, out, summary, profile)


@cuda.jit(device=True, inline="always")
def _row(scratch, g):
    """Block g's row of the global scratch (:class:`BlockScratch`; ``offer0`` is shared)."""
    return BlockScratch(
        scratch.offer0, scratch.keys[g], scratch.band[g], scratch.segment[g], scratch.offer_app[g]
    )


@cuda.jit(device=True, inline="always")
def _poison(s32, words, tid, step):
    """Fill the block's first ``words`` int32 words of shared memory with a nonzero pattern
    (then a barrier): a check that no word is read before this replication wrote it."""
    for w in range(tid, words, step):
        s32[w] = POISON
    cuda.syncthreads()


@cuda.jit(device=True, inline="always")
def _tick(profile, tid, g, phase, since):
    """With ``profile.on``, thread 0 adds the cycles since ``since`` to block g's ``phase``
    and returns the new reading; otherwise ``since`` unchanged. Called after a barrier."""
    if profile.on and tid == 0:
        now = clock64()
        profile.cycles[g, phase] += now - since
        return now
    return since


@cuda.jit(device=True, inline="always")
def _ranking_key(key, rep, m, q):
    """The ranking key of ``m.ad_app[q]`` in replication ``rep``: score plus interview noise
    keyed by (applicant, trust), as on the CPU (:func:`lis1abm.engine.kernel._segment_keys`)."""
    k0, k1 = key
    noise = noise_jit(k0, k1, rep, S_INTERVIEW, m.ad_app_applicant[q], m.ad_app_trust[q])
    return rules.ranking_key(m.ad_app_score[q] + noise, m.ad_app[q])


@cuda.jit(device=True, inline="always")
def _place(band, keys, first, count, e):
    """Put ``band[e]``, one of the unsorted keys ``band[first:first + count]``, at its place
    in ``keys[first:first + count]`` sorted in descending order: the number of the band's
    keys above it (keys never tie, so the places are unique whichever thread takes which
    key)."""
    key = band[e]
    place = 0
    for f in range(first, first + count):
        place += band[f] > key
    keys[first + place] = key


@cuda.jit(device=True, inline="always")
def _offers(r, m, j, st, mine, casc):
    """Ad j's offers of round r down its band: one position per vacancy still to offer
    (``st.ad_open[j]``) to its best remaining candidates not marked as hired and not
    withdrawn, written to ``mine.offer_app[mine.offer0[j] + st.n_offered[j]:]``. Stops when
    they are offered, or when the band runs out: then the ad asks for its next band
    (``st.needs_band``), unless its ranked list is exhausted. An applicant's best offer is an
    atomic minimum; the first offer lists them as touched. Withdrawn candidates passed over
    are counted in the cascade."""
    ad, n_ads = st.ad, m.capacity.shape[0]
    first = mine.offer0[j]
    made = st.n_offered[j]
    open_positions = st.ad_open[j]
    while open_positions > 0:
        if ad[AD_LEFT * n_ads + j] == 0:
            if ad[AD_REST * n_ads + j] < m.ad_ptr[j + 1]:
                st.needs_band[j] = 1
                cuda.atomic.add(st.misc, MISC_REFILLS, 1)
            else:
                open_positions = 0  # the ranked list is exhausted
            break
        top = mine.keys[ad[AD_NEXT * n_ads + j]]
        ad[AD_NEXT * n_ads + j] += 1
        ad[AD_LEFT * n_ads + j] -= 1
        a = rules.ranked_application(top)
        i = m.app_applicant[a]
        if st.withdrawn[i] != 0:
            cuda.atomic.add(casc, F_SKIPPED_WITHDRAWN, 1)
        if rules.can_receive_offer(st.marked[i], st.withdrawn[i] != 0, r):
            mine.offer_app[first + made] = a
            made += 1
            open_positions -= 1
            previous = cuda.atomic.min(st.best, i, m.app_pref[a] * rules.KEY_SHIFT + a)
            if previous == INT64_MAX:  # the applicant's first offer this round
                st.touched[cuda.atomic.add(st.misc, MISC_TOUCHED, 1)] = i
    st.n_offered[j] = made
    st.ad_open[j] = open_positions


@cuda.jit(device=True, inline="always")
def _refill(key, rep, m, j, st, mine, tid, step):
    """Ad j's next band, all the block's threads together (every thread must call it): the
    ad's keys again, the fewest whole histogram buckets below the last band's floor holding
    ``band_size`` of them (as :func:`lis1abm.engine.kernel._next_band`), their keys sorted
    into ``mine.keys`` after the ad's earlier bands. ``mine.segment``: the ad's keys."""
    ad, n_ads = st.ad, m.capacity.shape[0]
    hist, band_count, misc = st.band_hist, st.band_count, st.misc
    segment = mine.segment
    start, end = m.ad_ptr[j], m.ad_ptr[j + 1]
    rest = ad[AD_REST * n_ads + j]
    floor = ad[AD_FLOOR * n_ads + j]
    for x in range(tid, N_BUCKETS, step):
        hist[x] = 0
    if tid == 0:
        band_count[j] = 0
    cuda.syncthreads()
    for q in range(start + tid, end, step):
        ranking_key = _ranking_key(key, rep, m, q)  # the same draws as in the first band
        segment[q - start] = ranking_key
        if ranking_key < floor:
            cuda.atomic.add(hist, k._bucket(ranking_key, m.bucket_lo, m.bucket_shift), 1)
    cuda.syncthreads()
    if tid == 0:
        want = m.band_size[j]
        misc[MISC_THRESHOLD] = k._threshold_of_histogram(hist, want, m.bucket_lo, m.bucket_shift)
    cuda.syncthreads()
    threshold = misc[MISC_THRESHOLD]
    for q in range(start + tid, end, step):
        ranking_key = segment[q - start]
        if ranking_key >= threshold and ranking_key < floor:
            mine.band[rest + cuda.atomic.add(band_count, j, 1)] = ranking_key
    cuda.syncthreads()
    got = band_count[j]
    for e in range(rest + tid, rest + got, step):
        _place(mine.band, mine.keys, rest, got, e)
    if tid == 0:
        ad[AD_NEXT * n_ads + j] = rest
        ad[AD_LEFT * n_ads + j] = got
        ad[AD_REST * n_ads + j] = rest + got
        ad[AD_FLOOR * n_ads + j] = threshold
        st.needs_band[j] = 0
    cuda.syncthreads()


@cuda.jit(device=True, inline="always")
def _reply(key, rep, r, m, i, st, casc, thresholds):
    """Applicant i's reply to the day's offers (as :func:`lis1abm.engine.kernel._reply`).
    ``thresholds``: (the batch's :class:`~lis1abm.engine.layout.Behaviour`, this
    replication's index in it), read here rather than held across the replication (which
    cost registers)."""
    k0, k1 = key
    behaviour, b = thresholds
    a = st.best[i] & rules.KEY_LOW
    u_no_reply, u_wait, u_late = reply_day_u16_jit(k0, k1, rep, i, r)
    d = rules.reply(
        st.who_ad[i] >= 0,
        m.app_pref[a],
        m.n_applied[i],
        u_no_reply,
        behaviour.no_reply[r - 1, b],
        u_wait,
        behaviour.wait[b],
        rules.rounds_left(m.n_calendar, r),
        m.n_calendar,
    )
    st.decision[i] = d
    if d == rules.WAIT:
        cuda.atomic.add(casc, F_WAITING, 1)
    elif d == rules.NO_REPLY:
        cuda.atomic.add(casc, F_NO_REPLY, 1)
    elif d == rules.ACCEPT_BEST:
        j = m.app_ad[a]
        st.who_ad[i] = j
        st.who_round[i] = r
        st.marked[i] = rules.marking_round(r, u_late, behaviour.late[b])
        cuda.atomic.add(st.ad, AD_HIRED * m.capacity.shape[0] + j, 1)
        cuda.atomic.add(st.misc, MISC_HIRED, 1)


@cache
def _kernel(max_registers: int = MAX_REGISTERS, poison: bool = False, lanes=(1, 0)):
    """:func:`block_kernel` for ``numba.cuda`` with at most ``max_registers`` registers per
    thread, cached on disk like the other kernels. Another cap (a tuning run), or a check's
    ``poison`` and ``lanes`` (:class:`Launch`), compiled into a variant of the kernel as its
    constants, is compiled in each process, since numba's cache does not tell them apart."""
    kernel = block_kernel
    if poison or tuple(lanes) != (1, 0):
        constants = {"POISON_FIRST": poison, "LANE_STRIDE": lanes[0], "LANE_OFFSET": lanes[1]}
        code = block_kernel.__code__
        kernel = FunctionType(code, block_kernel.__globals__ | constants, code.co_name)
    if simulator():
        return cuda.jit(kernel)
    if max_registers != MAX_REGISTERS or kernel is not block_kernel:
        return cuda.jit(kernel, max_registers=max_registers)
    from numba.cuda.core import config

    return cached(partial(cuda.jit, max_registers=MAX_REGISTERS), block_kernel, config)


def grid_size(dev) -> int:
    """Blocks per launch: enough to fill every multiprocessor."""
    if dev.cupy is None:
        return 2  # the simulator: two blocks show that blocks share nothing
    sms = dev.cupy.cuda.Device().attributes["MultiProcessorCount"]
    return BLOCKS_PER_SM * int(sms)


def run_cuda_block(
    arrays: EngineArrays,
    seed: int,
    replications,
    params,
    *,
    keep_applicants: bool = False,
    keep_offers: bool = False,
    summary: Summary | None = None,
    launch: Launch = Launch(),  # noqa: B008 (an immutable NamedTuple)
) -> EngineResult:
    """Play replications on the GPU, a block per replication (same arguments and result as
    :func:`lis1abm.engine.cpu.run_cpu`; a ``summary`` is counted in the kernel, as each
    replication ends, and copied back once). ``launch``: how the kernel is launched
    (:class:`Launch`); results depend on none of it."""
    batch, threads, bands, max_registers, phase_cycles, poison, (stride, offset) = launch
    if math.gcd(stride, threads) != 1:
        raise ValueError(f"lanes: stride {stride} shares a factor with {threads} threads")
    if not fits(arrays):
        raise ValueError(
            f"the market needs {shared_bytes(arrays)} bytes of shared memory per block "
            f"(at most {SHARED_LIMIT}): use the thread-per-replication kernel"
        )
    ok, why = gpu_status()
    if not ok:
        raise RuntimeError(why)
    batch_in = check_batch(arrays, seed, replications, params)
    reps = batch_in.reps
    # Longer first bands than the CPU's: a refill is a pass of the block over the ad's whole
    # list, and several ads' refills in one round are taken one after the other (the outcome
    # is the same for any band; scripts/gpu_compare.py --tune times other sizes).
    arrays = with_bands(arrays, seed, *bands)
    dev = _Device()
    keep = {"keep_applicants": keep_applicants, "keep_offers": keep_offers}
    per_replication = output_bytes(arrays, **keep, counts=summary is None)
    size = batch or max(1, int(MEMORY_SHARE * dev.free_bytes()) // per_replication)
    size = min(size, len(reps))
    blocks = min(grid_size(dev), size)
    market = device_market(dev, arrays)
    scratch = block_scratch(arrays, blocks, dev)
    if summary is not None:
        check_summary(summary, arrays)
    out = RunOutputs(dev, arrays, reps, (keep_applicants, keep_offers), summary)
    counted = out.summary.kernel_args()
    on = phase_cycles is not None
    cycles = dev.zeros((blocks, P.N_PHASES) if on else (1, 1), np.int64)
    profile = Profile(on, cycles)
    kernel = _kernel(max_registers, poison, (stride, offset % threads))
    smem = shared_bytes(arrays)
    # A grid-stride loop must not have more blocks than fit on the device at once: a block
    # that waits for a free place would start its share of the replications only when a
    # resident block has finished all of its own, doubling the time. The first launch (one
    # block per multiprocessor) compiles the kernel; its occupancy then sizes the grid.
    resident = None
    start = 0
    while start < len(reps):
        first = max(1, blocks // BLOCKS_PER_SM) if resident is None else size
        stop = min(start + min(size, first), len(reps))
        rows = stop - start
        launched = out.launch(rows, 1 if out.summary.on else rows)
        part = batch_in.part(start, stop)
        args = launch_args(dev, market, part, scratch, launched, counted, profile)
        with quiet_small_grids():
            kernel[min(resident or blocks, rows), threads, 0, smem](*args)
        dev.synchronize()
        out.fetch(start, stop, launched)
        if resident is None:
            resident = min(blocks, resident_blocks(kernel, threads, smem) or blocks)
        start = stop
    if on:
        phase_cycles += dev.get(profile.cycles).sum(axis=0)
    return out.result()


def resident_blocks(kernel, threads: int, smem: int) -> int | None:
    """How many blocks of the compiled ``kernel`` the device holds at once (its occupancy
    times the multiprocessors), or None where that is unknown (the simulator)."""
    for compiled in getattr(kernel, "overloads", {}).values():
        return int(compiled.max_cooperative_grid_blocks(threads, smem))
    return None
