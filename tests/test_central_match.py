"""The central match and stability: deferred acceptance against the `matching` library, no
blocking pairs after deferred acceptance, the blocking-pair counter against a brute-force
count (tiny markets, and the cascade's outcome on the full market), and the central_match
experiment (its config, a bad ``allocation``, a small run with common random numbers)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matching.games import HospitalResident
from test_cascade import markets

from lis1abm import engine, rules
from lis1abm.abm.model import LIS1Model
from lis1abm.cli import main
from lis1abm.engine.deferred_acceptance import run_deferred_acceptance
from lis1abm.engine.stability import MEASURES, RANK_TOP, allocation_measures
from lis1abm.errors import ConfigError
from lis1abm.experiments import load_experiment, run_experiment
from lis1abm.market.ranking import Market, ranked_lists
from lis1abm.outcomes.tally import Tally
from lis1abm.rng import Stream, u16

# -- the preferences, independently of the engine ------------------------------------------


def replication_preferences(market: Market, rep: int):
    """One replication's preferences from the market's own Python functions (not the engine):
    each applicant's ads in preference order, each ad's ranked list (applicant -> place, 0 =
    top; :func:`ranked_lists`) and who has withdrawn (the Mesa model's draw)."""
    apps = market.applications
    applicant_prefs = []
    for i in range(market.n_applicants):
        ads = apps.ad[apps.ptr[i] : apps.ptr[i + 1]]
        applicant_prefs.append(ads[np.argsort(apps.pref[apps.ptr[i] : apps.ptr[i + 1]])].tolist())
    ptr, ranked = ranked_lists(market, rep)
    ad_rank = [
        {int(i): k for k, i in enumerate(ranked[ptr[j] : ptr[j + 1]])} for j in range(market.n_ads)
    ]
    ids = np.arange(market.n_applicants)
    withdrawn = rules.has_withdrawn(
        u16(market.seed, rep, Stream.WITHDRAWAL, ids, 0), market.withdraw_q16
    )
    return applicant_prefs, ad_rank, np.asarray(withdrawn, dtype=bool)


def brute_force_blocking(market: Market, rep: int, hired_ad: np.ndarray) -> tuple[int, int]:
    """Blocking pairs and applicants in one, by the definition, pair by pair."""
    prefs, ad_rank, withdrawn = replication_preferences(market, rep)
    hires = [
        [i for i in range(market.n_applicants) if hired_ad[i] == j] for j in range(market.n_ads)
    ]
    pairs = applicants = 0
    for i in range(market.n_applicants):
        if withdrawn[i]:
            continue
        mine = 0
        current = prefs[i].index(hired_ad[i]) if hired_ad[i] >= 0 else len(prefs[i])
        for j in prefs[i][:current]:  # the ads i prefers to their job
            if i not in ad_rank[j]:
                continue  # i is not on j's ranked list
            room = len(hires[j]) < market.capacity[j]  # an ad without positions has none
            if room or (hires[j] and ad_rank[j][i] < max(ad_rank[j][h] for h in hires[j])):
                mine += 1
        pairs += mine
        applicants += mine > 0
    return pairs, applicants


def library_match(market: Market, rep: int, optimal: str) -> np.ndarray:
    """Deferred acceptance by the `matching` library (HospitalResident): each applicant's ad,
    -1 if none. Withdrawn applicants are not in the game; each side lists only the other side's
    players it finds acceptable (an applicant not on an ad's list is not acceptable to it)."""
    prefs, ad_rank, withdrawn = replication_preferences(market, rep)
    hospitals = {}
    for j in range(market.n_ads):
        listed = sorted((k, i) for i, k in ad_rank[j].items() if not withdrawn[i])
        if market.capacity[j] > 0 and listed:
            hospitals[j] = [i for _, i in listed]
    residents = {}
    for i in range(market.n_applicants):
        mine = [j for j in prefs[i] if j in hospitals and i in ad_rank[j]]
        if not withdrawn[i] and mine:
            residents[i] = mine
    out = np.full(market.n_applicants, -1, dtype=np.int64)
    if not residents:
        return out
    game = HospitalResident.create_from_dictionaries(
        residents, hospitals, {j: int(market.capacity[j]) for j in hospitals}
    )
    for hospital, matched in game.solve(optimal=optimal).items():
        for resident in matched:
            out[resident.name] = hospital.name
    return out


def measures_of(market: Market, reps, hired_ad: np.ndarray) -> np.ndarray:
    arrays = engine.flatten(market)
    return allocation_measures(arrays, market.seed, reps, engine.param_rows(market), hired_ad)


# -- deferred acceptance -------------------------------------------------------------------


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(markets(), st.integers(0, 2**32 - 1))
def test_deferred_acceptance_equals_the_matching_library(market, rep):
    """Both proposing sides give exactly the `matching` library's allocation, on tiny markets
    with unqualified applicants, withdrawals, ads without positions and shared interviews."""
    arrays = engine.flatten(market)
    ap, hp = run_deferred_acceptance(arrays, market.seed, [rep], engine.param_rows(market))
    assert np.array_equal(ap[0], library_match(market, rep, "resident"))
    assert np.array_equal(hp[0], library_match(market, rep, "hospital"))


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(markets(), st.integers(0, 2**32 - 1))
def test_deferred_acceptance_leaves_no_blocking_pairs(market, rep):
    """Both allocations are stable (no blocking pair, by the engine's counter and by brute
    force), respect capacities, hire only from the ranked lists and never a withdrawn
    applicant; every applicant likes the applicant-proposing one at least as well."""
    arrays = engine.flatten(market)
    ap, hp = run_deferred_acceptance(arrays, market.seed, [rep], engine.param_rows(market))
    prefs, ad_rank, withdrawn = replication_preferences(market, rep)
    for hired in (ap[0], hp[0]):
        assert measures_of(market, [rep], hired[None])[0, :2].tolist() == [0, 0]
        assert brute_force_blocking(market, rep, hired) == (0, 0)
        assert (np.bincount(hired[hired >= 0], minlength=market.n_ads) <= market.capacity).all()
        for i in np.flatnonzero(hired >= 0):
            assert i in ad_rank[hired[i]] and not withdrawn[i]
    for i in range(market.n_applicants):
        rank = [
            p.index(h) if h >= 0 else len(p)
            for p, h in ((prefs[i], ap[0][i]), (prefs[i], hp[0][i]))
        ]
        assert rank[0] <= rank[1]


def test_deferred_acceptance_on_the_full_market(market):
    """On autumn 2024: no blocking pairs over 20 replications (engine counter), none by brute
    force on two, and the same applicant-proposing allocation as the `matching` library."""
    arrays = engine.flatten(market)
    reps = np.arange(20)
    ap, hp = run_deferred_acceptance(arrays, market.seed, reps, engine.param_rows(market))
    assert not measures_of(market, reps, ap)[:, :2].any()
    assert not measures_of(market, reps, hp)[:, :2].any()
    for r in (0, 1):
        assert brute_force_blocking(market, r, ap[r]) == (0, 0)
    assert np.array_equal(ap[0], library_match(market, 0, "resident"))


# -- the blocking-pair counter ------------------------------------------------------------


def random_allocation(market: Market, rep: int, rng: np.random.Generator) -> np.ndarray:
    """A feasible allocation drawn at random: applicants in random order take a random ad whose
    list has them and which has room, or stay unhired."""
    prefs, ad_rank, withdrawn = replication_preferences(market, rep)
    hired = np.full(market.n_applicants, -1, dtype=np.int64)
    room = market.capacity.copy()
    for i in rng.permutation(market.n_applicants):
        options = [j for j in prefs[i] if i in ad_rank[j] and room[j] > 0]
        if withdrawn[i] or not options or rng.random() < 0.2:
            continue
        hired[i] = options[rng.integers(len(options))]
        room[hired[i]] -= 1
    return hired


@settings(max_examples=60, deadline=None)
@given(markets(), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_blocking_pairs_equal_brute_force_on_tiny_markets(market, rep, draw):
    """The engine's counter equals the brute-force count on random feasible allocations and on
    the cascade's outcome (Mesa model)."""
    hired = random_allocation(market, rep, np.random.default_rng(draw))
    cascade = LIS1Model(market, rep).run().hired_ad
    for allocation in (hired, cascade):
        got = measures_of(market, [rep], allocation[None])[0, :2]
        assert tuple(got) == brute_force_blocking(market, rep, allocation)


def test_cascade_blocking_pairs_and_ranks_equal_brute_force_on_the_full_market(market):
    """The cascade's outcome on autumn 2024 (CPU engine, three replications): blocking pairs,
    applicants in one and the hires at each preference rank equal a count by hand, and there
    are blocking pairs (the cascade is not stable)."""
    arrays = engine.flatten(market, Tally(market))
    reps = [0, 1, 2]
    out = engine.run_cpu(arrays, market.seed, reps, engine.param_rows(market), keep_applicants=True)
    got = allocation_measures(arrays, market.seed, reps, engine.param_rows(market), out.hired_ad)
    prefs, _, _ = replication_preferences(market, 0)
    for b, r in enumerate(reps):
        hired = out.hired_ad[b]
        pairs, applicants = brute_force_blocking(market, r, hired)
        assert pairs > 0
        ranks = np.array([prefs[i].index(hired[i]) + 1 for i in np.flatnonzero(hired >= 0)])
        expected = [pairs, applicants]
        expected += [int(np.sum(ranks == k)) for k in range(1, RANK_TOP + 1)]
        expected += [int(np.sum(ranks > RANK_TOP)), int(ranks.sum())]
        assert got[b].tolist() == expected, dict(zip(MEASURES, got[b].tolist(), strict=True))


# -- the experiment ----------------------------------------------------------------------


def test_central_match_config_loads():
    config = load_experiment("central_match")
    allocations = [s.allocation for s in config.scenarios]
    assert "cascade" in allocations and "deferred_acceptance" in allocations
    assert {"stability", "preference_rank", "proposing_side"} <= set(config.breakdowns)


def test_bad_allocation_is_one_line_naming_file_scenario_key(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(
        'description = "d"\nreplications = 2\nseed = 1\n'
        '[[scenarios]]\nname = "central"\nallocation = "lottery"\n'
    )
    with pytest.raises(SystemExit) as stop:
        main(["experiment", str(path), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f'{path}: scenarios[central].allocation: got "lottery"; allowed: one of' in err
    with pytest.raises(ConfigError) as error:
        load_experiment(path)
    assert error.value.key == "scenarios[central].allocation"


def test_central_match_run(tmp_path):
    """Three replications of central_match: deferred acceptance has no blocking pairs and
    keeps no cascade rounds; the cascade has blocking pairs; the applicant- vs
    hospital-proposing difference is the same in every scenario (it depends only on the
    shared preferences: common random numbers); hire counts add up to the positions filled."""
    config = load_experiment("central_match")
    result = run_experiment(config, reps=3, backend="cpu")
    t = result.table.astype({c: str for c in ("scenario", "breakdown", "group", "metric")})
    da = [s.name for s in config.scenarios if s.allocation == "deferred_acceptance"][0]
    cascade = config.scenarios[0].name
    pairs = t[t["metric"] == "blocking_pairs"].set_index(["scenario", "replication"])["value"]
    assert (pairs.loc[da] == 0).all() and (pairs.loc[cascade] > 0).all()
    rounds = t[(t["scenario"] == da) & (t["breakdown"] == "cascade")]
    assert set(rounds["metric"]) == {"unfilled"}
    differ = t[t["metric"] == "applicants_differ"].pivot(
        index="replication", columns="scenario", values="value"
    )
    assert (differ.nunique(axis=1) == 1).all()
    for name in (da, cascade):
        mine = t[t["scenario"] == name]
        hired = mine[(mine["breakdown"] == "total") & (mine["metric"] == "hired")]["value"]
        by_rank = mine[(mine["breakdown"] == "preference_rank") & (mine["metric"] == "hired")]
        assert by_rank.groupby("replication")["value"].sum().tolist() == hired.tolist()
    s = result.summary
    mean_rank = s[(s["metric"] == "mean_rank")].set_index("scenario")["mean"]
    assert mean_rank[da] < mean_rank[cascade]


def test_no_experiment_script_shadows_the_standard_library():
    """Python puts a script's folder first on the module path, so experiments/calendar.py
    would stand in for the standard library's calendar (pandas imports it) in every script
    there."""
    import sys
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "experiments"
    scripts = {p.stem for p in folder.glob("*.py")}
    assert scripts and not scripts & set(sys.stdlib_module_names)
