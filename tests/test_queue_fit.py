"""The queue's fit and checks (lis1abm/calibration/queue_fit.py) on made-up chains: the
single-round acceptance read from the last round of a back-cast, the gaps judged with the
calibration's limits, and the search improving on its start."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lis1abm.calibration import queue_fit
from lis1abm.calibration.acceptance import LIMIT_PP
from lis1abm.calibration.queue_fit import (
    ACCEPTANCE,
    Targets,
    acceptance_gaps,
    acceptance_values,
    binomial_deviance,
    checks,
    fit,
    objective_terms,
)
from lis1abm.data.history import load_history, parse_round
from lis1abm.data.round import GROUPS
from lis1abm.queue import QueueSettings
from lis1abm.queue.sequence import ChainResult


@pytest.fixture(scope="module")
def targets():
    return Targets.of("autumn2024")


@pytest.fixture(scope="module")
def history():
    return load_history()


def made_up_rounds(labels: list[str], applicants: dict[str, float]) -> pd.DataFrame:
    """A round table with ``applicants`` per education group in every round, two thirds
    hired, and a tenth of the not hired with four or more rounds."""
    rows = []
    for t, label in enumerate(labels):
        for group in ("all", *GROUPS):
            n = sum(applicants.values()) if group == "all" else applicants[group]
            hired = round(2 * n / 3)
            rows.append(
                {
                    "round": t,
                    "label": label,
                    "season": parse_round(label)[0],
                    "counted": True,
                    "positions": 600,
                    "group": group,
                    "applicants": n,
                    "new": n,
                    "returning": 0,
                    "hired": hired,
                    "not_hired": n - hired,
                    "leaving": 0,
                    "long_term_not_hired": (n - hired) / 10,
                    "more_than_five_rounds": n / 20,
                }
            )
    return pd.DataFrame(rows)


def made_up_people(targets: Targets, last: int, hired_share: dict[str, float]) -> pd.DataFrame:
    """The last round's applicants as the report has them by education group, each group's
    first ``hired_share`` hired; everyone Norwegian and of the newest graduation period."""
    rows = []
    newest = targets.base.breakdowns["graduation_period"][0].group
    for group in GROUPS:
        n = targets.applicants[group]
        k = round(hired_share[group] * n)
        for i in range(n):
            rows.append(
                {
                    "education_group": group,
                    "nationality_group": "Norway",
                    "graduation_period": newest,
                    "outcome": "hired" if i < k else "waiting",
                    "ended": last,
                }
            )
    early = dict(rows[0], ended=last - 1)  # someone who ended earlier: not in the last round
    return pd.DataFrame([early, *rows])


def test_acceptance_reads_the_last_round_of_a_backcast(targets):
    """The hire rates are those of the people whose time ended in the last round, which must
    be the base round; a group without applicants has no rate."""
    rounds = made_up_rounds(
        ["spring2024", "autumn2024"], {"Norway": 1, "EEA+UK": 1, "Outside EEA": 1}
    )
    shares = {"Norway": 0.5, "EEA+UK": 0.25, "Outside EEA": 0.1}
    result = ChainResult(rounds, made_up_people(targets, 1, shares))
    rows = {
        group: (model, report) for _, _, group, model, report in acceptance_values(result, targets)
    }
    for group in GROUPS:
        model, report = rows[f"education: {group}"]
        n = targets.applicants[group]
        assert model == pytest.approx(round(shares[group] * n) / n)
        applicants, hired = targets.base.groups["education"][group]
        assert report == pytest.approx(hired / applicants)
    assert np.isnan(rows["nationality: EEA+UK"][0])
    assert len(rows) == 3 + 3 + len(targets.base.breakdowns["graduation_period"])
    with pytest.raises(ValueError, match="ends in spring2025"):
        acceptance_values(ChainResult(rounds.assign(label="spring2025"), result.people), targets)


def test_checks_judge_the_gaps_with_the_calibration_limits(targets, history):
    """A chain hiring each education group exactly at the report's rate is within the limit;
    one 3 points off misses the education limit (2 points) only there."""
    labels = history.rounds()[: history.rounds().index("autumn2024") + 1]
    rounds = made_up_rounds(labels, {"Norway": 300, "EEA+UK": 500, "Outside EEA": 100})
    report = {g: h / a for g, (a, h) in targets.base.groups["education"].items()}
    off = dict(report, **{"Outside EEA": report["Outside EEA"] + 0.03})
    last = int(rounds["round"].max())
    results = [ChainResult(rounds, made_up_people(targets, last, s)) for s in (report, off)]
    table = checks(results, history, targets)
    judged = table[table["figure"] == ACCEPTANCE].set_index("group")
    assert table.loc[table["figure"] != ACCEPTANCE, "gap_pp"].isna().all()
    assert (
        judged.loc[[f"education: {g}" for g in GROUPS], "limit_pp"] == LIMIT_PP["education"]
    ).all()
    gaps = judged.loc[[f"education: {g}" for g in GROUPS], "gap_pp"]
    assert abs(gaps["education: Norway"]) < 0.2  # the report's rate, to whole applicants
    assert gaps["education: Outside EEA"] == pytest.approx(1.5, abs=0.5)  # the mean of 0 and 3
    assert judged.loc["education: Outside EEA", "within_limit"]
    assert judged.loc["education: Outside EEA", "p95"] > judged.loc["education: Outside EEA", "p05"]


def test_objective_terms_are_zero_at_the_targets(targets, history):
    """The base round's applicants by education and nationality group as the report has
    them give those terms 0; a group 20 % too large gives a positive term, with a positive
    sign."""
    labels = history.rounds()[: history.rounds().index("autumn2024") + 1]
    rounds = made_up_rounds(labels, {g: float(n) for g, n in targets.applicants.items()})
    mean = queue_fit.mean_rounds(rounds.assign(chain=0))
    nationality = {g: tuple(map(float, f)) for g, f in targets.base.groups["nationality"].items()}
    terms, signs = objective_terms(mean, history, targets, nationality, {})
    for group in GROUPS:
        # the report's own applicants and hires by nationality: both terms 0
        assert terms[f"applicants autumn2024 nationality {group}"] == pytest.approx(0, abs=1e-9)
        assert terms[f"hire rate autumn2024 nationality {group}"] == pytest.approx(0, abs=1e-9)
        assert terms[f"applicants autumn2024 {group}"] == pytest.approx(0.0, abs=1e-9)
        # made_up_rounds hires two thirds, the report another share: a positive term
        rate = targets.base.groups["education"][group][1] / targets.applicants[group]
        assert terms[f"hire rate autumn2024 {group}"] > 0
        assert np.sign(signs[f"hire rate autumn2024 {group}"]) == np.sign(2 / 3 - rate)
    more = dict(targets.applicants, **{"Outside EEA": targets.applicants["Outside EEA"] * 1.2})
    mean = queue_fit.mean_rounds(made_up_rounds(labels, more).assign(chain=0))
    terms, signs = objective_terms(mean, history, targets, nationality, {})
    assert terms["applicants autumn2024 Outside EEA"] > 1
    assert signs["applicants autumn2024 Outside EEA"] > 0


def test_search_starts_from_the_settings_and_improves(monkeypatch, targets, history):
    """With the back-cast replaced by a made-up one whose applicants grow with the
    re-application (the report's at 0.7 for every group), the first evaluation is the
    settings given and the best is better; the same seed repeats the search exactly."""
    labels = history.rounds()[: history.rounds().index("autumn2024") + 1]

    shares = {g: h / a for g, (a, h) in targets.base.groups["education"].items()}

    def made_up_backcast(settings, seed, chains, history=None, pool=None):
        applicants = {
            g: targets.applicants[g] * settings.return_probability[g] / 0.7 for g in GROUPS
        }
        rounds = made_up_rounds(labels, applicants)
        people = made_up_people(targets, int(rounds["round"].max()), shares)
        return [ChainResult(rounds, people) for _ in chains]

    monkeypatch.setattr(queue_fit, "backcast_chains", made_up_backcast)
    start = QueueSettings(return_probability={"Norway": 0.4, "EEA+UK": 0.95, "Outside EEA": 0.5})
    found = fit(start, targets, seed=3, chains=1, evaluations=25)
    first = found.evaluations.iloc[0]
    assert first["return_probability.Norway"] == pytest.approx(0.4)
    assert found.evaluations["objective"].min() < first["objective"]
    assert sum(found.terms.values()) == pytest.approx(found.evaluations["objective"].min())
    again = fit(start, targets, seed=3, chains=1, evaluations=25)
    pd.testing.assert_frame_equal(again.evaluations, found.evaluations)
    # A subset searched: only its settings vary, the others keep the start's values.
    names = ["return_probability.EEA+UK", "return_probability.Outside EEA"]
    part = fit(start, targets, seed=3, chains=1, evaluations=8, names=names)
    assert [c for c in part.evaluations.columns if "." in c and c in queue_fit.FITTED] == names
    assert part.settings.return_probability["Norway"] == pytest.approx(0.4)
    assert part.evaluations["return_probability.EEA+UK"].nunique() > 1
    with pytest.raises(ValueError, match="not a fitted setting: 'colour'"):
        fit(start, targets, seed=3, chains=1, evaluations=2, names=["colour"])


def test_binomial_deviance_is_zero_at_the_observed_rate_and_grows_with_the_gap():
    assert binomial_deviance(261 / 322, 261, 322) == pytest.approx(0.0, abs=1e-12)
    near, far = binomial_deviance(0.83, 261, 322), binomial_deviance(0.86, 261, 322)
    assert 0 < near < far
    # about the squared gap over the binomial variance
    assert near == pytest.approx((0.83 - 261 / 322) ** 2 / (0.81 * 0.19 / 322), rel=0.1)


def test_last_round_by_nationality_counts_the_people_ending_there(targets):
    rounds = made_up_rounds(["spring2024", "autumn2024"], {g: 1 for g in GROUPS})
    people = made_up_people(targets, 1, {"Norway": 0.5, "EEA+UK": 0.5, "Outside EEA": 0.5})
    counts = queue_fit.last_round_by_nationality([ChainResult(rounds, people)] * 2)
    n = sum(targets.applicants.values())  # everyone Norwegian; one more ended earlier
    assert counts["Norway"][0] == n
    assert counts["Norway"][1] == sum(round(0.5 * a) for a in targets.applicants.values())
    assert counts["Outside EEA"] == (0.0, 0.0)


def test_acceptance_terms_cost_four_at_the_limit(targets, history):
    """The acceptance's gaps at the end of the back-cast are averaged over chains and enter
    the objective with sd half their limit: 0 at no gap, 4 at the limit, with the gap's sign;
    a group no chain has adds no term."""
    rounds = made_up_rounds(["spring2024", "autumn2024"], {g: 1 for g in GROUPS})
    report = {g: h / a for g, (a, h) in targets.base.groups["education"].items()}
    off = dict(report, **{"EEA+UK": report["EEA+UK"] - 0.04})  # 2 points off on average
    results = [ChainResult(rounds, made_up_people(targets, 1, s)) for s in (report, off)]
    gaps = acceptance_gaps(results, targets)
    assert gaps["education: EEA+UK"] == pytest.approx(-2.0, abs=0.2)
    assert abs(gaps["education: Norway"]) < 0.2
    assert np.isnan(gaps["nationality: EEA+UK"])  # everyone is Norwegian
    labels = history.rounds()[: history.rounds().index("autumn2024") + 1]
    mean = queue_fit.mean_rounds(made_up_rounds(labels, targets.applicants).assign(chain=0))
    nationality = {g: tuple(map(float, f)) for g, f in targets.base.groups["nationality"].items()}
    limit = LIMIT_PP["education"]
    gaps = {"education: EEA+UK": -limit, "education: Norway": 0.0, "nationality: EEA+UK": np.nan}
    terms, signs = objective_terms(mean, history, targets, nationality, gaps)
    assert terms["acceptance education: EEA+UK"] == pytest.approx(4.0)
    assert signs["acceptance education: EEA+UK"] == -limit
    assert terms["acceptance education: Norway"] == 0.0
    assert "acceptance nationality: EEA+UK" not in terms


def test_start_values_read_the_settings_and_the_calibrated_ranking():
    """A ranking weight the settings do not name starts at the one the rounds play with (the
    base round's calibrated weight); one they name, at theirs; a factor not named at 1."""
    from lis1abm.data.files import round_params_path
    from lis1abm.params import load_params

    calibrated = load_params(round_params_path("autumn2024")).ranking
    start = queue_fit.start_values(QueueSettings(ranking={"earlier_round_weight": 0.2}))
    assert start["ranking.education_weight.Norway"] == calibrated.education_weight["Norway"]
    assert start["ranking.earlier_round_weight"] == 0.2
    period = "2020-01..2022-02"  # a key with dots of its own
    deviation = start[f"ranking.graduation_period_deviation.{period}"]
    assert deviation == calibrated.graduation_period_deviation[period]
    assert start["return_factor_nationality.EEA+UK"] == 1.0
    values = {"ranking.nationality_weight.Outside EEA": 0.9, "return_decay": 1.0}
    settings = queue_fit.with_values(QueueSettings(), values)
    assert settings.ranking == {"nationality_weight.Outside EEA": 0.9}
    assert settings.return_decay == 1.0


def test_poisson_deviance_is_zero_at_the_report_and_finite_at_zero():
    """Zero where the model has the report's count; a model that never has a group the
    report counts costs a finite amount, not far above what a tenth of a person costs."""
    assert queue_fit.poisson_deviance(4.0, 4.0) == pytest.approx(0.0, abs=1e-12)
    at_zero, at_tenth = queue_fit.poisson_deviance(0.0, 4), queue_fit.poisson_deviance(0.1, 4)
    assert at_tenth < at_zero < 1.5 * at_tenth
    assert queue_fit.poisson_deviance(330.0, 322) < queue_fit.poisson_deviance(340.0, 322)
