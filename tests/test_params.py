"""The parameter file's validation: every bad value is one line naming file, key, value and
what is allowed, in ``load_params`` and on the command line, before anything runs."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from lis1abm.cli import main
from lis1abm.data.files import rounds_dir
from lis1abm.engine.layout import flatten
from lis1abm.errors import ConfigError
from lis1abm.market.ranking import SCORE_UNIT, build_market
from lis1abm.outcomes.tally import Tally
from lis1abm.params import DEFAULT_PARAMS, load_params, with_overrides
from lis1abm.params.model import KEY_ROOM_SDS, RANKING_TERMS, RANKING_WEIGHT_MAX, ParamFile

GROUPS_OLD = '{ "Norway" = 0.85, "EEA+UK" = 0.3, "Outside EEA" = 0.5 }'

# (old text of the default file, new text, dotted key, a fragment of the problem)
BAD_VALUES = [
    (
        "proficiency_weight = 0.5",
        "proficiency_weight = nan",
        "ranking.proficiency_weight",
        "got nan; allowed: a finite number in [-1500, 1500] (score sds)",
    ),
    (
        "late_marking_probability = 0.02",
        "late_marking_probability = inf",
        "behaviour.late_marking_probability",
        "got inf; allowed: a finite number in [0, 1] (probability)",
    ),
    (
        "age_weight_per_decade = -0.4",
        "age_weight_per_decade = -inf",
        "ranking.age_weight_per_decade",
        "got -inf; allowed: a finite number in [-1500, 1500]",
    ),
    (
        '"Outside EEA" = [0.2, 0.2, 0.5, 10.0]',
        '"Outside EEA" = [0.2, nan, 0.5, 10.0]',
        "population.graduation_prior.Outside EEA[1]",
        "got nan",
    ),
    (
        "proficiency_weight = 0.5",
        "proficiency_weight = 50000",
        "ranking.proficiency_weight",
        "got 50000; allowed: a finite number in [-1500, 1500] (score sds)",
    ),
    (
        "late_marking_probability = 0.02",
        "late_marking_probability = 1.5",
        "behaviour.late_marking_probability",
        "got 1.5; allowed: a finite number in [0, 1] (probability)",
    ),
    (
        "breadth_sd = 1.0",
        "breadth_sd = -1.0",
        "applications.breadth_sd",
        "got -1.0; allowed: a finite number in [0, 2] (logits)",
    ),
    (
        "years_before_2020_mean = 7.0",
        "years_before_2020_mean = 0",
        "population.years_before_2020_mean",
        "got 0; allowed: a finite number in (0, 50] (years)",
    ),
    (
        "taste_scale = 1.0",
        'taste_scale = "high"',
        "applications.taste_scale",
        'got "high"; allowed: a finite number in [0, 10] (logits)',
    ),
    (
        "repeat_probability = 0.35",
        "repeat_probability = true",
        "population.repeat_probability",
        "got true; allowed",
    ),
    (
        '"Norway" = [6.0, 2.0, 1.5, 1.0]',
        '"Norway" = [6.0, 2.0, 1.5]',
        "population.graduation_prior.Norway",
        "allowed: a list of 4 finite numbers, each in [0, 1000] (unitless)",
    ),
    (
        '"Norway" = [6.0, 2.0, 1.5, 1.0]',
        '"Norway" = [0, 0, 0, 0]',
        "population.graduation_prior.Norway",
        "must not all be zero",
    ),
    (
        'rule = "report_hires"',
        'rule = "seats"',
        "capacity.rule",
        'got "seats"; allowed: one of "positions", "report_hires"',
    ),
    (
        "taste_scale = 1.0",
        "taste_scale = 1.0\ntaste_scael = 2.0",
        "applications.taste_scael",
        "unknown key",
    ),
    ("[capacity]", "[capacity]\nseats = 3", "capacity.seats", "unknown key"),
    ("[population]", 'file = "x.toml"\n[population]', "file", "unknown key"),
    ("taste_scale = 1.0", "", "applications.taste_scale", "missing"),
    ("[capacity]", "[capacities]", "capacity", "missing"),
    (
        f"education_weight = {GROUPS_OLD}",
        'education_weight = { "Norway" = 0.85, "EEA+UK" = 0.3, "Oslo" = 0.3 }',
        "ranking.education_weight.Oslo",
        "unknown key (known: 'Norway', 'EEA+UK', 'Outside EEA')",
    ),
    (
        f"education_weight = {GROUPS_OLD}",
        'education_weight = { "Norway" = 0.85, "EEA+UK" = 0.3 }',
        "ranking.education_weight.Outside EEA",
        "missing",
    ),
    (
        '"Nordic" = 0.75, ',
        "",
        "population.proficiency_base.Nordic",
        "missing",
    ),
    (
        '"Nord" = 0.09',
        '"Nord" = 0.09, "Svalbard" = 0.0',
        "population.home_region_shares.Svalbard",
        "unknown key",
    ),
    (
        '{ "Sør-Øst" = 0.56, "Vest" = 0.21, "Midt-Norge" = 0.14, "Nord" = 0.09 }',
        '{ "Sør-Øst" = 0, "Vest" = 0, "Midt-Norge" = 0, "Nord" = 0 }',
        "population.home_region_shares",
        "must not all be zero",
    ),
    (
        '"Tromsø" = 0.19 }',
        '"Tromsø" = 0.19, "Bodø" = 0.1 }',
        "population.study_city_shares.Bodø",
        "unknown key (known: 'Oslo', 'Bergen', 'Trondheim', 'Tromsø')",
    ),
    (
        "trust_deviation = {}",
        'trust_deviation = { "Helse Bergen" = { recency = nan } }',
        "ranking.trust_deviation.Helse Bergen.recency",
        "got nan; allowed: a finite number in [-1500, 1500] (score sds)",
    ),
    (
        "trust_deviation = {}",
        'trust_deviation = { "Helse Bergen" = { age = 0.1 } }',
        "ranking.trust_deviation.Helse Bergen.age",
        "unknown key",
    ),
    (
        'education_country_deviation = { "Poland" = 0.0,',
        'education_country_deviation = { "Poland" = "high",',
        "ranking.education_country_deviation.Poland",
        'got "high"; allowed: a finite number in [-1500, 1500] (score sds)',
    ),
    # Names that only the round can check (Params.check_round): the same one line, from
    # `check` (against the default round) and from `simulate` (when the market is built).
    (
        'education_country_deviation = { "Poland" = 0.0,',
        'education_country_deviation = { "Narnia" = 0.2,',
        "ranking.education_country_deviation.Narnia",
        "not an education country of round autumn2024 (appendix 4)",
    ),
    (
        "trust_deviation = {}",
        'trust_deviation = { "Helse Oslo" = { norway_education = 0.3 } }',
        "ranking.trust_deviation.Helse Oslo",
        "not a trust of round autumn2024 (known: Akershus universitetssykehus,",
    ),
]

ROUND_NAMES = BAD_VALUES[-2:]


def edited(tmp_path: Path, old: str, new: str) -> Path:
    """The default parameter file with ``old`` replaced by ``new`` once, written to tmp."""
    text = DEFAULT_PARAMS.read_text(encoding="utf-8")
    assert old in text, old
    path = tmp_path / "params.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stop:
        main(list(args))
    out, err = capsys.readouterr()
    return stop.value.code, out, err


@pytest.mark.parametrize(("old", "new", "key", "problem"), BAD_VALUES)
def test_load_params_refuses(tmp_path, autumn, old, new, key, problem):
    path = edited(tmp_path, old, new)
    with pytest.raises(ConfigError) as info:
        if (old, new, key, problem) in ROUND_NAMES:
            load_params(path).check_round(autumn)
        else:
            load_params(path)
    assert (info.value.file, info.value.key) == (str(path), key)
    assert problem in info.value.problem
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("command", ["check", "simulate"])
@pytest.mark.parametrize(("old", "new", "key", "problem"), BAD_VALUES)
def test_cli_refuses_in_one_line(tmp_path, capsys, command, old, new, key, problem):
    """``lis1abm check FILE`` and ``lis1abm simulate --params FILE`` give the same one line
    and exit code 2, and ``simulate`` writes nothing."""
    path = edited(tmp_path, old, new)
    out_dir = tmp_path / "run"
    args = [command, str(path)] if command == "check" else [command, "--params", str(path)]
    if command == "simulate":
        args += ["--out", str(out_dir)]
    code, out, err = run_cli(capsys, *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"lis1abm: error: {path}: {key}: ")
    assert problem in err
    assert not out_dir.exists()


def test_round_names_checked_against_the_given_round(tmp_path, capsys):
    """``check`` checks a parameter file's names against the round files given with it."""
    path = edited(
        tmp_path,
        'education_country_deviation = { "Poland" = 0.0,',
        'education_country_deviation = { "Poland" = 0.5,',
    )
    code, out, err = run_cli(capsys, "check", str(path), str(rounds_dir() / "autumn2024.toml"))
    assert code == 0 and err == "" and out.count(": ok") == 2
    params = load_params(path)
    assert params.ranking.education_country_deviation["Poland"] == 0.5


