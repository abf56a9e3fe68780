"""Counter-based random numbers: every draw is a pure function of its coordinates.

A draw is addressed by ``(seed, replication, stream, a, b)``: the root seed, the replication
index, a named purpose (:class:`Stream`) and up to two ids (an applicant, an ad, a round, an
attempt). It is computed by hashing those coordinates with the splitmix64 finaliser, so

* any replication can be recomputed alone, in any order, on any backend;
* two scenarios with the same seed share every draw that they have in common;
* adding a new purpose never shifts the draws of another.

The hash uses only 64-bit integer multiply, xor, add and shift, which wrap the same way in
NumPy, numba CPU code and CUDA kernels. The functions here take NumPy arrays (or scalars, which
are treated as 0-d arrays) and broadcast their arguments.

The market itself (population, applications, preferences) is drawn with ``replication = 0``
from its own streams: it is a function of the seed alone. The offer cascade draws with the
replication index.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

_GAMMA = np.uint64(0x9E3779B97F4A7C15)  # golden-ratio increment of splitmix64
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_MASK16 = np.uint64(0xFFFF)


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
    # offer cascade (per replication)
    INTERVIEW = 20
    NO_REPLY = 21
    WAIT = 22
    LATE_MARKING = 23
    WITHDRAWAL = 24


def mix64(z: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: a bijection of uint64 that scrambles every bit.

    Parameters
    ----------
    z : uint64 array, any shape.
    """
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def _u64(x) -> np.ndarray:
    # Negative ids never occur; astype keeps the bit pattern of int64 inputs.
    return np.atleast_1d(np.asarray(x)).astype(np.uint64)


def hash64(seed, replication, stream, a=0, b=0) -> np.ndarray:
    """64 random bits for each coordinate tuple (broadcast over array arguments).

    Returns a uint64 array of the broadcast shape (at least 1-d).
    """
    h = mix64(_u64(seed) + _GAMMA)
    for part in (replication, stream, a, b):
        h = mix64(h + _GAMMA + _u64(part))
    return h


def uniform(seed, replication, stream, a=0, b=0) -> np.ndarray:
    """Uniform floats in [0, 1) with 53 random bits. Host-side use only (market building)."""
    return (hash64(seed, replication, stream, a, b) >> np.uint64(11)) * (2.0**-53)


def normal(seed, replication, stream, a=0, b=0) -> np.ndarray:
    """Standard normal floats (Box-Muller on two 26-bit halves). Host-side use only."""
    h = hash64(seed, replication, stream, a, b)
    u1 = ((h >> np.uint64(38)) + np.uint64(1)) * (2.0**-26)  # in (0, 1]: log is finite
    u2 = ((h >> np.uint64(12)) & np.uint64((1 << 26) - 1)) * (2.0**-26)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def gumbel(seed, replication, stream, a=0, b=0) -> np.ndarray:
    """Standard Gumbel floats. Host-side use only."""
    u = ((hash64(seed, replication, stream, a, b) >> np.uint64(11)) + np.uint64(1)) * 2.0**-53
    return -np.log(-np.log(u))


def u16(seed, replication, stream, a=0, b=0) -> np.ndarray:
    """A uniform integer in [0, 65536) as int64: for decisions compared with a q16 threshold."""
    return (hash64(seed, replication, stream, a, b) & _MASK16).astype(np.int64)


IRWIN_HALL_MEAN = 12 * 32767.5  # mean of the sum of twelve uniform 16-bit integers
IRWIN_HALL_UNIT = 65536  # its standard deviation, to within 1e-10


def irwin_hall_noise(seed, replication, stream, a=0, b=0) -> np.ndarray:
    """Approximately normal integer noise with mean 0 and standard deviation 65536.

    The sum of twelve uniform 16-bit integers (three hashes, four 16-bit lanes each), centred:
    integer arithmetic only, so every backend gets exactly the same value. Range +-393210.
    Returns int64.
    """
    total = np.zeros(
        np.broadcast_shapes(*(np.shape(np.atleast_1d(x)) for x in (seed, replication, a, b))),
        np.int64,
    )
    for k in range(3):
        h = hash64(seed, replication, stream, a, _u64(b) * np.uint64(4) + np.uint64(k))
        for lane in range(4):
            total += ((h >> np.uint64(16 * lane)) & _MASK16).astype(np.int64)
    return total - int(IRWIN_HALL_MEAN)
