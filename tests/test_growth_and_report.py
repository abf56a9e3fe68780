"""Applicant growth (the scaled round, its checks, ids kept, bad values, the direction of its
effect on average) and the report experiment (its tables, statements and figures)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from lis1abm.cli import main
from lis1abm.data.round import GROUPS, check_totals
from lis1abm.errors import ConfigError
from lis1abm.experiments import draw_figures, load_experiment, run_experiment, write_results
from lis1abm.experiments.growth import EDUCATED_ABROAD, grow_applicants
from lis1abm.market.population import build_population, graduation_table
from lis1abm.report.compare import report_table

GROWTH = """
description = "a small growth experiment"
replications = 12
seed = 7
backend = "cpu"
figures = ["growth_hire_rate", "growth_not_hired"]

[[scenarios]]
name = "as 2024"

[[scenarios]]
name = "abroad +20%"
growth_educated_abroad = 0.2

[[scenarios]]
name = "Norway +20%"
growth_educated_in_norway = 0.2
"""


def write(tmp_path: Path, text: str, name: str = "growth") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def applicants(data, groups) -> int:
    return sum(p.applicants for p in data.appendix4 if data.countries[p.education] in groups)


# --- the grown round -----------------------------------------------------------------------


@pytest.mark.parametrize("abroad, norway", [(0.1, 0.0), (0.3, 0.0), (0.0, 0.2), (0.2, 0.3)])
def test_growth_scales_the_group_exactly_and_keeps_the_round_consistent(
    autumn, params, abroad, norway
):
    grown = grow_applicants(autumn, params, abroad=abroad, norway=norway)
    check_totals(grown)  # every loader check that ties totals together
    for groups, g in ((EDUCATED_ABROAD, abroad), (("Norway",), norway)):
        assert applicants(grown, groups) == round(applicants(autumn, groups) * (1 + g))
    n_old, n_new = autumn.totals["applicants"], grown.totals["applicants"]
    assert n_new == sum(p.applicants for p in grown.appendix4) > n_old
    assert sum(p.added for p in grown.appendix4) == n_new - n_old
    for old, new in zip(autumn.appendix4, grown.appendix4, strict=True):
        assert new.applicants >= old.applicants and new.hired == old.hired
    # Positions, hires and capacity stay; applications per applicant stay (within rounding).
    assert [a.positions for a in grown.ads] == [a.positions for a in autumn.ads]
    assert grown.totals["hired"] == autumn.totals["hired"]
    ratio = grown.totals["applications"] / n_new
    assert abs(ratio - autumn.totals["applications"] / n_old) < 1 / n_new
    # The population's graduation table has the grown rows; every marginal adds up.
    table = graduation_table(grown, params)
    assert list(table.sum(axis=1)) == [grown.groups["education"][g][0] for g in GROUPS]
    assert (
        table.sum(axis=0) == [p.applicants for p in grown.breakdowns["graduation_period"]]
    ).all()
    for name in ("gender", "age_group", "wanted_job", "residence", "graduation_period"):
        assert sum(r.applicants for r in grown.breakdowns[name]) == n_new


def test_no_growth_is_the_round_itself(autumn, params):
    assert grow_applicants(autumn, params) is autumn


def test_check_totals_catches_a_round_that_does_not_add_up(autumn, params):
    grown = grow_applicants(autumn, params, abroad=0.1)
    broken = dataclasses.replace(grown, totals=dict(grown.totals, applicants=932))
    with pytest.raises(ConfigError, match="appendix4.applicants"):
        check_totals(broken)
    ages = grown.breakdowns["age_group"]
    short = (dataclasses.replace(ages[0], applicants=ages[0].applicants - 1), *ages[1:])
    broken = dataclasses.replace(grown, breakdowns=dict(grown.breakdowns, age_group=short))
    with pytest.raises(ConfigError, match="breakdowns.age_group"):
        check_totals(broken)


def test_round_applicants_keep_their_ids(autumn, params):
    """The added applicants come after the round's, so the round's applicants keep their ids
    (and with them every draw keyed by id); most keep every attribute."""
    base = build_population(autumn, params, 2024)
    grown = build_population(grow_applicants(autumn, params, abroad=0.2), params, 2024)
    n = len(base)
    head = grown.iloc[:n]
    for column in ("id", "nationality", "education_country"):
        assert (head[column].to_numpy() == base[column].to_numpy()).all()
    assert set(grown.iloc[n:]["education_group"]) <= set(EDUCATED_ABROAD)
    # Rank-based assignments move at the margin only (partial common random numbers).
    assert (head["gender"].to_numpy() == base["gender"].to_numpy()).mean() > 0.95


@pytest.mark.parametrize(
    "extra, problem",
    [
        ("growth_educated_abroad = -0.1", "got -0.1; allowed: a finite number in [0, 1]"),
        ("growth_educated_in_norway = 1.5", "got 1.5; allowed: a finite number in [0, 1]"),
        ('growth_educated_abroad = "20 %"', 'got "20 %"; allowed: a finite number in [0, 1]'),
    ],
)
def test_bad_growth_is_one_line_naming_file_scenario_key(tmp_path, capsys, extra, problem):
    path = write(tmp_path, GROWTH + f'\n[[scenarios]]\nname = "bad"\n{extra}\n')
    with pytest.raises(SystemExit) as stop:
        main(["experiment", str(path), "--out", str(tmp_path)])
    _, err = capsys.readouterr()
    assert stop.value.code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    key = extra.split(" =")[0]
    assert f"{path}: scenarios[bad].{key}: " in err and problem in err


# --- the direction of growth, on average over replications --------------------------------


@pytest.fixture(scope="module")
def growth_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("growth")
    config = load_experiment(write(folder, GROWTH))
    result = run_experiment(config)
    return result, write_results(result, folder / "results")


def _mean(summary: pd.DataFrame, breakdown: str, group: str, metric: str) -> pd.Series:
    rows = summary[
        (summary["breakdown"] == breakdown)
        & (summary["group"] == group)
        & (summary["metric"] == metric)
    ]
    return rows.set_index("scenario")["mean"]


def test_more_applicants_lower_hire_rates_on_average(growth_run):
    """With the positions fixed, 20 % more applicants educated abroad lower the abroad-educated
    groups' hire rates on average over replications, and 20 % more Norway-educated lower the
    others' (the Norway-educated rank first); the added applicants are nearly all not hired
    (hires stay about the capacity). Averages, not per replication: one replication's
    interview noise can favour the group."""
    result, _ = growth_run
    s = result.summary
    for group in EDUCATED_ABROAD:
        rate = _mean(s, "education", group, "hire_rate")
        assert rate["abroad +20%"] < rate["as 2024"]
        assert rate["Norway +20%"] < rate["as 2024"]
    not_hired = _mean(s, "total", "all", "not_hired")
    applicants = _mean(s, "total", "all", "applicants")
    for scenario in ("abroad +20%", "Norway +20%"):
        added = applicants[scenario] - applicants["as 2024"]
        assert added > 50
        assert abs(not_hired[scenario] - not_hired["as 2024"] - added) < 0.05 * added


def test_growth_figures_drawn(growth_run):
    result, folder = growth_run
    written = draw_figures(folder)
    # The config's two figures, and those every experiment gets, as PNG and PDF.
    assert len(written) == 2 * len(result.meta["figure_files"])
    assert result.meta["figure_files"][:2] == ["growth_hire_rate", "growth_not_hired"]
    for name in ("growth_hire_rate", "growth_not_hired"):
        for fmt in ("png", "pdf"):
            assert (folder / f"{name}.{fmt}").stat().st_size > 1000


# --- the report experiment ----------------------------------------------------------------


@pytest.fixture(scope="module")
def report_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    config = load_experiment("reproduce_autumn2024")
    result = run_experiment(config, reps=16, backend="cpu")
    return result, write_results(result, folder)


def test_report_table_holds_the_report_and_the_model(report_run):
    result, folder = report_run
    report = pd.read_csv(folder / "report.csv")
    row = report.set_index(["breakdown", "group", "observed"])
    # The report's own figures: 261 of 322 Norway-educated hired, 61 not (figure 5.1).
    assert row.loc[("education", "Norway", "hired"), "report"] == 261
    assert row.loc[("education", "Norway", "not_hired"), "report"] == 61
    assert row.loc[("long_term_origin", "Norway x EEA+UK", "not_hired"), "report"] == 24
    judged = report[report["report"].notna() & (report["breakdown"] != "figure_4_3")]
    inside = (judged["p05"] <= judged["report"]) & (judged["report"] <= judged["p95"])
    assert (judged["inside_band"] == inside.map({True: "yes", False: "no"})).all()
    # Not hired = applicants - hired, band mirrored.
    hired = row.loc[("education", "EEA+UK", "hired")]
    not_hired = row.loc[("education", "EEA+UK", "not_hired")]
    assert not_hired["model_mean"] == pytest.approx(498 - hired["model_mean"])
    assert (not_hired["p05"], not_hired["p95"]) == (498 - hired["p95"], 498 - hired["p05"])


def test_report_statements_evaluated(report_run):
    """Figure 4.3's statements: each measure with hit or miss, on every replication."""
    _, folder = report_run
    statements = pd.read_csv(folder / "figure_4_3.csv")
    assert set(statements["statement"]) == {"a", "b", "c"}
    assert (statements["replications"] == 16).all()
    assert statements["hit"].dtype == bool
    shares = statements[statements["measure"].str.startswith("share of replications")]
    assert shares["model"].between(0, 1).all()


