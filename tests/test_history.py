"""The history of the LIS1 rounds: the positions the report's appendix 5 implies, the rounds in
order, and every kind of mistake in the file given as one line naming the file and the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lis1abm.data.files import builtin_history, configs_dir
from lis1abm.data.history import load_history, next_round
from lis1abm.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
# This checkout's file: the built-in one (lis1abm.configs) may be another checkout's where the
# package is installed in editable mode from there.
HISTORY = ROOT / "configs" / "history" / "lis1.toml"
TEXT = HISTORY.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def history():
    return load_history(HISTORY)


@pytest.mark.skipif(
    configs_dir().resolve() != (ROOT / "configs").resolve(),
    reason="the installed lis1abm.configs is another checkout's",
)
def test_builtin_file_is_the_default():
    assert builtin_history().is_file()
    assert load_history().rounds() == load_history(HISTORY).rounds()


def test_file_loads(history):
    assert history.name == "lis1"
    assert history.rounds()[0] == "spring2013"
    assert history.rounds()[-1] == "autumn2025"
    assert history.projection.positions_per_round == 609


def test_2025_has_609_per_round_as_the_report_says(history):
    # Vedlegg 5: 609 start 1 March 2025 (autumn 2024 round) and 609 start 1 September 2025
    # (spring 2025 round); a wrong sum of the appendix's additions changes either.
    assert history.positions("autumn2024") == 609
    assert history.positions("spring2025") == 609
    assert history.start_date("autumn2024").isoformat() == "2025-03-01"
    assert history.start_date("spring2025").isoformat() == "2025-09-01"


def test_475_per_round_before_spring_2020(history):
    before = history.rounds()[: history.rounds().index("spring2020")]
    assert len(before) == 14  # spring 2013 to autumn 2019
    assert {history.positions(r) for r in before} == {475}


def test_spring_2020_counts_the_temporary_positions(history):
    # 475 original + 19 Helse Nord + 100 temporary (18 months, started 1.9.2020 only).
    assert history.positions("spring2020") == 594
    assert history.entry("spring2020").temporary == 100
    assert history.positions("autumn2020") == 494
    assert sum(e.temporary for e in history.entries) == 100


def test_spring_2024_agrees_with_its_round_file(history):
    # configs/rounds/spring2024.toml derives 593 for 1.9.2024 from the same appendix.
    assert history.positions("spring2024") == 593


def test_rounds_are_consecutive(history):
    rounds = history.rounds()
    assert len(set(rounds)) == len(rounds)
    for earlier, later in zip(rounds, rounds[1:], strict=False):
        assert later == next_round(earlier)
    # Chapter 6: 24 rounds from spring 2013 to autumn 2024.
    assert rounds.index("autumn2024") - rounds.index("spring2013") + 1 == 24
    dates = [history.start_date(r) for r in rounds]
    assert dates == sorted(dates)


def test_advertised_differs_from_established(history):
    assert history.advertised("autumn2024") == 601
    assert history.advertised("spring2024") is None


def test_projection_after_the_last_round(history):
    assert history.positions("spring2030", project=True) == 609
    with pytest.raises(KeyError, match="spring2030"):
        history.positions("spring2030")


def test_figures_agree_with_the_autumn_2024_round(history, autumn):
    applicants = history.figure("applicants", "autumn2024").value
    hired = history.figure("hired", "autumn2024").value
    assert (applicants, hired) == (autumn.totals["applicants"], autumn.totals["hired"])
    (last_four,) = [f for f in history.find("applicants", round="autumn2024") if f.rounds]
    assert last_four.low <= applicants <= last_four.high
    for group, (n, h) in autumn.groups["education"].items():
        assert history.figure("applicants", "autumn2024", group=group).value == n
        if group != "Outside EEA":  # the report gives its share of the hired as a mean only
            share = history.figure("share_of_hired", "autumn2024", group=group).value
            assert round(h / hired, 2) == share
    share = history.figure("share_hired", "autumn2024").value
    assert round(hired / applicants, 2) == share


def test_derived_applicants_by_group_follow_the_changes(history):
    # Each derived count is autumn 2024's count taken back by the report's change.
    changes = [f for f in history.figures if f.name == "applicants_change"]
    assert len(changes) == 6
    for change in changes:
        now = history.figure("applicants", change.round, group=change.group)
        then = history.figure("applicants", change.since, group=change.group)
        assert then.derived
        assert then.value == round(now.value / (1 + change.value))


def test_check_command_reads_history_files(capsys, tmp_path):
    from lis1abm.cli import main

    with pytest.raises(SystemExit) as info:
        main(["check", str(HISTORY)])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"{HISTORY}: ok"
    bad = _edited(tmp_path, "value = 0.46", "value = 1.46")
    with pytest.raises(SystemExit) as info:
        main(["check", str(bad)])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    problem = "got 1.46; a share must lie in [0, 1]"
    assert err == f"lis1abm: error: {bad}: checks.figures[5].value: {problem}"


# --- mistakes: one line naming the file and the key ------------------------------------------


def _edited(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the file with the first ``old`` (a whole line or more) replaced by ``new``."""
    pattern = re.compile(rf"^{re.escape(old)}$", re.MULTILINE)
    assert pattern.search(TEXT), old
    path = tmp_path / "lis1.toml"
    path.write_text(pattern.sub(new, TEXT, count=1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "old, new, key, problem",
    [
        (
            'round = "spring2013"',
            'round = "spring2013"\ncolour = "red"',
            "positions[0].colour",
            "unknown key",
        ),
        (
            "positions = 494           # 475 + 19 (Helse Nord, 1.3.2021)",
            "positions = -494",
            "positions[15].positions",
            "got -494; allowed: an integer > 0",
        ),
        (
            # spring 2016 removed: autumn 2015 is followed by autumn 2016
            '[[positions]]\nround = "spring2016"\nseason = "spring"\nyear = 2016\n'
            "start_date = 2016-09-01\npositions = 475           # Vedlegg 5",
            "",
            "positions[6].round",
            "expected 'spring2016' after 'autumn2015'",
        ),
        (
            # autumn 2013 listed twice
            '[[positions]]\nround = "spring2014"',
            '[[positions]]\nround = "autumn2013"\nseason = "autumn"\nyear = 2013\n'
            'start_date = 2014-03-01\npositions = 475\n\n[[positions]]\nround = "spring2014"',
            "positions[2].round",
            "rounds must be listed once",
        ),
        (
            "value = 0.46",
            "value = 1.46",
            "checks.figures[5].value",
            "got 1.46; a share must lie in [0, 1]",
        ),
        (
            "start_date = 2014-03-01",
            "start_date = 2014-09-01",
            "positions[1].start_date",
            "autumn2013 starts 2014-03-01",
        ),
        ("low = 921", "low = 940", "checks.figures[1].low", "must not exceed high"),
        (
            'round = "autumn2024"\npositions = 601',
            'round = "autumn2044"\npositions = 601',
            "advertised[0].round",
            "unknown round 'autumn2044'",
        ),
    ],
)
def test_mistakes_give_one_line_naming_file_and_key(tmp_path, old, new, key, problem):
    path = _edited(tmp_path, old, new)
    with pytest.raises(ConfigError) as info:
        load_history(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {key}: "), message
    assert problem in message
    assert info.value.key == key


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_history(tmp_path / "none.toml")
