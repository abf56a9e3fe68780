"""The offer cascade: invariants on many seeds, reproducibility, order independence and the
direction of policy changes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lis1abm import engine, rules
from lis1abm.abm.model import LIS1Model
from lis1abm.market.applications import Applications
from lis1abm.market.ranking import Market, build_market, ranked_lists
from lis1abm.outcomes.tally import tally
from lis1abm.rng import Stream, u16
from lis1abm.rules import CASCADE_FIELDS


def check_invariants(market: Market, model: LIS1Model) -> None:
    """Every rule of the process, checked on one finished replication."""
    out = model.outcome()
    log = model.event_log()
    apps = market.applications
    codes = log["response"].cat.codes.to_numpy()
    ads, who, rnd = log["ad"].to_numpy(), log["applicant"].to_numpy(), log["round"].to_numpy()

    hires = np.bincount(out.hired_ad[out.hired_ad >= 0], minlength=market.n_ads)
    assert (hires <= market.capacity).all(), "an ad hired over capacity"
    accepted = codes == rules.ACCEPTED
    assert np.bincount(who[accepted], minlength=market.n_applicants).max(initial=0) <= 1, (
        "someone accepted twice"
    )
    assert accepted.sum() == (out.hired_ad >= 0).sum()
    # At most one offer per (ad, applicant): an ad never re-offers after a decline.
    assert not pd.DataFrame({"a": ads, "w": who}).duplicated().any()
    # No offer to an applicant already marked, nor to one who has withdrawn; every
    # withdrawn candidate an ad passed over is counted.
    marked_from = np.array([a.marked_from for a in model.applicant_list])
    assert (rnd < marked_from[who]).all(), "offer to a marked applicant"
    withdrawn = np.array([a.withdrawn for a in model.applicant_list], dtype=bool)
    assert not withdrawn[who].any(), "offer to a withdrawn applicant"
    assert (out.hired_ad[withdrawn] < 0).all()
    skipped = out.cascade[:, CASCADE_FIELDS.index("skipped_withdrawn")].sum()
    assert skipped <= withdrawn[ranked_lists(market, model.replication)[1]].sum()
    # Every offer (and so every hire) is to someone who applied to that ad and qualified.
    ptr, ranked = ranked_lists(market, model.replication)
    for j in range(market.n_ads):
        listed = set(ranked[ptr[j] : ptr[j + 1]].tolist())
        assert set(who[ads == j].tolist()) <= listed
    for i in np.flatnonzero(out.hired_ad >= 0):
        assert out.hired_ad[i] in apps.ad[apps.ptr[i] : apps.ptr[i + 1]]
    # An acceptance is the applicant's best offer that day.
    pref = {
        (i, int(a)): int(p)
        for i in range(market.n_applicants)
        for a, p in zip(
            apps.ad[apps.ptr[i] : apps.ptr[i + 1]],
            apps.pref[apps.ptr[i] : apps.ptr[i + 1]],
            strict=True,
        )
    }
    for k in np.flatnonzero(accepted):
        same_day = (who == who[k]) & (rnd == rnd[k])
        assert pref[(who[k], ads[k])] == min(pref[(who[k], a)] for a in ads[same_day])
    # Offers per ad and round never exceed its vacancies at the start of the round.
    hired_before = np.zeros(market.n_ads, dtype=np.int64)
    for r in range(1, market.n_rounds + 1):
        offers = np.bincount(ads[rnd == r], minlength=market.n_ads)
        assert (offers <= market.capacity - hired_before).all()
        hired_before += np.bincount(ads[(rnd == r) & accepted], minlength=market.n_ads)
    # The model's tallies (counted as responses are recorded) agree with the agents' own
    # state (set when they accept and hire): acceptances per round from the applicants'
    # hired_round, hires per ad from the ads' hires, open positions after each round.
    per_round = np.bincount(out.hired_round[out.hired_ad >= 0], minlength=market.n_rounds + 1)
    np.testing.assert_array_equal(
        out.cascade[:, CASCADE_FIELDS.index("accepted")], per_round[1:], "accepted per round"
    )
    np.testing.assert_array_equal(hires, [len(ad.hires) for ad in model.ad_list])
    np.testing.assert_array_equal(
        out.cascade[:, CASCADE_FIELDS.index("open_after")],
        market.capacity.sum() - np.cumsum(per_round[1:]),
        "open positions after each round",
    )


@pytest.mark.parametrize("seed", range(8))
def test_invariants_full_market(autumn, params, seed):
    market = build_market(autumn, params, seed)
    for rep in range(2):
        model = LIS1Model(market, rep)
        model.run()
        check_invariants(market, model)


def test_late_marking_produces_offers_that_must_be_declined(autumn, params):
    late = dataclasses.replace(
        params, behaviour=dataclasses.replace(params.behaviour, late_marking_probability=0.5)
    )
    market = build_market(autumn, late, 3)
    model = LIS1Model(market, 0)
    model.run()
    check_invariants(market, model)
    assert (model.event_log()["response"] == "declined_hired").sum() > 0
    none = build_market(
        autumn,
        dataclasses.replace(
            params, behaviour=dataclasses.replace(params.behaviour, late_marking_probability=0.0)
        ),
        3,
    )
    model = LIS1Model(none, 0)
    model.run()
    assert (model.event_log()["response"] == "declined_hired").sum() == 0


def test_same_seed_same_result_different_seed_different(market, autumn, params):
    a = tally(market, LIS1Model(market, 4).run())
    b = tally(market, LIS1Model(market, 4).run())
    pd.testing.assert_frame_equal(a, b)
    other_rep = LIS1Model(market, 5).run()
    assert not np.array_equal(other_rep.hired_ad, LIS1Model(market, 4).run().hired_ad)
    other_seed = build_market(autumn, params, 2025)
    assert not np.array_equal(
        LIS1Model(other_seed, 4).run().hired_ad, LIS1Model(market, 4).run().hired_ad
    )


def test_agent_order_does_not_matter(market):
    """Offers are simultaneous: agents acting in a shuffled order give the same outcome."""
    expected = LIS1Model(market, 1).run()
    for rep_rng in range(3):
        model = LIS1Model(market, 1, shuffle=True)
        model.random.seed(rep_rng)  # shuffle_do draws the order from model.random
        got = model.run()
        assert np.array_equal(got.hired_ad, expected.hired_ad)
        assert np.array_equal(got.hired_round, expected.hired_round)


def test_more_positions_raise_hires_on_average(market):
    """More positions raise total hires on average over replications, but need not in every
    replication, so each replication is held only to a bound on how often hires fall.

    The exceptions are real, not noise: an extra position at ad j can hire, in round 1, an
    applicant who would otherwise have accepted ad k in a later round; that changes who is
    still free when k and the ads after it make their offers, and a chain of declines
    (waiting, missed deadlines, late marking) can leave a position unfilled that would have
    been filled, so that total hires fall. Measured on these 2,000 replications (seed 2024):

    * default parameters: every extra position was filled in every replication (a gain of
      exactly 29 with one more position at every ad, of exactly 1 at ads 0, 10 and 20);
    * default parameters, the five calendar rounds only: hires fell in 4-26 replications
      (0.2-1.3 %) with one more position at one ad, the mean gain 0.85-1.0;
    * heavy friction (waiting up to 60 %, missed deadlines 40 % a day, late marking 50 %):
      hires fell in 1-3 replications with the rounds after the calendar, and in 13-23 % of
      them with the calendar rounds only.

    So the test states what holds in general rather than in this one setup: the mean gain is
    most of the positions added, and hires fall in at most 2 % of replications (40 of 2,000).
    """
    reps = np.arange(2000)

    def total_hires(capacity):
        bigger = dataclasses.replace(market, capacity=capacity)
        arrays = engine.flatten(bigger)  # without a tally, slot 0 counts every hire
        return engine.run_cpu(arrays, market.seed, reps, engine.param_rows(bigger)).counts[:, 0]

    base = total_hires(market.capacity)
    cases = {"every ad": market.capacity + 1}
    for ad in (0, 10, 20):
        cases[f"ad {ad}"] = market.capacity + (np.arange(market.n_ads) == ad)
    for name, capacity in cases.items():
        added = int((capacity - market.capacity).sum())
        gain = total_hires(capacity) - base
        # Most of the added positions are filled on average ...
        assert gain.mean() > 0.8 * added, f"{name}: mean gain {gain.mean():.3f} of {added}"
        # ... and hires fall in few replications, through a chain of declines (see above).
        assert (gain < 0).mean() <= 0.02, f"{name}: lower in {(gain < 0).sum()} of {len(reps)}"


def test_datacollector_records_each_round(market):
    """Mesa's DataCollector (one row collected at the end of each round played) holds the
    cascade that the CPU engine computes independently for the same replication, round by
    round; the rounds not played (after a round without offers) are zero rows carrying the
    open positions."""
    rep = 3
    model = LIS1Model(market, rep, log_events=False)
    model.run()
    frame = model.datacollector.get_model_vars_dataframe()
    played = len(frame)
    assert market.n_calendar < played < market.n_rounds  # stopped early, after the calendar
    assert frame["round"].tolist() == list(range(1, played + 1))
    result = engine.run_cpu(engine.flatten(market), market.seed, [rep], engine.param_rows(market))
    cascade = result.cascade[0]
    np.testing.assert_array_equal(frame[list(CASCADE_FIELDS)].to_numpy(), cascade[:played])
    assert cascade[played - 1, CASCADE_FIELDS.index("offers")] == 0
    open_after = CASCADE_FIELDS.index("open_after")
    assert (cascade[played:, open_after] == cascade[played - 1, open_after]).all()
    assert not np.delete(cascade[played:], open_after, axis=1).any()
    # Not vacuous: every round's row differs from the next until the one without offers.
    assert (np.diff(cascade[:played], axis=0) != 0).any(axis=1).all()


@pytest.mark.parametrize("factor", [1.3, 2.0])
def test_positions_stay_open_only_when_lists_run_out(market, factor):
    """With the rounds after the calendar, an ad left with open positions has gone through its
    whole ranked list: every qualified applicant on it who has not withdrawn got an offer
    from it or was hired elsewhere (an ad passes over only marked and withdrawn candidates).
    So the default maximum of rounds after the calendar never cuts a cascade short: the last
    round is never reached with offers still going out. At 130 % of the capacity (789
    positions for 932 applicants) every position is filled in these replications; at 200 %
    lists run out and positions stay open, which makes the statement bite."""
    capacity = np.round(market.capacity * factor).astype(np.int64)
    bigger = dataclasses.replace(market, capacity=capacity)
    arrays = engine.flatten(bigger)
    reps = np.arange(200)
    out = engine.run_cpu(
        arrays, market.seed, reps, engine.param_rows(bigger), keep_applicants=True,
        keep_offers=True,
    )  # fmt: skip
    offers, open_after = CASCADE_FIELDS.index("offers"), CASCADE_FIELDS.index("open_after")
    assert (out.cascade[:, -1, offers] == 0).all(), "the last round still made offers"
    apps = market.applications
    qualified = np.flatnonzero(market.qualified)
    who = market.app_applicant[qualified]
    ad = apps.ad[qualified]
    n_open = 0
    for b, rep in enumerate(reps):
        withdrawn = rules.has_withdrawn(
            u16(market.seed, int(rep), Stream.WITHDRAWAL, np.arange(market.n_applicants), 0),
            market.withdraw_q16,
        ).astype(bool)
        hired = out.hired_ad[b]
        open_ads = capacity - np.bincount(hired[hired >= 0], minlength=market.n_ads) > 0
        n_open += open_ads.sum()
        on_open_list = open_ads[ad] & ~withdrawn[who]
        reached = (out.offers[b, qualified] != 0) | ((hired[who] >= 0) & (hired[who] != ad))
        assert reached[on_open_list].all(), f"replication {rep}: an ad stopped short"
        assert out.cascade[b, -1, open_after] == (capacity - np.bincount(
            hired[hired >= 0], minlength=market.n_ads)).sum()  # fmt: skip
    if factor >= 2:
        assert n_open > 0  # not vacuous: positions do stay open


# -- tiny random markets (Hypothesis) ----------------------------------------------------


def tiny_market(
    n: int,
    j: int,
    apply: np.ndarray,
    scores: np.ndarray,
    qualified: np.ndarray,
    capacity: list[int],
    seed: int,
    rounds: int,
    late: int,
    wait: int,
    calendar: int | None = None,
) -> Market:
    """A hand-made market: ``apply``, ``scores``, ``qualified`` (n, j); ``rounds`` offer
    rounds, of which the first ``calendar`` (default: all) are the calendar's. Ads 2k and
    2k + 1 belong to one trust (they share the interview)."""
    rows, cols = np.nonzero(apply)
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=ptr[1:])
    pref = np.concatenate(
        [np.argsort(np.argsort(-scores[i, cols[ptr[i] : ptr[i + 1]]])) for i in range(n)]
    ).astype(np.int64)
    apps = Applications(
        ptr, cols.astype(np.int64), pref, np.zeros(0), np.zeros(j), np.zeros(0), np.zeros(j)
    )
    return Market(
        data=None,
        params=None,
        seed=seed,
        population=pd.DataFrame(index=range(n)),
        applications=apps,
        app_applicant=rows.astype(np.int64),
        base_score=(scores[rows, cols] * 65536).astype(np.int64),
        qualified=qualified[rows, cols],
        capacity=np.array(capacity, dtype=np.int64),
        ad_trust=np.arange(j, dtype=np.int64) // 2,
        no_reply_q16=np.full(rounds, 3000, dtype=np.int64),
        wait_q16=wait,
        late_q16=late,
        withdraw_q16=2000,
        n_calendar=rounds if calendar is None else calendar,
    )


@st.composite
def markets(draw):
    n = draw(st.integers(1, 12))
    j = draw(st.integers(1, 4))
    apply = np.array(
        draw(st.lists(st.lists(st.booleans(), min_size=j, max_size=j), min_size=n, max_size=n))
    )
    for i in range(n):  # everyone applies somewhere
        if not apply[i].any():
            apply[i, draw(st.integers(0, j - 1))] = True
    scores = np.array(draw(st.lists(st.floats(-3, 3), min_size=n * j, max_size=n * j)))
    qualified = np.array(draw(st.lists(st.booleans(), min_size=n * j, max_size=n * j)))
    rounds = draw(st.integers(1, 5))
    return tiny_market(
        n,
        j,
        apply,
        scores.reshape(n, j),
        qualified.reshape(n, j),
        draw(st.lists(st.integers(0, 4), min_size=j, max_size=j)),
        draw(st.integers(0, 2**40)),
        rounds,
        draw(st.sampled_from([0, 20000, 65536])),
        draw(st.sampled_from([0, 30000, 65536])),
        draw(st.integers(1, rounds)),  # the rest are rounds after the calendar
    )


@settings(max_examples=150, deadline=None)
@given(markets())
def test_invariants_tiny_markets(market):
    model = LIS1Model(market, 0)
    model.run()
    check_invariants(market, model)


@settings(max_examples=40, deadline=None)
@given(markets())
def test_everyone_qualified_fills_when_no_friction(market):
    """Without waiting, missed deadlines, withdrawal or late marking, and with rounds enough
    for every list to be used up, an ad left with a vacancy has hired everyone on its list
    who is not hired elsewhere."""
    enough = len(market.app_applicant) + 1
    calm = dataclasses.replace(
        market,
        no_reply_q16=np.zeros(enough, dtype=np.int64),
        wait_q16=0,
        late_q16=0,
        withdraw_q16=0,
    )
    out = LIS1Model(calm, 0).run()
    hired = out.hired_ad >= 0
    # Deferred-acceptance-like outcome: an applicant not hired was never on a list of an ad
    # that still had a vacancy at the end.
    ptr, ranked = ranked_lists(calm, 0)
    hires = np.bincount(out.hired_ad[hired], minlength=calm.n_ads)
    for j in range(calm.n_ads):
        if hires[j] < calm.capacity[j]:
            assert hired[ranked[ptr[j] : ptr[j + 1]]].all()


def test_finished_models_are_freed(market):
    """Thousands of replications must not keep every model in memory (mesa issue #3179)."""
    import gc
    import weakref

    refs = []
    for rep in range(3):
        model = LIS1Model(market, rep, log_events=False)
        model.run()
        refs.append(weakref.ref(model))
        del model
    gc.collect()
    assert all(r() is None for r in refs)
