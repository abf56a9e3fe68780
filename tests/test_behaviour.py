"""The behavioural rules, checked exactly over all 65,536 values of their random input, against
figures worked out by hand, and (the deadline rule) over the cascade's own random numbers."""

from __future__ import annotations

import numpy as np

from lis1abm import rules as b
from lis1abm.rng import Stream, u16

U = range(65536)


def test_q16():
    assert b.q16(0) == 0 and b.q16(1) == 65536 and b.q16(0.5) == 32768
    assert b.q16(-1) == 0 and b.q16(2) == 65536


def test_wait_probability_is_as_documented():
    """The chance of waiting is wait * best_rank / (n_applied - 1) * rounds_left /
    (rounds_total - 1), on 16-bit draws: with wait = 0.5 (32,768 / 65,536), 11 ads applied to
    and 5 rounds, the draws u that wait are those with u * 10 * 4 < 32,768 * best_rank *
    rounds_left, counted here by hand."""
    wait_q16 = b.q16(0.5)
    n_applied, rounds_total = 11, 5
    expected = {
        (10, 4): 32768,  # u < 32,768: probability 0.5 x 1 x 1
        (5, 4): 16384,  # u < 16,384: 0.5 x 0.5 x 1
        (10, 2): 16384,  # u < 16,384: 0.5 x 1 x 0.5
        (3, 1): 2458,  # u < 2,457.6, so u <= 2,457: 0.5 x 0.3 x 0.25 = 0.0375 of 65,536
    }
    for (best_rank, rounds_left), count in expected.items():
        hits = sum(
            b.wants_to_wait(best_rank, n_applied, u, wait_q16, rounds_left, rounds_total) for u in U
        )
        assert hits == count, (best_rank, rounds_left)


def test_never_wait_for_favourite_or_in_last_round():
    assert not any(b.wants_to_wait(0, 10, u, 65536, 4, 5) for u in range(0, 65536, 97))
    assert not any(b.wants_to_wait(9, 10, u, 65536, 0, 5) for u in range(0, 65536, 97))
    assert not b.wants_to_wait(0, 1, 0, 65536, 4, 5)


def test_reply_priorities():
    args = dict(
        best_rank=3,
        n_applied=10,
        u_no_reply=0,
        no_reply_q16=65536,
        u_wait=0,
        wait_q16=65536,
        rounds_left=4,
        rounds_total=5,
    )
    assert b.reply(True, **args) == b.MUST_DECLINE
    assert b.reply(False, **args) == b.NO_REPLY
    assert b.reply(False, **(args | {"no_reply_q16": 0})) == b.WAIT
    assert b.reply(False, **(args | {"no_reply_q16": 0, "wait_q16": 0})) == b.ACCEPT_BEST


def test_no_reply_probability():
    """A 2 % chance of missing the deadline, worked out by hand: 0.02 x 65,536 = 1,310.72
    rounds to the threshold 1,311, so exactly the inputs 0..1,310 miss (1,311 / 65,536 =
    2.0004 %); the threshold is strict, and 0 and 1 are never and always."""
    q = b.q16(0.02)
    assert q == 1311
    assert [u for u in U if b.misses_deadline(u, q)] == list(range(1311))
    assert b.misses_deadline(1310, 1311) and not b.misses_deadline(1311, 1311)
    assert not any(b.misses_deadline(u, b.q16(0.0)) for u in U)
    assert all(b.misses_deadline(u, b.q16(1.0)) for u in U)


def test_no_reply_frequency_of_the_reply_day_draws():
    """Over the random numbers the cascade uses (the first word of ``Stream.REPLY_DAY`` for
    200,000 applicant-rounds), the deadline is missed with frequency p, within 5 binomial
    standard errors (about 0.16 percentage points at p = 2 %: a correct rule lands outside in
    fewer than 1e-6 of seeds), for a small and a large p."""
    applicants, rounds = np.meshgrid(np.arange(20_000), np.arange(10))
    u = u16(2024, 3, Stream.REPLY_DAY, applicants.ravel(), rounds.ravel())
    n = u.size
    for p in (0.02, 0.4):
        missed = int(np.count_nonzero([b.misses_deadline(int(x), b.q16(p)) for x in u]))
        se = (p * (1 - p) / n) ** 0.5
        assert abs(missed / n - p) < 5 * se, (p, missed / n)


def test_marking_and_offers():
    assert b.marking_round(2, u_late=100, late_q16=50) == 3
    assert b.marking_round(2, u_late=10, late_q16=50) == 4
    assert b.can_receive_offer(b.NOT_MARKED, False, 5)
    assert b.can_receive_offer(3, False, 2) and not b.can_receive_offer(3, False, 3)
    # A withdrawn applicant is off every list, marked or not.
    assert not b.can_receive_offer(b.NOT_MARKED, True, 1)
    assert not b.can_receive_offer(3, True, 2)


def test_rounds_left_counts_the_calendar_only():
    """Applicants know the calendar's five rounds, not the rounds after it: after the
    calendar nobody waits."""
    assert [b.rounds_left(5, r) for r in range(1, 9)] == [4, 3, 2, 1, 0, 0, 0, 0]
    assert not any(b.wants_to_wait(9, 10, u, 65536, b.rounds_left(5, 7), 5) for u in U)
    assert b.vacancies(5, 2) == 3 and b.vacancies(5, 7) == 0
