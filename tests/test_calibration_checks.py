"""The calibration across population draws: fixed parameters, candidates rescored on the
base draws (the same markets as built anew), and the acceptance judged on root seeds the
calibration was not fitted on."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lis1abm.calibration import calibrate
from lis1abm.calibration.acceptance import judge, seed_spread, verdict
from lis1abm.calibration.config import default_config, load_config
from lis1abm.calibration.objective import Objective
from lis1abm.cli import main
from lis1abm.data.round import load_round
from lis1abm.market.ranking import rescore
from lis1abm.params import DEFAULT_PARAMS, load_params, with_overrides
from lis1abm.simulation.ensemble import ensemble_with, prepare_ensemble

CONFIG = f"""
[calibration]
params = "{DEFAULT_PARAMS}"
seed = 7
replications = 8
populations = 2
budget = 2

[fixed]
"population.repeat_probability" = 0.3

[parameters]
"ranking.education_weight.Norway" = {{ lower = 0.0, upper = 3.0 }}
"behaviour.withdrawal_probability" = {{ lower = 0.1, upper = 0.2 }}

[targets.nationality_x_education]
likelihood = "binomial"

[held_out]
breakdowns = ["gender"]

[checks]
seeds = [1, 2]
replications = 6
populations = 3
"""


def _same_markets(a, b) -> None:
    for x, y in zip(a.draws, b.draws, strict=True):
        assert x.market_sha256 == y.market_sha256
        assert np.array_equal(x.rows, y.rows)
        for field in ("value_const", "value_ptr", "value_src", "value_hi"):
            assert np.array_equal(getattr(x.tally, field), getattr(y.tally, field)), field
        assert x.tally.layout.equals(y.tally.layout)


def test_rescored_draws_are_the_markets_built_anew():
    """A candidate that changes only ranking and behaviour keeps the base draws' populations
    and applications: its markets (every flattened array, the tally's bounds, the parameter
    rows) are those prepare_ensemble builds with its parameters. The qualification threshold
    changes the qualified applications, which the tally's bounds count."""
    params = load_params(DEFAULT_PARAMS)
    base = prepare_ensemble("autumn2024", params, seed=5, populations=3)
    other = with_overrides(
        params,
        {"ranking.qualification_threshold": 0.55, "behaviour.withdrawal_probability": 0.02,
         "ranking.recency_weight": 0.1},
    )  # fmt: skip
    rescored = ensemble_with(base, other)
    _same_markets(rescored, prepare_ensemble("autumn2024", other, seed=5, populations=3))
    assert rescored.draws[1].market.population is base.draws[1].market.population
    assert rescored.draws[1].market_sha256 != base.draws[1].market_sha256


def test_other_population_parameters_build_anew():
    """A population or applications parameter changed: every draw is built again (rescoring
    would keep the wrong population), and rescore refuses it."""
    params = load_params(DEFAULT_PARAMS)
    base = prepare_ensemble("autumn2024", params, seed=5, populations=2)
    other = with_overrides(params, {"applications.study_city_bonus": 0.2})
    again = ensemble_with(base, other)
    assert again.draws[0].market.population is not base.draws[0].market.population
    _same_markets(again, prepare_ensemble("autumn2024", other, seed=5, populations=2))
    with pytest.raises(ValueError, match="another population"):
        rescore(base.draws[0].market, other)


def test_fixed_values_are_in_the_base(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(CONFIG)
    config = load_config(path)
    assert config.base.population.repeat_probability == 0.3
    assert load_params(DEFAULT_PARAMS).population.repeat_probability != 0.3
    objective = Objective(config, load_round("autumn2024"), 7, 8, populations=2)
    run = objective.run(np.array(config.base_point()))
    assert run.params.population.repeat_probability == 0.3


def test_builtin_config_judges_on_other_seeds():
    config = load_config(default_config("autumn2024"))
    checks = config.spec.checks
    assert checks.seeds and config.settings.seed not in checks.seeds
    assert not any(n.startswith(("population.", "applications.")) for n in config.names)


def _rows(report, mean, lo, hi, applicants=100, breakdown="education", group="Norway"):
    return {
        "breakdown": breakdown, "group": group, "applicants": applicants,
        "report_hired": report, "sim_hired_mean": mean, "sim_hired_p05": lo,
        "sim_hired_p95": hi,
    }  # fmt: skip


def test_judge_counts_band_and_gap_misses():
    rows = pd.DataFrame(
        [
            _rows(50, 51, 45, 55),  # inside, gap 1 point: met
            _rows(50, 53, 51, 56, group="EEA+UK"),  # outside and gap 3 > 2: two misses
            _rows(5, 9, 7, 11, applicants=19, breakdown="education_country", group="Italy"),
            _rows(5, 9, 7, 11, applicants=20, breakdown="education_country", group="Spain"),
            _rows(60, 70, 65, 75, breakdown="gender", group="men"),  # held out: never judged
            _rows(60, 70, 65, 75, breakdown="ad", group="x"),  # not a judged breakdown
            {**_rows(0, 1, 0, 2, group="Outside EEA"), "report_hired": np.nan},
        ]
    )
    judged = judge(rows).set_index("group")
    assert judged.loc["Norway", "missed"] == 0
    assert judged.loc["EEA+UK", "missed"] == 2
    assert judged.loc["Italy", "missed"] == 0  # under 20 applicants: no band check
    assert judged.loc["Spain", "missed"] == 1
    assert judged.loc["men", "missed"] == 0 and judged.loc["men", "held_out"]
    assert "x" not in judged.index and "Outside EEA" not in judged.index


def test_seed_spread_is_the_largest_pairwise_difference():
    rows = []
    for seed, mean in ((1, 50.0), (2, 50.5), (3, 51.2)):
        rows.append({**_rows(50, mean, 40, 60), "seed": seed})
    checks = judge(pd.DataFrame(rows).drop(columns="seed")).assign(seed=[1, 2, 3])
    spread = seed_spread(checks)
    assert spread.loc[0, "max_rate_diff_pp"] == pytest.approx(1.2)
    assert not spread.loc[0, "within"]
    assert verdict(checks, spread)["spread_within"] is False


@pytest.mark.slow
def test_calibrate_judges_on_the_check_seeds(tmp_path):
    """The search on seed 7, the acceptance judged on seeds 1 and 2: a table per seed, the
    spread, and the verdict in summary.json."""
    path = tmp_path / "c.toml"
    path.write_text(CONFIG)
    out = tmp_path / "out"
    result = calibrate(config_path=path, out=out)
    checks = pd.read_csv(out / "checks.csv")
    assert sorted(set(checks["seed"])) == [1, 2]
    assert {"gap_pp", "inside", "missed"} <= set(checks.columns)
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["checks"]["per_seed"]) == {"1", "2"}
    assert summary["checks"]["replications"] == 6
    assert (out / "checks_spread.csv").exists()
    assert result.summary["checks"]["seeds"] == [1, 2]


def test_fitting_on_a_check_seed_is_refused(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text(CONFIG)
    with pytest.raises(SystemExit) as stop:
        main(["calibrate", "--config", str(path), "--seed", "2", "--out", str(tmp_path / "o")])
    _, err = capsys.readouterr()
    assert stop.value.code == 2 and err.count("\n") == 1 and "--seed 2" in err
    assert not (tmp_path / "o").exists()
