"""The synthetic applicants meet the report's counts exactly, with the documented dependencies."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lis1abm.market.population import build_population, graduation_table, ipf, round_table


@pytest.fixture(scope="module", params=[1, 2024])
def pop(request, autumn, params):
    return build_population(autumn, params, request.param)


def test_appendix4_pairs_exact(pop, autumn):
    counts = pop.groupby(["nationality", "education_country"]).size()
    for p in autumn.appendix4:
        assert counts[(p.nationality, p.education)] == p.applicants
    assert len(pop) == 932


@pytest.mark.parametrize(
    "name", ["gender", "age_group", "graduation_period", "wanted_job", "residence"]
)
def test_marginals_exact(pop, autumn, name):
    column = {
        "gender": "gender",
        "age_group": "age_group",
        "graduation_period": "graduation_period",
        "wanted_job": "wanted_job",
        "residence": "residence",
    }[name]
    counts = pop[column].value_counts()
    for g in autumn.breakdowns[name]:
        assert counts.get(g.group, 0) == g.applicants, (name, g.group)


def test_rounds_applied(pop):
    assert (pop["rounds_applied"] > 5).sum() == round(0.06 * 932)
    assert (pop["rounds_applied"] == 1).mean() > 0.5  # most are first-time applicants
    # Nobody has applied more often than the time since graduation allows (two rounds a year).
    assert (pop["rounds_applied"] - 1 <= np.floor(2 * pop["years_since_graduation"])).all()


def test_graduation_follows_the_reports_text(pop):
    newest = pop[pop["graduation_period"] == "2024-09..2025-02"]
    assert (newest["education_group"] == "Norway").sum() == round(0.79 * 222)
    second = pop[pop["graduation_period"] == "2024-03..2024-08"]
    assert (second["education_group"] == "EEA+UK").sum() == round(0.69 * 328)
    outside = pop[pop["education_group"] == "Outside EEA"]
    assert (outside["graduation_period"] == "2019 or earlier").mean() >= 0.85


def test_graduation_table_margins(autumn, params):
    table = graduation_table(autumn, params)
    assert table.sum(axis=1).tolist() == [322, 498, 112]
    assert table.sum(axis=0).tolist() == [222, 328, 125, 53, 57, 147]


def test_ages(pop):
    assert abs(pop["age"].mean() - 30.0) <= 0.5  # the report: mean 30
    for label, (lo, hi) in {
        "23-29": (23, 29),
        "30-39": (30, 39),
        "40-49": (40, 49),
        "50+": (50, 69),
    }.items():
        ages = pop.loc[pop["age_group"] == label, "age"]
        assert ages.between(lo, hi).all(), label
    by_period = pop.groupby("period_index")["age"].mean()
    assert by_period.is_monotonic_increasing  # older goes with earlier graduation


def test_proficiency(pop):
    assert pop["proficiency"].between(0, 1).all()
    norwegian = pop["nationality"] == "Norway"
    assert pop.loc[norwegian, "proficiency"].mean() > pop.loc[~norwegian, "proficiency"].mean()


def test_residence_and_home_region(pop):
    abroad = pop["residence"] != "Norway"
    assert (pop.loc[abroad, "home_region"] == "").all()
    assert (pop.loc[~abroad, "home_region"] != "").all()
    nordic = pop[pop["residence"] == "other Nordic"]
    assert nordic["nationality"].isin(["Denmark", "Sweden", "Finland", "Iceland"]).mean() > 0.5


def test_same_seed_same_population(autumn, params):
    a = build_population(autumn, params, 5)
    b = build_population(autumn, params, 5)
    c = build_population(autumn, params, 6)
    assert a.equals(b)
    assert not a["gender"].equals(c["gender"])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 40), min_size=2, max_size=4).flatmap(
        lambda rows: st.tuples(st.just(rows), st.lists(st.floats(0.1, 5), min_size=3, max_size=3))
    )
)
def test_round_table_keeps_margins(case):
    rows, weights = case
    rows = np.array(rows)
    total = int(rows.sum())
    cols = np.array([total // 3, total // 3, total - 2 * (total // 3)])
    prior = np.outer(np.ones(len(rows)), weights)
    fitted = ipf(prior, rows.astype(float), cols.astype(float)) if total else prior * 0
    out = round_table(fitted, rows, cols)
    assert (out >= 0).all()
    assert out.sum(axis=1).tolist() == rows.tolist()
    assert out.sum(axis=0).tolist() == cols.tolist()
