"""A round file of one's own: it gets the parameters calibrated for its round (or the file it
names), says which it uses, and the positions it sets are the ones the market hires for."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lis1abm.cli import main
from lis1abm.data.files import builtin_round
from lis1abm.report.provenance import recorded_path
from lis1abm.simulation.prepare import prepare

UNN = "Universitetssykehuset Nord-Norge"


def round_copy(tmp_path: Path, edit=None, name: str = "same.toml") -> Path:
    """The built-in autumn 2024 round copied to ``tmp_path``, its text passed through
    ``edit`` first."""
    text = builtin_round("autumn2024").read_text(encoding="utf-8")
    path = tmp_path / name
    path.write_text(edit(text) if edit else text, encoding="utf-8")
    return path


def more_positions_at_unn(text: str, extra: int = 20) -> str:
    """UNN's one ad, its trust and the total given ``extra`` positions, consistently (as a
    user must: the file's totals are checked)."""
    text = text.replace(
        'id = "unn"\ntrust = "Universitetssykehuset Nord-Norge"\nsite = ""\nregion = "Nord"\n'
        "positions = 44",
        'id = "unn"\ntrust = "Universitetssykehuset Nord-Norge"\nsite = ""\nregion = "Nord"\n'
        f"positions = {44 + extra}",
    )
    text = text.replace(
        f'name = "{UNN}"\nads = 1\npositions = 44',
        f'name = "{UNN}"\nads = 1\npositions = {44 + extra}',
    )
    assert text.count(f"positions = {44 + extra}") == 2, "the round file's layout changed"
    return text.replace("positions = 601", f"positions = {601 + extra}", 1)


def simulate_json(capsys, *args: str) -> dict:
    with pytest.raises(SystemExit) as stop:
        # One population: what is tested is the round's inputs, not the ensemble.
        main(["simulate", "--reps", "40", "--populations", "1", "--json", *args])
    assert stop.value.code == 0
    return json.loads(capsys.readouterr().out)


def test_round_by_path_keeps_its_calibration(tmp_path, capsys):
    """A copy of the built-in round, given by path, runs with the round's calibrated
    parameters (not the hand-set defaults) and gives the built-in round's figures."""
    by_path = simulate_json(capsys, "--round", str(round_copy(tmp_path)))
    by_name = simulate_json(capsys)
    assert Path(by_path["meta"]["params_file"]).name == "autumn2024_calibrated.toml"
    assert by_path["meta"]["params_chosen"] == "calibrated for round autumn2024"
    assert by_path["rows"] == by_name["rows"]


def test_round_file_names_its_parameter_file(tmp_path, capsys):
    """``[round] params`` names the file: a built-in name, or a path from the round file."""
    params = tmp_path / "mine" / "p.toml"
    params.parent.mkdir()
    default = builtin_round("autumn2024").parents[1] / "params" / "default.toml"
    params.write_text(default.read_text(encoding="utf-8"), encoding="utf-8")
    for value, want in (("default", default.resolve()), ("mine/p.toml", params.resolve())):

        def name_params(text: str, value=value) -> str:
            return text.replace(
                'name = "autumn2024"\n', f'name = "autumn2024"\nparams = "{value}"\n', 1
            )

        got = simulate_json(capsys, "--round", str(round_copy(tmp_path, name_params)))
        assert got["meta"]["params_file"] == recorded_path(want)
        assert got["meta"]["params_chosen"] == "named by the round file"


def test_positions_added_to_a_round_file_raise_capacity(tmp_path):
    """Under the rule report_hires, 20 positions more at UNN (ad, trust and total) raise
    UNN's capacity by 20 (its report hires, 46, plus 20) and no other ad's."""
    before = prepare("autumn2024")
    after = prepare(round_copy(tmp_path, more_positions_at_unn))
    assert before.params.capacity.rule == after.params.capacity.rule == "report_hires"
    unn = [ad.trust for ad in after.data.ads].index(UNN)
    change = after.market.capacity - before.market.capacity
    assert change[unn] == 20 and before.market.capacity[unn] == 46
    assert np.count_nonzero(change) == 1


@pytest.mark.slow  # two runs of 400 replications
def test_positions_added_to_a_round_file_are_hired_for(tmp_path, capsys):
    """With 20 positions more at UNN the model hires more there and more in all; the run
    states the rule and the capacity."""
    base = simulate_json(capsys, "--reps", "400")
    more = simulate_json(
        capsys, "--reps", "400", "--round", str(round_copy(tmp_path, more_positions_at_unn))
    )

    def hires(result, breakdown, group):
        row = next(r for r in result["rows"] if (r["breakdown"], r["group"]) == (breakdown, group))
        return row["sim_hired_mean"]

    assert hires(more, "ad", UNN) > hires(base, "ad", UNN) + 10
    assert hires(more, "total", "all") > hires(base, "total", "all") + 10
    assert more["meta"]["capacity"] == {"rule": "report_hires", "positions": 621, "capacity": 626}


def test_printout_names_parameters_and_capacity(capsys):
    """The printed header names the parameter file, why it was chosen, and the capacity."""
    with pytest.raises(SystemExit) as stop:
        main(["simulate", "--reps", "20"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "Parameters: autumn2024_calibrated.toml (calibrated for round autumn2024)" in out
    assert "Capacity: 606 hires at most for 601 positions (rule report_hires" in out
    assert all(len(line) <= 80 for line in out.splitlines() if "│" in line or "─" in line)
