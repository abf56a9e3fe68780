"""Counter-based random numbers: every draw is a pure function of its coordinates.

A draw is addressed by ``(seed, replication, stream, a, b)``: the root seed, the replication
index, a named purpose (:class:`Stream`) and up to two ids (an applicant, an ad, a round, an
attempt). It is the Philox4x32-10 block cipher (Salmon et al. 2011, "Parallel random numbers:
as easy as 1, 2, 3"; the generator of Random123, cuRAND and JAX) applied to the counter
``(replication, stream, a, b)`` under the key ``seed``, so

* any replication can be recomputed alone, in any order, on any backend;
* two scenarios with the same seed share every draw that they have in common;
* adding a new purpose never shifts the draws of another.

:func:`philox4x32` is written once, with only 64-bit integer multiply, xor, add, and, shift,
which wrap the same way in NumPy, numba CPU code and CUDA kernels. The same source runs

* on NumPy arrays (host side: the market, the Mesa model), through :func:`block` and the
  functions built on it, which broadcast their arguments;
* in compiled code (numba CPU and CUDA kernels), through :data:`philox4x32_jit` and
  :func:`u16_jit` / :func:`noise_jit`.

The market itself (population, applications, preferences) is drawn with ``replication = 0``
from its own streams: it is a function of the seed alone. The offer cascade draws with the
replication index. Coordinates must lie in [0, 2**32) (the seed in [0, 2**64)).
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from numba import njit

# Philox4x32 constants (Random123 philox.h): multipliers and Weyl key increments.
_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)
_W1 = np.uint64(0xBB67AE85)
_MASK32 = np.uint64(0xFFFFFFFF)
_MASK16 = np.uint64(0xFFFF)
_S11, _S16, _S32 = np.uint64(11), np.uint64(16), np.uint64(32)

ROUNDS = 10  # Philox4x32-10: the standard, Crush-resistant number of rounds


class Stream(IntEnum):
    """The purposes of random draws. Values are part of the model: never renumber them."""

    # market construction (replication 0)
    GENDER = 1
    GRADUATION = 2
    AGE = 3
    ROUNDS_APPLIED = 4
    WANTED_JOB = 5
    RESIDENCE = 6
    HOME_REGION = 7
    PROFICIENCY = 8
    BREADTH = 9
    APPLY_TRUST = 10
    APPLY_AD = 11
    TASTE = 12
    STUDY_CITY = 13  # (applicant): study city of the Norway-educated; 1: staying in its region
    POPULATION = 14  # (draw): the population seed of an ensemble's draw d >= 1
    PARAMETERS = 15  # (parameter, draw): a parameter set drawn from a calibration's covariance
    # the queue across rounds (replication = the queue's chain)
    QUEUE_ROUND = 16  # (round, 0): the seed of a round's market and cascade
    QUEUE_COHORT = 17  # (round, draw): the population draws new applicants come from
    QUEUE_RETURN = 18  # (person, round): applying again in the next round
    QUEUE_ORDER = 19  # (round, row): the order in which new applicants are taken
    # offer cascade (per replication)
    INTERVIEW = 20  # (applicant, ad): interview noise
    # 21-23: retired (one stream per reply decision, before REPLY_DAY)
    WITHDRAWAL = 24  # (applicant, 0): has taken another job
    REPLY_DAY = 25  # (applicant, round): words 0, 1, 2 = missing the deadline, waiting, late


def philox4x32(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10: four 32-bit counter words and two 32-bit key words to four random
    32-bit words.

    Every argument is a uint64 holding a 32-bit value (NumPy scalars or arrays, which
    broadcast; or numba uint64 scalars in compiled code). Returns four uint64 values (or
    arrays) in [0, 2**32). Tested against Random123's known-answer vectors.
    """
    for _ in range(ROUNDS):
        # 32 x 32 -> 64-bit products; their high and low halves are Philox's mulhi / mullo.
        p0 = _M0 * c0
        p1 = _M1 * c2
        c0, c1, c2, c3 = (p1 >> _S32) ^ c1 ^ k0, p1 & _MASK32, (p0 >> _S32) ^ c3 ^ k1, p0 & _MASK32
        k0 = (k0 + _W0) & _MASK32
        k1 = (k1 + _W1) & _MASK32
    return c0, c1, c2, c3


philox4x32_jit = njit(inline="always")(philox4x32)
""":func:`philox4x32` compiled for numba CPU and CUDA code (the same source)."""


def _lanes_to_noise(x0, x1, x2, x3):
    # Sum of the eight 16-bit halves of the four words (uint64, in [0, 8 * 65535]).
    return (
        (x0 & _MASK16)
        + (x0 >> _S16)
        + (x1 & _MASK16)
        + (x1 >> _S16)
        + (x2 & _MASK16)
        + (x2 >> _S16)
        + (x3 & _MASK16)
        + (x3 >> _S16)
    )


