"""Counter-based random numbers: pure functions of their coordinates, the same on the host
(NumPy) and in compiled code (numba)."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from lis1abm import rng
from lis1abm.rng import Stream

# Random123's known-answer vectors for Philox4x32-10 (kat_vectors: counter words, key words,
# expected output words).
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    (
        (0xFFFFFFFF,) * 4,
        (0xFFFFFFFF,) * 2,
        (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD),
    ),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


@pytest.mark.parametrize(("counter", "key", "expected"), KAT)
def test_philox_known_answers_numpy_and_numba(counter, key, expected):
    args = [np.uint64(x) for x in (*counter, *key)]
    assert [int(x) for x in rng.philox4x32(*args)] == list(expected)
    assert [int(x) for x in rng.philox4x32_jit(*args)] == list(expected)
    # Vectorised over arrays: the same words element by element.
    arrays = [np.full(3, x, dtype=np.uint64) for x in args]
    assert [w.tolist() for w in rng.philox4x32(*arrays)] == [[e] * 3 for e in expected]


def test_block_maps_seed_to_key_and_coordinates_to_counter():
    seed = (0x299F31D0 << 32) | 0xA4093822
    words = rng.block(seed, 0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344)
    assert [int(w[0]) for w in words] == list(KAT[2][2])


@njit
def _jit_draws(seed_lo, seed_hi, rep, stream, ids, b):
    u = np.empty(ids.size, np.int64)
    z = np.empty(ids.size, np.int64)
    for k in range(ids.size):
        u[k] = rng.u16_jit(seed_lo, seed_hi, rep, stream, ids[k], b)
        z[k] = rng.noise_jit(seed_lo, seed_hi, rep, stream, ids[k], b)
    return u, z


def test_host_and_compiled_draws_are_identical():
    seed = 2**40 + 12345
    ids = np.arange(5000)
    k0, k1 = rng.key(seed)
    u, z = _jit_draws(k0, k1, 7, int(Stream.INTERVIEW), ids, 3)
    assert (u == rng.u16(seed, 7, Stream.INTERVIEW, ids, 3)).all()
    assert (z == rng.noise(seed, 7, Stream.INTERVIEW, ids, 3)).all()


def test_draws_are_pure_functions_of_coordinates():
    ids = np.arange(100)
    a = rng.u16(7, 3, Stream.REPLY_DAY, ids, 2)
    assert (a == rng.u16(7, 3, Stream.REPLY_DAY, ids, 2)).all()
    # Element-wise calls agree with the broadcast call, in any order.
    singles = [int(rng.u16(7, 3, Stream.REPLY_DAY, i, 2)[0]) for i in ids[::-1]]
    assert singles[::-1] == a.tolist()


def test_each_coordinate_changes_the_draw():
    base = rng.block(1, 2, Stream.REPLY_DAY, 3, 4)[0][0]
    for changed in [
        (9, 2, Stream.REPLY_DAY, 3, 4),
        (2**33 + 1, 2, Stream.REPLY_DAY, 3, 4),  # the seed's high word is part of the key
        (1, 9, Stream.REPLY_DAY, 3, 4),
        (1, 2, Stream.WITHDRAWAL, 3, 4),
        (1, 2, Stream.REPLY_DAY, 9, 4),
        (1, 2, Stream.REPLY_DAY, 3, 9),
    ]:
        assert rng.block(*changed)[0][0] != base


def test_coordinates_out_of_range_are_refused():
    with pytest.raises(ValueError, match="2\\*\\*32"):
        rng.u16(1, 2**32, Stream.REPLY_DAY)
    with pytest.raises(ValueError, match="seed"):
        rng.u16(-1, 0, Stream.REPLY_DAY)


def test_distributions():
    ids = np.arange(200_000)
    u = rng.uniform(1, 0, Stream.GENDER, ids)
    assert 0 <= u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.005
    v = rng.u16(1, 0, Stream.REPLY_DAY, ids)
    assert v.min() >= 0 and v.max() < 65536 and v.dtype == np.int64
    assert abs(v.mean() / 65535 - 0.5) < 0.005
    z = rng.normal(1, 0, Stream.AGE, ids)
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    g = rng.gumbel(1, 0, Stream.TASTE, ids)
    assert abs(g.mean() - np.euler_gamma) < 0.01 and np.isfinite(g).all()
    noise = rng.noise(1, 5, Stream.INTERVIEW, ids, 3)
    assert noise.dtype == np.int64
    assert abs(noise.mean()) < 0.01 * rng.NOISE_SD
    assert abs(noise.std() / rng.NOISE_SD - 1) < 0.01
    assert np.abs(noise).max() <= rng.NOISE_MAX
