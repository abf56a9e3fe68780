"""Parameter uncertainty in a run: one parameter set per population draw, drawn from the
covariance a calibration writes beside its parameter file."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from lis1abm.cli import main
from lis1abm.params import DEFAULT_PARAMS, load_params
from lis1abm.report.provenance import recorded_path
from lis1abm.report.simulate import simulate
from lis1abm.simulation.uncertainty import covariance_path, covariance_table, load_draws

NAMES = ["ranking.recency_weight", "behaviour.withdrawal_probability"]
LOWER, UPPER = [0.0, 0.0], [3.0, 0.2]


def _params_with_covariance(tmp_path, cov, best=(1.0, 0.05)):
    """A copy of the default parameter file with a covariance file beside it."""
    params = tmp_path / "p.toml"
    shutil.copy(DEFAULT_PARAMS, params)
    table = covariance_table(NAMES, list(best), LOWER, UPPER, np.asarray(cov, dtype=float))
    table.to_csv(covariance_path(params), index=False)
    return params


def test_draws_are_pure_clipped_and_differ_by_draw(tmp_path):
    params = _params_with_covariance(tmp_path, [[0.25, 0.0], [0.0, 0.01]])
    draws = load_draws(params)
    assert draws.draw(3, 5) == load_draws(params).draw(3, 5)
    assert draws.draw(3, 5) != draws.draw(3, 6) and draws.draw(3, 5) != draws.draw(4, 5)
    values = np.array([list(draws.draw(3, d).values()) for d in range(400)])
    assert np.all(values >= LOWER) and np.all(values <= UPPER)
    # sd 0.5 around 1.0 (rarely clipped): the spread is the covariance's.
    assert values[:, 0].std() == pytest.approx(0.5, rel=0.15)
    assert (values[:, 1] == 0.0).any()  # withdrawal 0.05 -+ 0.1 is clipped at 0


def test_zero_covariance_is_the_run_without_uncertainty(tmp_path):
    """Every draw at the best point: the same values as the run with those parameters."""
    params = _params_with_covariance(tmp_path, np.zeros((2, 2)), best=(1.0, 0.05))
    overrides = {"ranking.recency_weight": 1.0, "behaviour.withdrawal_probability": 0.05}
    kw = {"reps": 12, "seed": 3, "backend": "cpu", "populations": 3, "per_replication": True}
    drawn = simulate("autumn2024", params_path=params, parameter_uncertainty=True, **kw)
    plain = simulate("autumn2024", params_path=params, overrides=overrides, **kw)
    np.testing.assert_array_equal(drawn.values, plain.values)
    sets = drawn.meta["parameter_uncertainty"]["parameter_sets"]
    assert len(sets) == 3 and all(s == overrides for s in sets)


def test_each_population_plays_its_own_parameters(tmp_path):
    params = _params_with_covariance(tmp_path, [[0.25, 0.0], [0.0, 0.0004]])
    kw = {"reps": 12, "seed": 3, "backend": "cpu", "populations": 3, "per_replication": True}
    drawn = simulate("autumn2024", params_path=params, parameter_uncertainty=True, **kw)
    sets = drawn.meta["parameter_uncertainty"]["parameter_sets"]
    assert sets == [load_draws(params).draw(3, d) for d in range(3)]
    assert drawn.meta["params_file"] == recorded_path(params)  # the file asked for, not a draw
    assert drawn.meta["params"] == load_params(params).to_dict()
    plain = simulate("autumn2024", params_path=params, **kw)
    assert not np.array_equal(drawn.values, plain.values)


def test_missing_or_bad_covariance_is_one_line(tmp_path, capsys):
    params = tmp_path / "p.toml"
    shutil.copy(DEFAULT_PARAMS, params)
    for content, needle in ((None, "no covariance file"), ("a,b\n1,2\n", "not a covariance")):
        if content is not None:
            covariance_path(params).write_text(content)
        with pytest.raises(SystemExit) as stop:
            main(["simulate", "--reps", "4", "--params", str(params), "--parameter-uncertainty"])
        out, err = capsys.readouterr()
        assert stop.value.code == 2 and err.count("\n") == 1 and needle in err and out == ""


EXPERIMENT = """
description = "two scenarios with parameter uncertainty"
replications = 6
seed = 5
populations = 3
params = "p.toml"
parameter_uncertainty = true
breakdowns = ["total"]

[[scenarios]]
name = "as drawn"

[[scenarios]]
name = "withdrawal set"
params = { "behaviour.withdrawal_probability" = 0.15 }
"""


def test_experiment_scenarios_share_the_parameter_draws(tmp_path):
    """Every scenario plays draw d with the same parameter set; a scenario's own value of a
    drawn parameter wins."""
    from lis1abm.experiments import run_experiment

    _params_with_covariance(tmp_path, [[0.25, 0.0], [0.0, 0.0004]])
    path = tmp_path / "e.toml"
    path.write_text(EXPERIMENT)
    result = run_experiment(path)
    first, second = (s["parameter_sets"] for s in result.meta["scenarios"])
    draws = load_draws(tmp_path / "p.toml")
    assert first == [draws.draw(5, d) for d in range(3)]
    assert [s["ranking.recency_weight"] for s in second] == [
        s["ranking.recency_weight"] for s in first
    ]
    assert result.meta["parameter_uncertainty"] is True
    markets = [s["population_market_sha256"] for s in result.meta["scenarios"]]
    assert markets[0] == markets[1]  # withdrawal is not in the market's scores


def test_experiment_without_covariance_is_one_line(tmp_path, capsys):
    shutil.copy(DEFAULT_PARAMS, tmp_path / "p.toml")
    path = tmp_path / "e.toml"
    path.write_text(EXPERIMENT)
    with pytest.raises(SystemExit) as stop:
        main(["experiment", str(path), "--out", str(tmp_path / "out")])
    _, err = capsys.readouterr()
    assert stop.value.code == 2 and err.count("\n") == 1
    assert "parameter_uncertainty" in err and "no covariance file" in err
