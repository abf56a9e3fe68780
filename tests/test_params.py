"""The parameter file's strict reader."""

from __future__ import annotations

import pytest

from lis1abm.errors import ConfigError
from lis1abm.params import DEFAULT_PARAMS, load_params


def test_defaults(params):
    assert params.capacity.rule == "report_hires"
    assert 0 <= params.behaviour.wait_probability_max <= 1
    assert set(params.ranking.education_weight) == {"Norway", "EEA+UK", "Outside EEA"}
    assert params.to_dict()["behaviour"]["late_marking_probability"] >= 0


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        (
            "taste_scale = 1.0",
            "taste_scale = 1.0\ntaste_scael = 2.0",
            r"applications\.taste_scael: unknown key",
        ),
        (
            "late_marking_probability = ",
            "late_marking_probability = 1.5 #",
            r"behaviour\.late_marking_probability: must be a probability in \[0, 1\], got 1.5",
        ),
        ('rule = "report_hires"', 'rule = "seats"', r"capacity\.rule: must be one of"),
        ("breadth_sd = ", "breadth_sd = -1.0 #", r"applications\.breadth_sd: must not be negative"),
        ("taste_scale = 1.0", 'taste_scale = "high"', r"taste_scale: expected a number"),
        ("[capacity]", "[capacities]", r"capacity: missing"),
    ],
)
def test_param_errors(tmp_path, old, new, match):
    text = DEFAULT_PARAMS.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "params.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=match) as info:
        load_params(path)
    assert str(info.value).startswith(str(path))
    assert "\n" not in str(info.value)