_lanes_to_noise_jit = njit(inline="always")(_lanes_to_noise)

NOISE_OFFSET = 262140  # 8 * 65535 / 2: the mean of the sum of eight 16-bit uniforms
NOISE_SD = 65536 * (2 / 3) ** 0.5  # its standard deviation (to 1e-5): 53509.6
NOISE_MAX = 262140  # largest absolute value of the centred noise


@njit(inline="always")
def u16_jit(k0, k1, replication, stream, a, b):
    """A uniform integer in [0, 65536) (int64), in compiled code. ``k0, k1``: the seed's low
    and high 32 bits (uint64, see :func:`key`); the other arguments are integers."""
    x0, _, _, _ = philox4x32_jit(
        np.uint64(replication), np.uint64(stream), np.uint64(a), np.uint64(b), k0, k1
    )
    return np.int64(x0 & _MASK16)


@njit(inline="always")
def u16x4_jit(k0, k1, replication, stream, a, b):
    """Four independent uniform integers in [0, 65536) (int64) from one block, in compiled
    code: for several decisions about the same coordinates (see ``Stream.REPLY_DAY``)."""
    x0, x1, x2, x3 = philox4x32_jit(
        np.uint64(replication), np.uint64(stream), np.uint64(a), np.uint64(b), k0, k1
    )
    return (
        np.int64(x0 & _MASK16),
        np.int64(x1 & _MASK16),
        np.int64(x2 & _MASK16),
        np.int64(x3 & _MASK16),
    )


@njit(inline="always")
def noise_jit(k0, k1, replication, stream, a, b):
    """Centred integer noise, approximately normal with sd :data:`NOISE_SD` (int64), in
    compiled code: the sum of eight 16-bit uniforms (Irwin-Hall), minus its mean."""
    x0, x1, x2, x3 = philox4x32_jit(
        np.uint64(replication), np.uint64(stream), np.uint64(a), np.uint64(b), k0, k1
    )
    return np.int64(_lanes_to_noise_jit(x0, x1, x2, x3)) - NOISE_OFFSET


# -- the cascade's draws: each written once, for the Mesa model (NumPy arrays of applicants) and
# the compiled engines (scalars in numba CPU and CUDA code) alike ---------------------------

_STREAM_WITHDRAWAL = np.uint64(Stream.WITHDRAWAL)
_STREAM_REPLY_DAY = np.uint64(Stream.REPLY_DAY)


def _cascade_draws(philox):
    """The cascade's draw functions over ``philox`` (:func:`philox4x32` on the host, or
    :data:`philox4x32_jit` in compiled code): one source for both."""

    def withdrawal_u16(k0, k1, replication, applicant):
        """The 16-bit draw that decides whether ``applicant`` has taken another job and
        withdrawn (compared with the withdrawal threshold by
        :func:`lis1abm.rules.has_withdrawn`): one per (replication, applicant), word 0 of the
        block ``(replication, WITHDRAWAL, applicant, 0)``.

        ``k0, k1``: the seed's key (:func:`key`). ``applicant``: an int, or an int array of
        applicant ids on the host (then the result is an int64 array of the same shape).
        Returns int64 in [0, 65536)."""
        x0, _, _, _ = philox(
            np.uint64(replication), _STREAM_WITHDRAWAL, np.uint64(applicant), np.uint64(0), k0, k1
        )
        return np.int64(x0 & _MASK16)

    def reply_day_u16(k0, k1, replication, applicant, round_number):
        """The reply day's three 16-bit draws of ``applicant`` in round ``round_number``:
        missing the deadline (:func:`lis1abm.rules.misses_deadline`), waiting
        (:func:`lis1abm.rules.wants_to_wait`) and late marking
        (:func:`lis1abm.rules.marking_round`), words 0, 1, 2 of one block
        ``(replication, REPLY_DAY, applicant, round)``.

        Arguments as ``withdrawal_u16`` (``applicant`` an int or an int array). Returns
        ``(u_no_reply, u_wait, u_late)``, int64 in [0, 65536) (arrays of ``applicant``'s shape
        on the host)."""
        x0, x1, x2, _ = philox(
            np.uint64(replication),
            _STREAM_REPLY_DAY,
            np.uint64(applicant),
            np.uint64(round_number),
            k0,
            k1,
        )
        return np.int64(x0 & _MASK16), np.int64(x1 & _MASK16), np.int64(x2 & _MASK16)

    return withdrawal_u16, reply_day_u16


