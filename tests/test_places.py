"""Positions by trust and by health region in experiment files: only the places named
change, the capacity follows, and bad names are one-line errors."""

from __future__ import annotations

import pytest

from lis1abm.cli import main
from lis1abm.errors import ConfigError
from lis1abm.experiments import load_experiment
from lis1abm.experiments.overrides import resolve

UNN = "Universitetssykehuset Nord-Norge"

HEAD = """
description = "positions by place"
replications = 4
seed = 3
populations = 1
breakdowns = ["ad"]

[[scenarios]]
name = "autumn 2024"
"""


def _config(tmp_path, body: str):
    path = tmp_path / "places.toml"
    path.write_text(HEAD + body)
    return load_experiment(path)


def _positions(config, name: str) -> dict[str, int]:
    """Each ad's positions in a scenario's round."""
    scenario = next(s for s in config.scenarios if s.name == name)
    data, _ = resolve(config, scenario)
    return {a.label: a.positions for a in data.ads}


def test_a_trust_gets_its_total_and_the_others_keep_theirs(tmp_path):
    config = _config(
        tmp_path, f'[[scenarios]]\nname = "+20 at UNN"\ntrust_positions = {{ "{UNN}" = 64 }}\n'
    )
    base, more = _positions(config, "autumn 2024"), _positions(config, "+20 at UNN")
    changed = {k for k in base if base[k] != more[k]}
    assert len(changed) == 1 and "Nord-Norge" in next(iter(changed))
    assert sum(more.values()) == sum(base.values()) + 20


def test_the_capacity_follows_in_the_results(tmp_path):
    """The report_hires rule: UNN's capacity is its positions plus its extra hires in the
    report (46 for 44 positions), so 20 more positions are 20 more hires allowed; the region
    Nord's ads (114 positions, as many hires allowed) get 150, every other ad keeps its own."""
    from lis1abm.experiments import run_experiment

    config = _config(
        tmp_path,
        f'[[scenarios]]\nname = "+20 at UNN"\ntrust_positions = {{ "{UNN}" = 64 }}\n'
        '[[scenarios]]\nname = "Nord 150"\nregion_positions = { "Nord" = 150 }\n',
    )
    summary = run_experiment(config).summary
    capacity = summary[(summary["breakdown"] == "ad") & (summary["metric"] == "capacity")]
    unn = capacity[capacity["group"].str.contains("Nord-Norge")].set_index("scenario")["mean"]
    assert unn["autumn 2024"] == 46 and unn["+20 at UNN"] == 66
    others = capacity[~capacity["group"].str.contains("Nord-Norge")]
    by = others.pivot(index="group", columns="scenario", values="mean")
    assert (by["autumn 2024"] == by["+20 at UNN"]).all()

    base, _ = resolve(config, config.scenarios[0])
    region = {a.label: a.region for a in base.ads}
    by = capacity.pivot(index="group", columns="scenario", values="mean")
    north = by.index.map(region) == "Nord"
    assert by.loc[north, "autumn 2024"].sum() == 114 and by.loc[north, "Nord 150"].sum() == 150
    assert (by.loc[~north, "autumn 2024"] == by.loc[~north, "Nord 150"]).all()


def test_a_region_spreads_its_total_over_its_ads_only(tmp_path):
    config = _config(
        tmp_path, '[[scenarios]]\nname = "Nord"\nregion_positions = { "Nord" = 150 }\n'
    )
    scenario = next(s for s in config.scenarios if s.name == "Nord")
    data, _ = resolve(config, scenario)
    base, _ = resolve(config, config.scenarios[0])
    north = [a.positions for a in data.ads if a.region == "Nord"]
    assert sum(north) == 150 and min(north) >= 1
    for old, new in zip(base.ads, data.ads, strict=True):
        if old.region != "Nord":
            assert old.positions == new.positions


def test_a_sweep_varies_one_trust(tmp_path):
    config = _config(
        tmp_path,
        f'[[sweeps]]\nname = "UNN {{value}}"\nvary = "trust_positions.{UNN}"\nvalues = [30, 54]\n',
    )
    assert [s.trust_positions for s in config.scenarios[1:]] == [{UNN: 30}, {UNN: 54}]
    assert sum(_positions(config, "UNN 54").values()) == 601 + 10


@pytest.mark.parametrize(
    ("body", "key", "needle"),
    [
        (
            'trust_positions = { "Universitetssykehuset Nord Norge" = 50 }',
            "trust_positions",
            f"did you mean {UNN!r}",
        ),
        ('region_positions = { "Helse Nord" = 50 }', "region_positions", "did you mean 'Nord'"),
        (
            'total_positions = 650\ntrust_positions = { "' + UNN + '" = 50 }',
            "trust_positions",
            "cannot be combined with total_positions",
        ),
        (
            'trust_positions = { "' + UNN + '" = 50 }\nregion_positions = { "Nord" = 150 }',
            "region_positions",
            "set one or the other",
        ),
        ('trust_positions = { "' + UNN + '" = 0 }', "trust_positions", "a whole number >= 1"),
        ('trust_positions = { "' + UNN + '" = "66" }', "trust_positions", 'got "66"'),
        (
            'trust_positions = { "Helse" = 30 }',
            "trust_positions",
            "did you mean 'Helse Førde', 'Helse Fonna' or 'Helse Bergen'?",
        ),
        (  # a factor where a total belongs: refused, with the total it would make
            'region_positions = { "Nord" = 1.10 }',
            "region_positions",
            "'Nord' = 1.1: a whole number, the region's total positions (114 now; a factor of "
            "1.1 would make 125)",
        ),
    ],
)
def test_bad_places_are_one_line_errors(tmp_path, capsys, body, key, needle):
    path = tmp_path / "bad.toml"
    path.write_text(HEAD + f'[[scenarios]]\nname = "bad"\n{body}\n')
    with pytest.raises(ConfigError) as error:
        load_experiment(path)
    assert str(path) in str(error.value) and key in str(error.value) and needle in str(error.value)
    with pytest.raises(SystemExit) as stop:
        main(["experiment", str(path), "--out", str(tmp_path / "out")])
    _, err = capsys.readouterr()
    assert stop.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err
