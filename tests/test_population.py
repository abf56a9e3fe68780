"""The synthetic applicants meet the report's counts exactly, with the documented dependencies."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lis1abm.data.files import builtin_round
from lis1abm.data.round import STUDY_CITIES, largest_remainder
from lis1abm.market.population import (
    build_population,
    graduation_table,
    ipf,
    long_term_age_group,
    long_term_minimum,
    round_table,
)
from lis1abm.params.model import with_overrides


@pytest.fixture(scope="module", params=[1, 2024])
def pop(request, autumn, params):
    return build_population(autumn, params, request.param)


def test_appendix4_pairs_exact(pop, autumn):
    counts = pop.groupby(["nationality", "education_country"]).size()
    for p in autumn.appendix4:
        assert counts[(p.nationality, p.education)] == p.applicants
    assert len(pop) == 932


# The round file as written (not as the loader turns it into counts): the report's figures.
ROUND_FILE = tomllib.loads(builtin_round("autumn2024").read_text(encoding="utf-8"))
BREAKDOWNS = ROUND_FILE["breakdowns"]


@pytest.mark.parametrize("name", ["gender", "age_group", "graduation_period"])
def test_marginal_counts_are_the_round_files(pop, name):
    """Where the round file gives applicant counts (gender: Tabell 1; graduation period:
    chapter 3.1.3; age group: derived in the file from the report's percentages), the
    population has exactly those counts and no applicant outside those groups. Tolerance
    zero: the counts are whole numbers the population is built to meet exactly."""
    want = {e["group"]: e["applicants"] for e in BREAKDOWNS[name]}
    assert pop[name].value_counts(dropna=False).to_dict() == want


SHARES = [
    *(("wanted_job", e["group"], e["applicants_share"]) for e in BREAKDOWNS["wanted_job"]),
    *(
        ("residence", e["group"], e["applicants_share"])
        for e in BREAKDOWNS["residence"]
        if "applicants_share" in e
    ),
    ("age_group", "23-29", ROUND_FILE["ages"]["under30_share_of_applicants"]),
]


@pytest.mark.parametrize(("name", "group", "share"), SHARES, ids=lambda x: str(x))
def test_marginal_shares_are_the_reports(pop, name, group, share):
    """Where the report gives a share of the applicants as a whole percentage (wanted job:
    Tabell 3; residence: chapter 7, Norway and other Nordic; under 30: 5.1.4), the
    population's share is that percentage to within half a point: the report's rounding, so
    that the population's share printed as the report prints it is the report's figure. A
    whole number of applicants is at most 1 / 932 = 0.11 points from any share, well inside
    the half point."""
    assert abs((pop[name] == group).mean() - share) <= 0.005, (name, group)


def test_residence_groups_hold_their_not_hired(pop):
    """The report gives no applicant share for residence in other EEA countries and outside
    the EEA, only the not hired (chapter 5); each group has at least as many applicants as
    not hired, and together they hold what the two shares leave (100 - 95 - 3 = 2 %, to
    within the two roundings: 1 to 3 %)."""
    counts = pop["residence"].value_counts()
    for e in BREAKDOWNS["residence"]:
        assert counts.get(e["group"], 0) >= e["not_hired"], e["group"]
    rest = pop["residence"].isin(["other EEA", "outside EEA"]).mean()
    assert 0.01 <= rest <= 0.03


def test_rounds_applied(pop):
    assert (pop["rounds_applied"] > 5).sum() == round(0.06 * 932)
    assert (pop["rounds_applied"] == 1).mean() > 0.5  # most are first-time applicants
    # Nobody has applied more often than the time since graduation allows (two rounds a year).
    assert (pop["rounds_applied"] - 1 <= np.floor(2 * pop["years_since_graduation"])).all()


def test_table2_is_feasible(pop, autumn, params):
    """Every row (education x nationality) and every age group of table 2 has more applicants
    with four or more rounds than table 2's not hired, and as many as the configured minimum;
    the report's 6 % with more than five rounds is kept."""
    long = pop[pop["rounds_applied"] >= 4]
    need = long_term_minimum(autumn, params.population.long_term_hire_ratio)
    rows: dict = {}
    ages: dict = {}
    for c in autumn.long_term_not_hired:
        rows[(c.education, c.nationality)] = rows.get((c.education, c.nationality), 0) + c.count
        age = long_term_age_group(autumn, c.age_group)
        ages[age] = ages.get(age, 0) + c.count
    assert sum(rows.values()) == 72
    for (edu, nat), count in rows.items():
        have = ((long["education_group"] == edu) & (long["nationality_group"] == nat)).sum()
        want = sum(v for (e, n, _), v in need.items() if (e, n) == (edu, nat))
        assert have >= want > count, (edu, nat)
    for age, count in ages.items():
        want = sum(v for (_, _, a), v in need.items() if a == age)
        assert (long["age_group"] == age).sum() >= want > count, age
    assert (pop["rounds_applied"] > 5).sum() == round(0.06 * 932)


def test_long_term_minimum(autumn):
    """count / (1 - h) rounded up, h = ratio x the row's hire share; table 2's "50-59" is the
    population's "50+"."""
    assert long_term_age_group(autumn, "50-59") == "50+"
    assert long_term_age_group(autumn, "30-39") == "30-39"
    assert sum(long_term_minimum(autumn, 0.0).values()) == 72
    need = long_term_minimum(autumn, 0.5)
    # Norway x Norway: 253 of 309 hired, h = 0.409; 3 not hired need ceil(3 / 0.591) = 6.
    assert need[("Norway", "Norway", "30-39")] == 6
    assert sum(need.values()) > 72


def test_study_city(pop, autumn, params):
    """Only the Norway-educated have a study city, with exactly the configured shares; its
    region is the faculty's, and a home region follows it often."""
    norway = pop["education_group"] == "Norway"
    assert (pop.loc[~norway, "study_city"] == "").all()
    assert (pop.loc[~norway, "study_region"] == "").all()
    counts = pop.loc[norway, "study_city"].value_counts()
    shares = [params.population.study_city_shares[c] for c in STUDY_CITIES]
    want = largest_remainder(shares, int(norway.sum()))
    assert [counts.get(c, 0) for c in STUDY_CITIES] == want
    region = {f.city: f.region for f in autumn.faculties}
    assert (pop.loc[norway, "study_region"] == pop.loc[norway, "study_city"].map(region)).all()
    resident = norway & (pop["residence"] == "Norway")
    same = (pop.loc[resident, "home_region"] == pop.loc[resident, "study_region"]).mean()
    assert same > params.population.stay_in_study_region


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


def test_men_are_older_as_the_link_says(autumn, params):
    """The gender-age link moves only gender: counts exact, men older the stronger the link,
    every other column as without it; link 0 is gender independent of age."""

    def with_link(link: float):
        return build_population(
            autumn, with_overrides(params, {"population.men_age_link": link}), 3
        )

    independent, linked, strong = with_link(0.0), with_link(0.09), with_link(1.0)
    gaps = []
    for pop in (independent, linked, strong):
        assert (pop["gender"] == "men").sum() == 348
        men = pop["gender"] == "men"
        gaps.append(pop.loc[men, "age"].mean() - pop.loc[~men, "age"].mean())
        others = pop.drop(columns="gender")
        assert others.equals(independent.drop(columns="gender"))
    assert abs(gaps[0]) < 1.0  # independent: only sampling noise
    assert gaps[0] < gaps[1] < gaps[2]
    assert gaps[2] > 4.0


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
