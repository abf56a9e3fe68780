"""Figures any experiment gets, the rules told apart, and what a short calendar costs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lis1abm.data.round import load_round
from lis1abm.experiments import draw_figures, load_experiment, run_experiment, write_results
from lis1abm.experiments.overrides import settings, with_calendar
from lis1abm.experiments.tidy import round_end_days
from lis1abm.params import load_params
from lis1abm.plots.experiments import calendar_rounds, capacity_hire_rate

USER = """
description = "a user's own file: two rules at two capacities, no figures key"
replications = 3
seed = 1
backend = "cpu"

[[sweeps]]
name = "cascade {value}"
vary = "total_positions"
values = [601, 700]

[[sweeps]]
name = "deferred acceptance {value}"
vary = "total_positions"
values = [601, 700]
set = { allocation = "deferred_acceptance" }
"""

CALENDAR = """
description = "a short calendar, alone and with the rounds after it"
replications = 3
seed = 2
backend = "cpu"

[[sweeps]]
name = "{value} rounds, none after"
series = "calendar alone"
vary = "calendar_rounds"
values = [1, 3]
set = { after_calendar_rounds = 0 }

[[sweeps]]
name = "{value} rounds, default after"
series = "calendar + after"
vary = "calendar_rounds"
values = [1, 3]
"""


def run(tmp_path, text: str, name: str):
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    result = run_experiment(load_experiment(path))
    return result, write_results(result, tmp_path / "out")


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    return run(tmp_path_factory.mktemp("user"), USER, "mine")


def test_a_users_file_without_figures_gets_them(user):
    """No ``figures`` key: a figure per breakdown kept and the paired effects, listed in
    meta.json as the experiment's files."""
    result, folder = user
    written = {p.name for p in draw_figures(folder)}
    expected = {"effects", *(f"scenarios_{b}" for b in result.config.breakdowns)}
    assert {name.removesuffix(".png") for name in written if name.endswith(".png")} == expected
    meta = json.loads((folder / "meta.json").read_text())
    assert set(meta["figure_files"]) == expected


def _legend(figure) -> list[str]:
    return [t.get_text() for ax in figure.axes if ax.get_legend() for t in ax.get_legend().texts]


def test_allocation_rules_are_named_and_never_joined(user):
    """Two rules in one sweep: a line per rule (its own style), the rules in the legend."""
    result, _ = user
    scenarios = result.meta["scenarios"]
    figure = capacity_hire_rate(result.summary, scenarios)
    assert {"offer cascade", "deferred acceptance"} <= set(_legend(figure))
    ax = figure.axes[0]
    drawn = [
        line for line in ax.get_lines() if len(line.get_xdata()) > 1 and line.get_linestyle() != ":"
    ]  # the positions of 2024 and 2025 are dotted
    # Norway, EEA+UK, Outside EEA and all: once per rule, each line 2 points (601, 700).
    assert len(drawn) == 8 and {line.get_linestyle() for line in drawn} == {"-", "--"}
    from lis1abm.plots.scenarios import breakdown_figure

    labels = _legend(breakdown_figure(result.summary, scenarios, "education"))
    assert "deferred acceptance 700 [deferred acceptance]" in labels


def test_round_end_days_of_autumn_2024():
    """Offers 6, 13, 19, 26 Nov and 3 Dec with windows 4, 1, 1, 1, 1 days: the marking days
    5, 8, 14, 21 and 28 days after the first offer; the rounds after, a week apart."""
    data = with_calendar(load_round("autumn2024"), after_calendar_rounds=2)
    s = settings(data, load_params())
    assert round_end_days(s) == [5, 9, 15, 22, 29, 36, 43]


@pytest.fixture(scope="module")
def calendar(tmp_path_factory):
    return run(tmp_path_factory.mktemp("calendar"), CALENDAR, "cal")


def test_time_to_fill_and_rounds_played(calendar):
    """One calendar round alone: one round played, hiring over on day 5 (4-day window, the
    marking day after it); the rounds after the calendar play on and take longer."""
    result, _ = calendar
    s = result.summary.set_index(["scenario", "breakdown", "group", "metric"])
    assert s.loc[("1 rounds, none after", "cascade", "all", "rounds_played"), "mean"] == 1
    assert s.loc[("1 rounds, none after", "cascade", "all", "days_to_fill"), "mean"] == 5
    after = s.loc[("1 rounds, default after", "cascade", "all", "rounds_played"), "mean"]
    assert after > 1
    days = s.loc[("1 rounds, default after", "cascade", "all", "days_to_fill"), "mean"]
    assert days > 5


def test_calendar_rounds_draws_no_two_series_alike(calendar):
    """Positions open after the calendar are the same with or without the rounds after it
    (they come later): drawn once, beside the positions open at the end; every panel's
    lines differ, and time to fill and rounds played are drawn."""
    result, _ = calendar
    figure = calendar_rounds(result.summary, result.meta["scenarios"])
    for ax in figure.axes:
        lines = [np.asarray(line.get_ydata(), float) for line in ax.get_lines()]
        lines = [y for y in lines if len(y) > 1]
        assert len(lines) >= 2
        for i in range(len(lines)):
            for j in range(i):
                assert not np.array_equal(lines[i], lines[j]), ax.get_ylabel()
    labels = " ".join(ax.get_ylabel() for ax in figure.axes)
    assert "rounds played" in labels and "time to fill" in labels