withdrawal_u16, reply_day_u16 = _cascade_draws(philox4x32)
"""The withdrawal draw and the reply day's draws on the host (the Mesa model: arrays of
applicants); see :func:`_cascade_draws`."""
withdrawal_u16_jit, reply_day_u16_jit = (
    njit(inline="always")(f) for f in _cascade_draws(philox4x32_jit)
)
"""The same draws compiled for numba CPU and CUDA code (the same source)."""


def key(seed: int) -> tuple[np.uint64, np.uint64]:
    """The Philox key of a root seed: its low and high 32 bits."""
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    return np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32)


def population_seed(seed: int, draw: int, attempt: int = 0) -> int:
    """The seed of population draw ``draw`` of root ``seed``: the root seed itself for draw 0
    (so an ensemble of one population is the market of that seed), else 63 bits of the
    Philox block of ``(seed, replication 0, POPULATION, draw, attempt)``, a pure function of
    them. ``attempt`` > 0: the draw drawn again, when the population of the earlier attempt
    could not be built."""
    if draw == 0 and attempt == 0:
        return int(seed)
    return derived_seed(seed, 0, Stream.POPULATION, draw, attempt)  # in [0, 2**63)


def derived_seed(seed: int, replication: int, stream: int, a: int = 0, b: int = 0) -> int:
    """63 bits of the Philox block of ``(seed, replication, stream, a, b)``: a valid root seed
    that is a pure function of those coordinates (the queue's rounds and cohorts)."""
    x0, x1, _, _ = block(seed, replication, stream, a, b)
    return int(((int(x1[0]) << 32) | int(x0[0])) >> 1)


def population_of(replication, populations: int):
    """The population draw replication ``replication`` (int or int array) plays on in an
    ensemble of ``populations`` draws: ``replication % populations``. Round robin, so that
    any replication's draw follows from (replication, populations) alone and any block of
    replications spreads evenly over the draws."""
    return replication % populations


def _u64(x) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(x))
    if arr.size and (arr.min() < 0 or arr.max() >= 2**32):
        raise ValueError("random-number coordinates must lie in [0, 2**32)")
    return arr.astype(np.uint64)


def block(seed, replication, stream, a=0, b=0) -> tuple[np.ndarray, ...]:
    """The four 32-bit words of each coordinate tuple (host side; arguments broadcast).

    Returns four uint64 arrays of the broadcast shape (at least 1-d).
    """
    k0, k1 = key(int(seed))
    c = np.broadcast_arrays(*(_u64(x) for x in (replication, stream, a, b)))
    return philox4x32(*c, k0, k1)


def uniform(seed, replication, stream, a=0, b=0) -> np.ndarray:
    """Uniform floats in [0, 1) with 53 random bits. Host-side use only (market building)."""
    x0, x1, _, _ = block(seed, replication, stream, a, b)
    return (((x0 << _S32) | x1) >> _S11) * (2.0**-53)


def normal(seed, replication, stream, a=0, b=0) -> np.ndarray:
    """Standard normal floats (Box-Muller on two 32-bit words). Host-side use only."""
    x0, x1, _, _ = block(seed, replication, stream, a, b)
    u1 = (x0 + np.uint64(1)) * (2.0**-32)  # in (0, 1]: log is finite
    u2 = x1 * (2.0**-32)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def gumbel(seed, replication, stream, a=0, b=0) -> np.ndarray:
    """Standard Gumbel floats. Host-side use only."""
    u = uniform(seed, replication, stream, a, b) + 2.0**-54  # in (0, 1): both logs finite
    return -np.log(-np.log(u))


def u16(seed, replication, stream, a=0, b=0) -> np.ndarray:
    """A uniform integer in [0, 65536) as int64: for decisions compared with a q16 threshold.
    The host-side twin of :func:`u16_jit` (same draws)."""
    x0, _, _, _ = block(seed, replication, stream, a, b)
    return (x0 & _MASK16).astype(np.int64)


def u16x4(seed, replication, stream, a=0, b=0) -> tuple[np.ndarray, ...]:
    """Four uniform integers in [0, 65536) (int64 arrays), one from each word of the block.
    The host-side twin of :func:`u16x4_jit`; the first equals :func:`u16`."""
    return tuple((x & _MASK16).astype(np.int64) for x in block(seed, replication, stream, a, b))


def noise(seed, replication, stream, a=0, b=0) -> np.ndarray:
    """Centred, approximately normal integer noise (sd :data:`NOISE_SD`, range
    +-:data:`NOISE_MAX`), int64. The host-side twin of :func:`noise_jit` (same draws)."""
    return _lanes_to_noise(*block(seed, replication, stream, a, b)).astype(np.int64) - NOISE_OFFSET
