"""The behavioural rules, checked exactly over all 65,536 values of their random input."""

from __future__ import annotations

from lis1abm import rules as b

U = range(65536)


def test_q16():
    assert b.q16(0) == 0 and b.q16(1) == 65536 and b.q16(0.5) == 32768
    assert b.q16(-1) == 0 and b.q16(2) == 65536


def test_wait_probability_is_as_documented():
    wait_q16 = b.q16(0.5)
    n_applied, rounds_total = 11, 5
    for best_rank, rounds_left in [(10, 4), (5, 4), (10, 2), (3, 1)]:
        hits = sum(
            b.wants_to_wait(best_rank, n_applied, u, wait_q16, rounds_left, rounds_total) for u in U
        )
        want = 0.5 * best_rank / (n_applied - 1) * rounds_left / (rounds_total - 1)
        assert abs(hits / 65536 - want) < 2 / 65536 * n_applied * rounds_total


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
    q = b.q16(0.02)
    assert sum(b.misses_deadline(u, q) for u in U) == q


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
