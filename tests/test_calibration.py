"""Calibration: a deterministic objective, a reproducible and resumable search, strict configs,
pooling priors that act, and results written completely or not at all.

Every search here is tiny (8 trials of 20 replications) on a config of
three free parameters: what is checked is the machinery, not the fit.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lis1abm.calibration import calibrate
from lis1abm.calibration.config import default_config, load_config
from lis1abm.calibration.laplace import CURVATURE_FLOOR, fit_quadratic, laplace_intervals
from lis1abm.calibration.objective import Objective, binomial_loglik
from lis1abm.calibration.outputs import fit_table
from lis1abm.calibration.paths import tree_of, value_at
from lis1abm.calibration.search import JOURNAL
from lis1abm.cli import main
from lis1abm.data.round import load_round
from lis1abm.errors import ConfigError
from lis1abm.params import DEFAULT_PARAMS, load_params, with_overrides

# The module (the package's ``calibrate`` attribute is the function of the same name).
calibrate_module = importlib.import_module("lis1abm.calibration.calibrate")

SMALL = f"""
[calibration]
params = "{DEFAULT_PARAMS}"
seed = 7
replications = 20
budget = 8
populations = 1  # the search and its files, not the ensemble (tests/test_ensemble.py)

[parameters]
"ranking.education_weight.Norway" = {{ lower = 0.0, upper = 3.0 }}
"ranking.nationality_weight.EEA+UK" = {{ lower = -2.0, upper = 2.0 }}
"behaviour.withdrawal_probability" = {{ lower = 0.1, upper = 0.2 }}

[pooled.nationality]
parameters = ["ranking.nationality_weight.EEA+UK"]
tau = 0.5

[targets.nationality_x_education]
likelihood = "binomial"