def test_trust_deviation_omitted_fields_are_zero(tmp_path, autumn):
    path = edited(
        tmp_path, "trust_deviation = {}", 'trust_deviation = { "Helse Bergen" = { recency = 0.2 } }'
    )
    params = load_params(path)
    params.check_round(autumn)
    dev = params.ranking.trust_deviation["Helse Bergen"]
    assert (dev.norway_education, dev.proficiency, dev.recency) == (0.0, 0.0, 0.2)


def test_round_files_refuse_nan(tmp_path, capsys):
    """Round files refuse nan and inf too."""
    text = (rounds_dir() / "autumn2024.toml").read_text(encoding="utf-8")
    for value in ("nan", "inf", "-inf"):
        path = tmp_path / f"round-{value}.toml"
        path.write_text(
            text.replace("more_than_five_share = 0.06", f"more_than_five_share = {value}")
        )
        code, out, err = run_cli(capsys, "check", str(path))
        assert code == 2 and out == ""
        assert err == (
            f"lis1abm: error: {path}: rounds_applied.more_than_five_share: "
            f"got {value}; allowed: a finite number in [0, 1]\n"
        )


def test_key_order_does_not_matter(tmp_path, params):
    """Tables come back in the known order whatever the file's order, so a reordered file
    cannot reorder any draw."""
    path = edited(
        tmp_path,
        '{ "Sør-Øst" = 0.56, "Vest" = 0.21, "Midt-Norge" = 0.14, "Nord" = 0.09 }',
        '{ "Nord" = 0.09, "Midt-Norge" = 0.14, "Vest" = 0.21, "Sør-Øst" = 0.56 }',
    )
    shares = load_params(path).population.home_region_shares
    assert list(shares.items()) == list(params.population.home_region_shares.items())


