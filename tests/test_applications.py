"""The application model reproduces appendix 2 and the trusts' unique applicants."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lis1abm.market.applications import fit_ad_probability, trust_index


def test_expected_applications_fit(market, autumn):
    apps = market.applications
    want = np.array([a.applications for a in autumn.ads])
    assert np.all(np.abs(apps.expected_applications / want - 1) < 0.02)  # each ad within 2 %
    assert abs(apps.expected_applications.sum() / 10948 - 1) < 0.01  # total within 1 %
    unique = np.array([t.unique_applicants for t in autumn.trusts])
    several = np.array([t.ads > 1 for t in autumn.trusts])
    assert several.sum() == 5
    assert np.all(np.abs(apps.expected_unique[several] / unique[several] - 1) < 0.05)


def test_realised_applications_are_close(market, autumn):
    apps = market.applications
    n = np.diff(apps.ptr)
    assert n.min() >= 1  # every applicant applied somewhere
    assert abs(n.mean() - 10948 / 932) < 0.35
    per_ad = apps.per_ad(len(autumn.ads))
    want = np.array([a.applications for a in autumn.ads])
    # One draw: binomial noise of a few percent around the fitted expectation.
    assert np.all(np.abs(per_ad - want) < 5 * np.sqrt(want))
    tix = trust_index(autumn)
    unique = [len(set(market.app_applicant[tix[apps.ad] == t])) for t in range(len(autumn.trusts))]
    want_unique = [t.unique_applicants for t in autumn.trusts]
    assert np.all(np.abs(np.array(unique) - want_unique) < 5 * np.sqrt(want_unique))


def test_applications_are_well_formed(market):
    apps = market.applications
    for i in range(market.n_applicants):
        ads = apps.ad[apps.ptr[i] : apps.ptr[i + 1]]
        prefs = apps.pref[apps.ptr[i] : apps.ptr[i + 1]]
        assert (np.diff(ads) > 0).all()  # one application per ad, ascending
        assert sorted(prefs.tolist()) == list(range(len(ads)))  # preferences are a ranking


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.05, 1.0), min_size=2, max_size=4).filter(lambda q: sum(q) >= 1.01))
def test_ad_probability_fixed_point(q):
    q = np.array(q)
    r = fit_ad_probability(q)
    conditional = r / (1 - np.prod(1 - r))
    assert np.allclose(conditional, q, atol=1e-10)