[held_out]
breakdowns = ["gender"]
"""


@pytest.fixture
def small_config(tmp_path) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    return path


def run(config: Path, out: Path, budget: int = 8, **kw):
    return calibrate(
        config_path=config, budget=budget, out=out, params_out=out / "calibrated.toml", **kw
    )


def run_cli(capsys, *args) -> tuple[int, str]:
    with pytest.raises(SystemExit) as stop:
        main([str(a) for a in args])
    _, err = capsys.readouterr()
    return stop.value.code, err


def test_builtin_config_loads():
    config = load_config(default_config("autumn2024"))
    assert "ranking.proficiency_weight" in config.names
    assert set(config.spec.held_out.breakdowns) == {"gender", "age_group"}


def test_objective_is_deterministic(small_config):
    config = load_config(small_config)
    data = load_round("autumn2024")
    x = np.array(config.base_point())
    a = Objective(config, data, seed=7, reps=20)(x)
    b = Objective(config, data, seed=7, reps=20)(x)
    assert a == b and np.isfinite(a)
    # Another block of replications is another realisation of the same model.
    assert Objective(config, data, seed=7, reps=20)(x, first=10_000) != a


def test_binomial_floor_keeps_the_likelihood_finite():
    assert np.isfinite(binomial_loglik(5, 10, 0.0, reps=20))
    assert binomial_loglik(5, 10, 0.5, 20) > binomial_loglik(5, 10, 0.0, 20)


def test_pooling_prior_pulls_an_unidentified_deviation_toward_zero(tmp_path):
    """Every applicant has exactly one nationality group, so adding the same shift to all three
    nationality weights changes no ranking: the likelihood is flat along that direction and
    only the pooling prior N(0, tau^2) decides, preferring the deviations centred on 0."""
    text = SMALL.replace(
        '"ranking.nationality_weight.EEA+UK" = { lower = -2.0, upper = 2.0 }',
        "\n".join(
            f'"ranking.nationality_weight.{g}" = {{ lower = -2.0, upper = 2.0 }}'
            for g in ("Norway", "EEA+UK", "Outside EEA")
        ),
    ).replace(
        'parameters = ["ranking.nationality_weight.EEA+UK"]',
        'parameters = ["ranking.nationality_weight.Norway", "ranking.nationality_weight.EEA+UK",'
        ' "ranking.nationality_weight.Outside EEA"]',
    )
    path = tmp_path / "pooled.toml"
    path.write_text(text)
    config = load_config(path)
    objective = Objective(config, load_round("autumn2024"), seed=7, reps=20)
    base = np.array([1.2, 0.3, -0.2, 0.4, 0.15])  # nationality deviations with mean 0.1
    shift = np.array([0.0, 1.0, 1.0, 1.0, 0.0])
    fits = {
        s: objective.fit(base + s * shift, objective.run(base + s * shift)) for s in (-0.1, 0.5)
    }
    # The same likelihood along the shift (to the rounding of scores to integer units) ...
    assert fits[-0.1].log_likelihood == pytest.approx(fits[0.5].log_likelihood, abs=1e-6)
    # ... and the prior prefers the centred deviations (mean 0 at s = -0.1).
    assert fits[-0.1].value < fits[0.5].value
    assert fits[-0.1].log_prior > fits[0.5].log_prior


@pytest.mark.slow
def test_same_seed_same_best_and_resume_equals_uninterrupted(small_config, tmp_path):
    whole = run(small_config, tmp_path / "whole")
    again = run(small_config, tmp_path / "again")
    pd.testing.assert_frame_equal(whole.estimates, again.estimates)
    # Interrupted after 4 trials, then resumed to 8.
    run(small_config, tmp_path / "parts", budget=4)
    resumed = run(small_config, tmp_path / "parts", budget=8, resume=True)
    assert resumed.summary["trials_completed"] == 8
    trials = pd.read_csv(tmp_path / "parts" / "trials.csv")
    assert (trials["state"] == "COMPLETE").sum() == 8
    reference = pd.read_csv(tmp_path / "whole" / "trials.csv")
    param_columns = [c for c in reference.columns if c.startswith("params_")]
    pd.testing.assert_frame_equal(trials[param_columns], reference[param_columns])
    np.testing.assert_array_equal(trials["value"], reference["value"])
    pd.testing.assert_frame_equal(resumed.estimates, whole.estimates)
    # A finished study: the outputs are rewritten, no trial is added.
    done = run(small_config, tmp_path / "parts", budget=8, resume=True)
    assert done.summary["trials_completed"] == 8


def test_calibrated_params_load_and_differ_from_base(small_config, tmp_path):
    result = run(small_config, tmp_path / "out")
    params = load_params(result.params_file)
    base = load_params(DEFAULT_PARAMS)
    # Compare the numbers, not the objects: a Params also holds the name of its file, which
    # alone would make any two files differ. The calibrated file is the base with exactly the
    # three free parameters set to the best point, which moved at least one of them.
    best = result.summary["best"]
    assert set(best) == {
        "ranking.education_weight.Norway",
        "ranking.nationality_weight.EEA+UK",
        "behaviour.withdrawal_probability",
    }
    assert tree_of(params) == tree_of(with_overrides(base, best))
    assert tree_of(params) != tree_of(base)
    # The base withdrawal probability (0.04) lies below the bounds [0.1, 0.2].
    assert 0.1 <= value_at(params, "behaviour.withdrawal_probability") <= 0.2
    text = result.params_file.read_text()
    assert text.startswith("# Calibrated parameters") and "seed 7" in text
    fit = pd.read_csv(tmp_path / "out" / "fit.csv")
    assert set(fit["role"]) == {"fitted", "held-out"}
    assert {"p05", "p95", "inside_band"} <= set(fit.columns)
    assert (fit["breakdown"] == "figure_4_3").any()
    for name in ("estimates.csv", "trials.csv", "summary.json", "fit.png", "fit.pdf"):
        assert (tmp_path / "out" / name).exists()
    estimates = pd.read_csv(tmp_path / "out" / "estimates.csv")
    assert (estimates["ci_lo"] <= estimates["best"]).all()
    assert (estimates["best"] <= estimates["ci_hi"]).all()
    assert (estimates["lower"] <= estimates["laplace_q05"]).all()
    assert (estimates["laplace_q05"] <= estimates["laplace_q95"]).all()
    assert (estimates["laplace_q95"] <= estimates["upper"]).all()
    # 8 trials are too few for a quadratic in 3 parameters (2 x 7 coefficients): said so.
    assert result.summary["laplace"]["quadratic"] == "none"


def test_existing_study_without_resume_is_a_one_line_error(small_config, tmp_path, capsys):
    out = tmp_path / "out"
    run(small_config, out, budget=2)
    code, err = run_cli(
        capsys,
        "calibrate",
        "--config",
        small_config,
        "--out",
        out,
        "--budget",
        2,
        "--params-out",
        out / "p.toml",
    )
    assert code == 2 and err.count("\n") == 1 and "--resume" in err


def test_changed_setup_cannot_resume(small_config, tmp_path, capsys):
    out = tmp_path / "out"
    run(small_config, out, budget=2)
    code, err = run_cli(
        capsys,
        "calibrate",
        "--config",
        small_config,
        "--out",
        out,
        "--budget",
        2,
        "--seed",
        8,
        "--resume",
        "--params-out",
        out / "p.toml",
    )
    assert code == 2 and err.count("\n") == 1 and "another setup" in err


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("budget = 8", "budget = 8\nbudgett = 3", "calibration.budgett"),
        (
            '"behaviour.withdrawal_probability"',
            '"behaviour.withdrawl_probability"',
            'parameters."behaviour.withdrawl_probability"',
        ),
        (
            "lower = 0.1, upper = 0.2",
            "lower = 0.3, upper = 0.2",
            "behaviour.withdrawal_probability",
        ),
        ("lower = 0.1, upper = 0.2", "lower = 0.1, upper = 1.5", 'withdrawal_probability".upper'),
        ("tau = 0.5", "tau = 0.5\nparameterz = 1", "pooled.nationality.parameterz"),
        ('"gender"', '"genders"', "held_out.breakdowns[0]"),
        ("[parameters]", '[fixed]\n"ranking.proficiency_weigth" = 1.0\n\n[parameters]', "fixed."),
        (
            "[parameters]",
            '[fixed]\n"behaviour.withdrawal_probability" = 0.1\n\n[parameters]',
            'fixed."behaviour.withdrawal_probability"',
        ),
        (
            "[parameters]",
            '[fixed]\n"behaviour.late_marking_probability" = 1.5\n\n[parameters]',
            'fixed."behaviour.late_marking_probability"',
        ),
        (
            'breakdowns = ["gender"]',
            'breakdowns = ["gender"]\n\n[checks]\nseeds = [3, 7]',
            "checks.seeds",
        ),
        (
            'breakdowns = ["gender"]',
            'breakdowns = ["gender"]\n\n[checks]\nseeds = [3, 3]',
            "checks.seeds",
        ),
        (
            'breakdowns = ["gender"]',
            'breakdowns = ["gender"]\n\n[checks]\nseeds = [3]\nreplications = 4\npopulations = 8',
            "checks.populations",
        ),
    ],
)
def test_bad_config_is_a_one_line_error(tmp_path, capsys, old, new, key):
    path = tmp_path / "bad.toml"
    assert old in SMALL
    path.write_text(SMALL.replace(old, new, 1))
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(path) in str(error.value) and key in str(error.value)
    code, err = run_cli(capsys, "calibrate", "--config", path, "--out", tmp_path / "out")
    assert code == 2 and err.count("\n") == 1 and key in err
    assert not (tmp_path / "out").exists()  # nothing done


def test_outputs_are_written_all_or_nothing(small_config, tmp_path, monkeypatch):
    out = tmp_path / "out"

    def broken(fit):
        raise RuntimeError("figure failed")

    monkeypatch.setattr(calibrate_module, "fit_figure", broken)
    with pytest.raises(RuntimeError, match="figure failed"):
        run(small_config, out, budget=2)
    assert sorted(p.name for p in out.iterdir()) == [JOURNAL]  # no table, no staging folder
    assert not (out / "calibrated.toml").exists()


# -- Laplace approximation from a quadratic response surface -----------------

LOWER, UPPER = np.array([0.0, -2.0, 0.0]), np.array([3.0, 2.0, 0.2])
MODE = np.array([1.2, 0.3, 0.1])


def _quadratic_trials(cov: np.ndarray, trials: int, seed: int = 1):
    """Trials uniform in the bounds with the objective 0.5 (x - MODE)' cov^-1 (x - MODE) + 5."""
    rng = np.random.default_rng(seed)
    x = LOWER + rng.random((trials, 3)) * (UPPER - LOWER)
    centred = x - MODE
    return x, 0.5 * np.einsum("ij,jk,ik->i", centred, np.linalg.inv(cov), centred) + 5.0