def test_every_field_states_its_unit():
    """Each parameter is declared once, with a description ending in its unit."""
    for table in dataclasses.fields(ParamFile):
        for name, field in table.type.__pydantic_fields__.items():
            assert field.description and field.description.endswith(")"), name


def test_ranking_bound_keeps_keys_in_32_bits():
    """The arithmetic behind RANKING_WEIGHT_MAX: the largest score a bounded set of weights
    can give fits, with the interview noise, in a 32-bit key."""
    assert RANKING_WEIGHT_MAX * RANKING_TERMS < KEY_ROOM_SDS


RANKING_TABLE = """[ranking]
education_weight = {{ "Norway" = {w}, "EEA+UK" = {w}, "Outside EEA" = {w} }}
nationality_weight = {{ "Norway" = {w}, "EEA+UK" = {w}, "Outside EEA" = {w} }}
proficiency_weight = {w}
recency_weight = {w}
age_weight_per_decade = {w}
home_region_weight = {w}
specialist_weight = {w}
placement_region_weight = {w}
placement_university_weight = {w}
earlier_round_weight = {w}
education_country_deviation = {{ "Norway" = {w}, "Poland" = {w}, "Outside EU/EEA" = {w} }}
graduation_period_deviation = {{ "2024-03..2024-08" = {w}, "2019 or earlier" = {w} }}
trust_deviation = {{ {trusts} }}
qualification_threshold = 0.0
"""

TRUSTS = ("Oslo universitetssykehus", "Helse Bergen", "St. Olavs hospital", "Vestre Viken")