@pytest.mark.slow  # over 5 s on 2 cores (pytest --durations)
def test_report_figures_redrawn_from_saved_results(report_run):
    result, folder = report_run
    for f in folder.glob("*.p*"):
        if f.suffix in (".png", ".pdf"):
            f.unlink()
    written = draw_figures(folder)
    assert len(written) == 2 * len(result.meta["figure_files"])
    assert {f"{name}.png" for name in result.config.figures} <= {p.name for p in written}
    assert all(p.stat().st_size > 1000 for p in written)


def test_report_table_not_hired_rows():
    rows = [
        {
            "breakdown": "age_group",
            "group": "40-49",
            "applicants": 71,
            "report_hired": 14,
            "report_derived": True,
            "sim_hired_mean": 20.0,
            "sim_hired_p05": 15.0,
            "sim_hired_p95": 25.0,
        }
    ]
    table = report_table(rows, not_hired_of=("age_group",)).set_index("observed")
    assert table.loc["hired", "inside_band"] == "no" and table.loc["hired", "report_derived"]
    assert table.loc["not_hired", "report"] == 57
    assert (table.loc["not_hired", "p05"], table.loc["not_hired", "p95"]) == (46, 56)
    assert table.loc["not_hired", "inside_band"] == "no"


def test_unknown_table(tmp_path):
    text = GROWTH.replace('backend = "cpu"', 'backend = "cpu"\ntables = ["nope"]')
    with pytest.raises(ConfigError) as error:
        load_experiment(write(tmp_path, text))
    assert error.value.key == "tables[0]"