def test_quadratic_fit_recovers_the_known_covariance():
    span = UPPER - LOWER
    a = np.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [-0.3, 0.2, 0.9]])
    cov = 0.01 * (a @ a.T) * np.outer(span, span)  # correlated, each sd a tenth of the range
    x, y = _quadratic_trials(cov, 40)
    q = fit_quadratic(x, y, LOWER, UPPER)
    assert q.method == "full" and q.trials == 30 and q.floored == 0
    np.testing.assert_allclose(q.cov, cov, rtol=1e-6)
    np.testing.assert_allclose(q.minimiser, MODE, atol=1e-9)
    # Fewer trials than 2 x 10 coefficients: the diagonal quadratic (2 x 7 trials suffice),
    # exact when the covariance is diagonal.
    diagonal = np.diag(np.diag(cov))
    x, y = _quadratic_trials(diagonal, 16)
    q = fit_quadratic(x, y, LOWER, UPPER)
    assert q.method == "diagonal"
    np.testing.assert_allclose(q.cov, diagonal, rtol=1e-6)
    low, high = laplace_intervals(MODE, q.cov, LOWER, UPPER)
    np.testing.assert_allclose(high - MODE, 1.6448536 * np.sqrt(np.diag(diagonal)), rtol=1e-6)
    assert np.all(low >= LOWER)
    # Too few for either: no quadratic, a tenth of each range.
    q = fit_quadratic(x[:10], y[:10], LOWER, UPPER)
    assert q.method == "none"
    np.testing.assert_allclose(np.sqrt(np.diag(q.cov)), (UPPER - LOWER) / 10)