def with_ranking(tmp_path: Path, weight: float) -> Path:
    text = DEFAULT_PARAMS.read_text(encoding="utf-8")
    start, end = text.index("[ranking]"), text.index("[behaviour]")
    path = tmp_path / "params.toml"
    w = repr(weight)
    trusts = ", ".join(
        f'"{t}" = {{ norway_education = {w}, proficiency = {w}, recency = {w} }}' for t in TRUSTS
    )
    path.write_text(text[:start] + RANKING_TABLE.format(w=w, trusts=trusts) + "\n" + text[end:])
    return path


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_extreme_ranking_weights_build_and_flatten(tmp_path, autumn, sign):
    """Every ranking weight at its bound (all applicants qualified) still builds the market
    and flattens it for the engines; one step beyond the bound is refused."""
    params = load_params(with_ranking(tmp_path, sign * RANKING_WEIGHT_MAX))
    market = build_market(autumn, params, seed=2024)
    flatten(market, Tally(market))  # raises if a key could leave 32 bits
    beyond = sign * math.nextafter(RANKING_WEIGHT_MAX, math.inf)
    with pytest.raises(
        ConfigError, match=r"ranking\.education_weight\.Norway: got -?1500\.0+2; allowed"
    ):
        load_params(with_ranking(tmp_path, beyond))


def test_extreme_application_values_build(tmp_path, autumn):
    """The corner of the application bounds where the fit is hardest (found by trying every
    corner of a wider box) still builds the market."""
    text = DEFAULT_PARAMS.read_text(encoding="utf-8")
    start, end = text.index("[applications]"), text.index("[ranking]")
    table = """[applications]
breadth_sd = 2.0
breadth_by_education = { "Norway" = 3.0, "EEA+UK" = 3.0, "Outside EEA" = -3.0 }
home_region_bonus = -3.0
urban_bonus_norway_educated = 3.0
study_city_bonus = 3.0
study_region_bonus = 3.0
taste_scale = 10.0
"""
    path = tmp_path / "params.toml"
    path.write_text(text[:start] + table + "\n" + text[end:])
    build_market(autumn, load_params(path), seed=2024)


def test_graduation_period_deviation_names_a_period(tmp_path, autumn):
    """A graduation period the round does not have is refused, naming the key."""
    text = DEFAULT_PARAMS.read_text(encoding="utf-8").replace(
        '"2024-03..2024-08" = 0.0', '"2024-03..2024-09" = 0.0'
    )
    path = tmp_path / "params.toml"
    path.write_text(text)
    with pytest.raises(
        ConfigError, match=r"graduation_period_deviation\.2024-03\.\.2024-09: not a graduation"
    ):
        load_params(path).check_round(autumn)


def test_graduation_period_deviation_moves_only_its_period(autumn):
    """A period's deviation raises the score of that period's applicants by exactly that
    much, and nobody else's."""
    base = load_params(DEFAULT_PARAMS)
    moved = with_overrides(base, {"ranking.graduation_period_deviation.2023-03..2024-02": 1.0})
    a, b = build_market(autumn, base, seed=7), build_market(autumn, moved, seed=7)
    period = a.population["graduation_period"].to_numpy()[a.app_applicant]
    diff = b.base_score - a.base_score
    inside = period == "2023-03..2024-02"
    assert inside.any()
    assert (diff[~inside] == 0).all()
    assert (abs(diff[inside] - 1.0 * SCORE_UNIT) <= 1).all()


def test_overrides_reach_keys_that_hold_dots():
    """An override path may name a key with dots in it (a trust, a graduation period): the
    longest existing key is matched, not every dot split."""
    base = load_params(DEFAULT_PARAMS)
    changed = with_overrides(
        base,
        {
            "ranking.graduation_period_deviation.2023-03..2024-02": 0.5,
            "ranking.trust_deviation": {"St. Olavs hospital": {"recency": 0.25}},
        },
    )
    assert changed.ranking.graduation_period_deviation["2023-03..2024-02"] == 0.5
    again = with_overrides(changed, {"ranking.trust_deviation.St. Olavs hospital.recency": -0.5})
    assert again.ranking.trust_deviation["St. Olavs hospital"].recency == -0.5
    with pytest.raises(ConfigError, match=r"ranking\.graduation_period_deviation\.2031: unknown"):
        with_overrides(base, {"ranking.graduation_period_deviation.2031": 0.5})
