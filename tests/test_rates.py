"""Realised behaviour rates match their parameters.

The engine and the Mesa model call the same rules with the same thresholds, so a wrong
threshold (a probability turned into the wrong q16 integer, a reply window ignored) would be
identical in both and pass every engine-versus-Mesa test. Here the rates realised over many
replications are compared with the parameters themselves (the probabilities in the parameter
object, and the reply windows of the calendar), within a binomial tolerance.

Parameters are set high (missed deadlines 40 % a day, waiting up to 60 %, withdrawal 25 %,
late marking 30 %) so that the estimates are tight: a threshold 20 % off is then more than
ten standard errors away. The seeds are fixed, so the tests are deterministic; the tolerance
(:data:`Z` standard errors) says how far a correct model could land by chance.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from lis1abm import engine, rules
from lis1abm.abm.model import LIS1Model
from lis1abm.market.ranking import Market, build_market
from lis1abm.rules import CASCADE_FIELDS

Z = 5.0  # tolerance in standard errors: a correct model lands outside in < 1e-6 of seeds
REPS = np.arange(150)
# Offer days of an applicant: what they did, read from the responses to their offers.
MUST_DECLINE, NO_REPLY, ACCEPTED, ALL_DECLINED = range(4)


def rules_field(name: str) -> int:
    """Column of a cascade field."""
    return CASCADE_FIELDS.index(name)


def with_behaviour(params, **behaviour):
    """``params`` with some behaviour parameters replaced."""
    return dataclasses.replace(params, behaviour=dataclasses.replace(params.behaviour, **behaviour))


def assert_binomial(hits: int, expected: float, variance: float, what: str) -> None:
    """``hits``, a sum of independent Bernoulli trials with mean ``expected`` and variance
    ``variance``, lies within :data:`Z` standard errors of its mean."""
    se = float(np.sqrt(variance))
    if se > 0:
        z = (hits - expected) / se
    else:  # nothing random (a probability of 0 or 1): exact
        z = 0.0 if hits == expected else float("inf")
    assert abs(z) <= Z, (
        f"{what}: realised {hits}, expected {expected:.1f} +- {se:.1f} (z = {z:+.1f}): "
        "a probability does not become its threshold right"
    )


def offer_days(market: Market, offers: np.ndarray) -> dict[str, np.ndarray]:
    """Every (replication, applicant, round) with at least one offer, from the engine's offer
    codes (B, A) (``4 * round + response`` per application, 0 = no offer).

    Returns arrays (D,) for the D offer days: ``round``, ``applicant``, ``replication`` (row
    of the batch), ``best_pref`` (preference rank of the best offer that day) and ``what``:
    MUST_DECLINE (all declined because already hired), NO_REPLY (all unanswered), ACCEPTED
    (one accepted), ALL_DECLINED (all declined: waiting).
    """
    b, a = np.nonzero(offers)
    code = offers[b, a].astype(np.int64)
    rnd, response = code // 4, code % 4
    n, r1 = market.n_applicants, market.n_rounds + 1
    day = (b * n + market.app_applicant[a]) * r1 + rnd
    days, index = np.unique(day, return_inverse=True)
    size = len(days)
    count = np.bincount(index, minlength=size)

    def every(response_code):
        return np.bincount(index, weights=response == response_code, minlength=size) == count

    best_pref = np.full(size, np.iinfo(np.int64).max)
    np.minimum.at(best_pref, index, market.applications.pref[a])
    accepted = np.bincount(index, weights=response == rules.ACCEPTED, minlength=size)
    all_declined = every(rules.DECLINED)
    what = np.select(
        [every(rules.DECLINED_HIRED), every(rules.UNANSWERED), accepted == 1, all_declined],
        [MUST_DECLINE, NO_REPLY, ACCEPTED, ALL_DECLINED],
        default=-1,
    )
    assert (what >= 0).all(), "an offer day that no decision explains"
    return {
        "round": days % r1,
        "applicant": days // r1 % n,
        "replication": days // r1 // n,
        "best_pref": best_pref,
        "what": what,
    }


@pytest.fixture(scope="module")
def replies(autumn, params):
    """Missed deadlines and waiting: no withdrawal, so that a day of declining every offer is
    a day of waiting."""
    market = build_market(
        autumn,
        with_behaviour(
            params,
            no_reply_probability_one_day=0.4,
            wait_probability_max=0.6,
            withdrawal_probability=0.0,
        ),
        seed=11,
    )
    run = engine.run_cpu(
        engine.flatten(market), market.seed, REPS, engine.param_rows(market), keep_offers=True
    )
    return market, offer_days(market, run.offers)


@pytest.fixture(scope="module")
def leaving(autumn, params):
    """Withdrawal and late marking; nobody waits or misses a deadline, so a day of declining
    every offer is a day of having withdrawn."""
    return build_market(
        autumn,
        with_behaviour(
            params,
            no_reply_probability_one_day=0.0,
            wait_probability_max=0.0,
            withdrawal_probability=0.25,
            late_marking_probability=0.3,
        ),
        seed=12,
    )


def test_no_reply_rate_by_reply_window(replies, autumn):
    """In each round, an applicant with offers who is not already hired misses the deadline
    with probability ``no_reply_probability_one_day / reply window (days)`` (the first
    window is 4 days, the others 1)."""
    market, days = replies
    p_one_day = market.params.behaviour.no_reply_probability_one_day
    windows = [r.reply_window_days for r in autumn.calendar]
    assert len(set(windows)) > 1  # the windows differ, so a window ignored is caught
    for r, window in enumerate(windows, start=1):
        eligible = (days["round"] == r) & (days["what"] != MUST_DECLINE)
        p = p_one_day / window
        trials = int(eligible.sum())
        assert trials > 3000, f"round {r}: only {trials} offer days"
        missed = int((days["what"][eligible] == NO_REPLY).sum())
        assert_binomial(missed, trials * p, trials * p * (1 - p), f"no reply, round {r}")


def test_waiting_rate(replies):
    """An applicant who replies waits (declines all) with probability ``wait_probability_max
    * best_rank / (n_applied - 1) * rounds_left / (rounds_total - 1)``, per offer day, where
    ``rounds_total`` is the calendar's rounds and ``rounds_left`` the calendar's rounds still
    to come (none after the calendar: nobody waits then)."""
    market, days = replies
    replying = (days["what"] == ACCEPTED) | (days["what"] == ALL_DECLINED)
    n_applied = np.diff(market.applications.ptr)[days["applicant"][replying]]
    rounds_left = np.maximum(market.n_calendar - days["round"][replying], 0)
    p = (
        market.params.behaviour.wait_probability_max
        * days["best_pref"][replying]
        / np.maximum(n_applied - 1, 1)
        * rounds_left
        / (market.n_calendar - 1)
    )
    assert (days["round"][replying] > market.n_calendar).sum() > 100  # after the calendar
    waited = int((days["what"][replying] == ALL_DECLINED).sum())
    assert p.sum() > 2000, "too few chances to wait for a tight estimate"
    assert_binomial(waited, p.sum(), (p * (1 - p)).sum(), "waiting")
    # By round as well: the fall with the rounds left is part of the rule.
    for r in range(1, market.n_calendar + 1):
        in_round = days["round"][replying] == r
        got = int((days["what"][replying][in_round] == ALL_DECLINED).sum())
        q = p[in_round]
        assert_binomial(got, q.sum(), (q * (1 - q)).sum(), f"waiting, round {r}")
    after = days["round"][replying] > market.n_calendar
    assert not (days["what"][replying][after] == ALL_DECLINED).any(), "waited after the calendar"


def test_withdrawal_rate(leaving):
    """An applicant has withdrawn with probability ``withdrawal_probability``, measured from
    the engine's offers alone, and a withdrawn applicant is passed over, not offered.

    Every ad is given as many positions as its ranked list has candidates, so in round 1 it
    offers to everyone on its list who can receive an offer; nobody is marked yet, so an
    applicant on some list gets no offer in round 1 exactly when they have withdrawn. The
    share of such applicants is the realised withdrawal rate, compared with the parameter
    within :data:`Z` binomial standard errors (0.25 over 150 x 923 applicants on a list: a
    standard error of 0.12 percentage points). Each round-1 offer not made is a candidate
    passed over, so ``skipped_withdrawn`` in round 1 counts the qualified applications of
    those applicants.
    """
    apps = leaving.applications
    qualified = np.flatnonzero(leaving.qualified)
    list_length = np.bincount(apps.ad[qualified], minlength=leaving.n_ads)
    market = dataclasses.replace(leaving, capacity=list_length.astype(np.int64))
    run = engine.run_cpu(
        engine.flatten(market), market.seed, REPS, engine.param_rows(market), keep_offers=True
    )
    on_a_list = np.bincount(market.app_applicant[qualified], minlength=market.n_applicants) > 0
    first_round = (run.offers // rules.OFFER_CODE_BASE) == 1  # (B, A)
    offered = np.zeros((len(REPS), market.n_applicants), dtype=bool)
    b, a = np.nonzero(first_round)
    offered[b, market.app_applicant[a]] = True
    passed_over = on_a_list & ~offered  # (B, N)
    trials = int(on_a_list.sum()) * len(REPS)
    p = market.params.behaviour.withdrawal_probability
    assert_binomial(int(passed_over.sum()), trials * p, trials * p * (1 - p), "withdrawal")
    # Not vacuous: the ads do reach everyone else in round 1.
    assert offered.sum(axis=1).min() > 0.6 * on_a_list.sum()
    qualified_apps = np.bincount(market.app_applicant[qualified], minlength=market.n_applicants)
    np.testing.assert_array_equal(
        run.cascade[:, 0, rules_field("skipped_withdrawn")],
        (passed_over * qualified_apps).sum(axis=1),
        "round 1's skipped_withdrawn: the qualified applications of those passed over",
    )
    # A withdrawn applicant gets no offer in any later round either.
    later = np.zeros_like(offered)
    b, a = np.nonzero(run.offers)
    later[b, market.app_applicant[a]] = True
    assert not (later & passed_over).any(), "an offer to a withdrawn applicant"


def test_late_marking_rate(leaving):
    """An accepted applicant is marked one round late with probability
    ``late_marking_probability`` (the Mesa agents' own marking rounds)."""
    market = leaving
    late = trials = 0
    for rep in range(30):
        model = LIS1Model(market, rep, log_events=False)
        model.run()
        delay = np.array(
            [a.marked_from - a.hired_round for a in model.applicant_list if a.hired_ad]
        )
        assert set(delay.tolist()) <= {1, 2}
        late += int((delay == 2).sum())
        trials += len(delay)
    p = market.params.behaviour.late_marking_probability
    assert trials > 10000
    assert_binomial(late, trials * p, trials * p * (1 - p), "late marking")