def test_flat_direction_is_floored_to_one_bound_range():
    """A parameter the objective ignores has no curvature: its eigenvalue is raised to the
    floor, an sd of one bound range (the bounds, not the data, limit it)."""
    span = UPPER - LOWER
    cov = np.diag((0.1 * span) ** 2)
    x, y = _quadratic_trials(cov, 40)
    y -= 0.5 * ((x[:, 2] - MODE[2]) / cov[2, 2] ** 0.5) ** 2  # the third parameter is ignored
    q = fit_quadratic(x, y, LOWER, UPPER)
    assert q.floored == 1
    assert np.sqrt(q.cov[2, 2]) == pytest.approx(span[2] / CURVATURE_FLOOR**0.5, rel=1e-6)
    np.testing.assert_allclose(q.cov[:2, :2], cov[:2, :2], rtol=1e-6, atol=1e-12)


# -- the fit table: table 2's not hired ----------------------------------------------------


def test_fit_table_judges_not_hired_targets():
    rows = [
        {
            "breakdown": "long_term_age",
            "group": "30-39",
            "applicants": 20,
            "report_hired": None,
            "report_not_hired": 5,
            "sim_hired_mean": 14.0,
            "sim_hired_p05": 12.0,
            "sim_hired_p95": 17.0,
        },
        {
            "breakdown": "gender",
            "group": "Women",
            "applicants": 100,
            "report_hired": 40,
            "report_not_hired": None,
            "sim_hired_mean": 45.0,
            "sim_hired_p05": 41.0,
            "sim_hired_p95": 49.0,
        },
    ]
    fit = fit_table(rows, {"long_term_age": "fitted", "gender": "held-out"}, [])
    not_hired, hired = fit.iloc[0], fit.iloc[1]
    assert not_hired["observed"] == "not_hired" and hired["observed"] == "hired"
    # Not hired = applicants - hires; its 5 % point is applicants - the hires' 95 % point.
    assert (not_hired["report"], not_hired["model_mean"]) == (5, 6.0)
    assert (not_hired["p05"], not_hired["p95"]) == (3.0, 8.0)
    assert not_hired["inside_band"] == "yes"
    assert (hired["report"], hired["model_mean"], hired["inside_band"]) == (40, 45.0, "no")


