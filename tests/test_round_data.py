"""The round configs load, add up, and every kind of mistake gives a one-line located error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lis1abm.data.files import builtin_round, configs_dir, rounds_dir
from lis1abm.data.round import GROUPS, largest_remainder, load_round
from lis1abm.errors import ConfigError, UserError

AUTUMN = builtin_round("autumn2024")


def test_autumn_figures(autumn):
    assert autumn.totals == {
        "applicants": 932,
        "positions": 601,
        "ads": 29,
        "trusts": 22,
        "applications": 10948,
        "hired": 606,
    }
    assert sum(a.positions for a in autumn.ads) == 601
    assert sum(t.unique_applicants for t in autumn.trusts) == 9119
    assert [r.reply_window_days for r in autumn.calendar] == [4, 1, 1, 1, 1]
    assert autumn.groups["cross"][("Norway", "EEA+UK")] == (377, 251)
    by_country = {}
    for p in autumn.appendix4:
        n, h = by_country.get(p.education, (0, 0))
        by_country[p.education] = (n + p.applicants, h + p.hired)
    assert by_country["Poland"] == (191, 124)
    assert by_country["Czechia"] == (11, 8)


def test_derived_breakdowns_add_up(autumn):
    for name in ("gender", "age_group", "graduation_period", "wanted_job", "residence"):
        assert sum(g.applicants for g in autumn.breakdowns[name]) == 932, name
    assert [g.applicants for g in autumn.breakdowns["wanted_job"]] == [485, 177, 270]
    assert sum(g.hired for g in autumn.breakdowns["age_group"]) == 606


def test_spring_has_calendar_but_no_market():
    spring = load_round("spring2024")
    assert len(spring.calendar) == 5
    assert [r.reply_window_days for r in spring.calendar] == [3, 1, 4, 2, 1]
    assert not spring.has_market
    with pytest.raises(UserError, match="cannot be simulated"):
        spring.require_market()


def test_largest_remainder_is_exact():
    assert largest_remainder([0.52, 0.19, 0.29], 932) == [485, 177, 270]
    assert sum(largest_remainder([1, 1, 1], 10)) == 10


def _edited(tmp_path: Path, old: str, new: str, count: int = 1) -> Path:
    text = AUTUMN.read_text(encoding="utf-8")
    assert old in text, old
    path = tmp_path / "round.toml"
    path.write_text(text.replace(old, new, count), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        ("positions = 25\n", "positions = 26\n", "totals", "sum of ads.positions is 602"),
        ("applications = 10948\n", "applications = 10949\n", "totals", "ads.applications"),
        ("hired = 606\n", "hired = 607\n", "totals", "trusts.hired is 606"),
        (
            "unique_applicants = 557",
            "unique_applicants = 5570",
            "trusts[0].unique_applicants",
            "must lie between",
        ),
        ("[totals]\n", "[totals]\ncolour = 1\n", "totals.colour", "unknown key"),
        (
            "positions = 25\n",
            'positions = "25"\n',
            "ads[0].positions",
            'got "25"; allowed: an integer > 0',
        ),
        (
            'region = "Sør-Øst"',
            'region = "Sørøst"',
            "ads[0].region",
            'got "Sørøst"; allowed: one of "Sør-Øst", "Vest", "Midt-Norge", "Nord"',
        ),
        ("round = 2\n", "round = 7\n", "calendar[1].round", "expected 2"),
        (
            'university_trusts = ["Helse Bergen"]',
            'university_trusts = ["Haukeland"]',
            "faculties[1].university_trusts[0]",
            "trust 'Haukeland' is not in [[trusts]]",
        ),
        ('city = "Bergen"', 'city = "Oslo"', "faculties[1].city", "listed twice"),
        ('city = "Tromsø"', 'city = "Bodø"', "faculties[3].city", 'got "Bodø"; allowed: one of'),
        (
            'education = "Norway"\nnationality = "Norway"\nage_group = "30-39"',
            'education = "Norge"\nnationality = "Norway"\nage_group = "30-39"',
            "long_term_not_hired[13].education",
            'got "Norge"; allowed: one of "Norway", "EEA+UK", "Outside EEA"',
        ),
        (
            "after_calendar_rounds = 8\n",
            "after_calendar_rounds = -1\n",
            "round.after_calendar_rounds",
            "got -1; allowed: an integer in [0, 50]",
        ),
        (
            "after_calendar_rounds = 8\n",
            "after_calendar_rounds = 51\n",
            "round.after_calendar_rounds",
            "got 51; allowed: an integer in [0, 50]",
        ),
        (
            "after_calendar_rounds = 8\n",
            'after_calendar_rounds = "8"\n',
            "round.after_calendar_rounds",
            'got "8"; allowed: an integer in [0, 50]',
        ),
        ("after_calendar_rounds = 8\n", "", "round.after_calendar_rounds", "missing"),
    ],
)
def test_round_errors_name_file_and_key(tmp_path, old, new, key, problem):
    path = _edited(tmp_path, old, new)
    with pytest.raises(ConfigError) as info:
        load_round(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {key}: "), message
    assert problem in message


def test_faculties_and_table2(autumn):
    assert [f.city for f in autumn.faculties] == ["Oslo", "Bergen", "Trondheim", "Tromsø"]
    assert autumn.faculty("Bergen").university_trusts == ("Helse Bergen",)
    assert {f.region for f in autumn.faculties} == {"Sør-Øst", "Vest", "Midt-Norge", "Nord"}
    assert sum(c.count for c in autumn.long_term_not_hired) == 72
    assert len(autumn.education_countries) == len({p.education for p in autumn.appendix4})


def test_appendix4_must_match_report_groups(tmp_path):
    text = AUTUMN.read_text(encoding="utf-8")
    # Move one hire between two appendix 4 rows of different groups: totals still add up to
    # 606, but the nationality groups no longer match the report's table 1.
    rows = list(
        re.finditer(
            r'nationality = "(\w+)"\neducation = "([^"]+)"\napplicants = (\d+)\n'
            r"hired = (\d+)",
            text,
        )
    )
    a = next(m for m in rows if m.group(1) == "Norway" and int(m.group(4)) > 0)
    b = next(m for m in rows if m.group(1) == "Iran" and int(m.group(3)) > int(m.group(4)))
    a, b = sorted((a, b), key=lambda m: m.start())
    shift = {id(a): -1, id(b): +1} if a.group(1) == "Norway" else {id(a): +1, id(b): -1}
    new = (
        text[: a.start(4)]
        + str(int(a.group(4)) + shift[id(a)])
        + text[a.end(4) : b.start(4)]
        + str(int(b.group(4)) + shift[id(b)])
        + text[b.end(4) :]
    )
    path = tmp_path / "round.toml"
    path.write_text(new, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"groups\.nationality\.Norway: report says"):
        load_round(path)


def test_unknown_country(tmp_path):
    path = _edited(tmp_path, 'nationality = "Afghanistan"', 'nationality = "Atlantis"')
    with pytest.raises(ConfigError, match=r"appendix4\[0\]\.nationality: country 'Atlantis'"):
        load_round(path)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_round(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[round\nname=1", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_round(bad)
    with pytest.raises(UserError, match="unknown round 'autumn1999'"):
        load_round("autumn1999")


def test_every_shipped_config_loads():
    from lis1abm.params import load_params

    rounds = sorted(rounds_dir().glob("*.toml"))
    params = sorted((configs_dir() / "params").glob("*.toml"))
    assert rounds and params  # found at all
    for path in rounds:
        load_round(path)
    for path in params:
        load_params(path)


def test_groups_are_the_reports(autumn):
    assert set(autumn.countries.values()) == set(GROUPS)
    assert autumn.countries["Switzerland"] == "EEA+UK"  # counted with the EEA in the report


def test_used_facts_are_read_strictly(tmp_path):
    path = _edited(tmp_path, "more_than_five_share = 0.06", "more_than_five_share = 6")
    with pytest.raises(
        ConfigError,
        match=r"rounds_applied\.more_than_five_share: got 6; allowed: a finite number in \[0, 1\]",
    ):
        load_round(path)
    path = _edited(tmp_path, "[rounds_applied]", "[rounds_aplied]")
    with pytest.raises(ConfigError, match="rounds_aplied: unknown key"):
        load_round(path)