def test_calibration_judges_table_2(small_config, tmp_path, capsys):
    """Table 2's breakdowns get a report figure (not hired) and are counted in the summary and
    the command line's table; 16 trials give the diagonal quadratic."""
    path = tmp_path / "long.toml"
    path.write_text(SMALL.replace('breakdowns = ["gender"]', 'breakdowns = ["long_term_age"]'))
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as stop:
        main(["calibrate", "--config", str(path), "--out", str(out), "--budget", "16",
              "--params-out", str(out / "p.toml")])  # fmt: skip
    assert stop.value.code in (0, None)
    printed = " ".join(capsys.readouterr().out.split())
    fit = pd.read_csv(out / "fit.csv", keep_default_na=False)
    rows = fit[fit["breakdown"] == "long_term_age"]
    assert len(rows) > 0 and (rows["observed"] == "not_hired").all()
    # Every group with a table 2 figure is judged (not the one with fewer than 4 rounds).
    assert (rows["inside_band"] != "").sum() == 4
    judged = f"{(rows['inside_band'] == 'yes').sum()}/4"
    assert "long_term_age (not hired)" in printed and judged in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["laplace"]["quadratic"] == "diagonal"


def test_conditional_intervals_recover_a_known_likelihood():
    """On f(x) = 0.5 sum(((x - m) / sd)^2) the 95 % likelihood interval of each parameter,
    the others fixed, is m -+ 1.96 sd; the scan finds it (linear interpolation between steps
    of 1/40 of the range errs by less than a step's worth of curvature), and flags a side
    where the curve stays below the threshold as open."""
    from lis1abm.calibration.scan import conditional_intervals

    m = np.array([0.0, 1.0, 0.5])
    sd = np.array([0.2, 0.05, 10.0])  # the third: flat within the scan, open on both sides
    lower, upper = np.array([-2.0, 0.0, -1.0]), np.array([2.0, 2.0, 2.0])
    calls = []

    def f(x):
        calls.append(x.copy())
        return float(0.5 * np.sum(((x - m) / sd) ** 2))

    scan = conditional_intervals(f, m, f(m), lower, upper, steps=12, step_fraction=0.025)
    np.testing.assert_allclose(scan.lo[:2], m[:2] - 1.96 * sd[:2], atol=0.02)
    np.testing.assert_allclose(scan.hi[:2], m[:2] + 1.96 * sd[:2], atol=0.02)
    assert not scan.open_lo[:2].any() and not scan.open_hi[:2].any()
    assert scan.open_lo[2] and scan.open_hi[2]
    assert scan.evaluations == len(calls) - 1
    # Each scan moves one parameter only.
    assert all(np.count_nonzero(c != m) <= 1 for c in calls)


def test_parameter_file_goes_under_out_not_over_shipped_files(small_config, tmp_path, monkeypatch):
    """Without --params-out the calibrated file is written into --out, even when run from a
    folder holding configs/params/<round>_calibrated.toml (the repository root): no toy run
    replaces the parameters every simulate uses."""
    shipped = tmp_path / "configs" / "params" / "autumn2024_calibrated.toml"
    shipped.parent.mkdir(parents=True)
    shipped.write_text("# the shipped file\n")
    monkeypatch.chdir(tmp_path)
    result = calibrate(config_path=small_config, budget=2, out=tmp_path / "out")
    assert shipped.read_text() == "# the shipped file\n"
    written = tmp_path / "out" / "autumn2024_calibrated.toml"
    assert written.is_file() and Path(result.params_file) == written
    assert load_params(written).behaviour.withdrawal_probability > 0
