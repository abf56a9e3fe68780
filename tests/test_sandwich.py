"""The parameters' uncertainty: the composite-likelihood sandwich and the Fisher-scoring refit
that checks it on a simulated truth."""

from __future__ import annotations

import numpy as np
import pytest

from lis1abm.calibration.config import load_config
from lis1abm.calibration.objective import Objective
from lis1abm.calibration.sandwich import (
    _prior_gradient,
    jacobian,
    prior_precision,
    refit,
    sandwich,
    target_cells,
)
from lis1abm.data.round import load_round
from lis1abm.params import DEFAULT_PARAMS

CONFIG = f"""
[calibration]
params = "{DEFAULT_PARAMS}"
seed = 7
replications = 120
populations = 4

[parameters]
"ranking.education_weight.Norway" = {{ lower = 0.0, upper = 3.0 }}
"ranking.nationality_weight.EEA+UK" = {{ lower = -2.0, upper = 2.0 }}
"behaviour.withdrawal_probability" = {{ lower = 0.0, upper = 0.2 }}

[pooled.nationality]
parameters = ["ranking.nationality_weight.EEA+UK"]
tau = 0.5

[targets.nationality_x_education]
likelihood = "binomial"
WEIGHT

[targets.long_term_origin]
likelihood = "poisson"
observed = "not_hired"
WEIGHT
"""


def _objective(tmp_path, weight: float = 1.0) -> Objective:
    path = tmp_path / f"c{weight}.toml"
    path.write_text(CONFIG.replace("WEIGHT", f"weight = {weight}"))
    config = load_config(path)
    return Objective(config, load_round("autumn2024"), 7, 120, populations=4)


def test_cells_are_the_fitted_groups(tmp_path):
    objective = _objective(tmp_path)
    run = objective.run(np.array(objective.config.base_point()), keep_values=True)
    cells = target_cells(objective, run)
    targets = {t for t, _ in cells.labels}
    assert targets == {"nationality_x_education", "long_term_origin"}
    # The counts' mean is the model's mean: hires (binomial, n = the report's applicants)
    # and the not hired with four or more rounds (Poisson).
    counts = cells.counts(run.values).mean(axis=0)
    means = cells.means(run)
    expected = np.where(cells.poisson, means, means * cells.n)
    np.testing.assert_allclose(counts, expected, rtol=1e-9, atol=1e-9)


@pytest.mark.slow
def test_sandwich_ignores_a_common_weight(tmp_path):
    """Doubling every weight doubles the curvature H and the score's variance J four times:
    the curvature alone would halve the variance, the sandwich H^-1 J H^-1 keeps it (without a
    prior, which does not scale)."""
    sds = []
    for weight in (1.0, 2.0):
        objective = _objective(tmp_path, weight)
        objective.config.spec.pooled.clear()
        x = np.array(objective.config.base_point())
        run = objective.run(x, keep_values=True)
        cells = target_cells(objective, run)
        sds.append(sandwich(objective, cells, run, jacobian(objective, cells, x)).sd)
    np.testing.assert_allclose(sds[0], sds[1], rtol=0.02)


@pytest.mark.slow
def test_refit_recovers_a_known_truth(tmp_path):
    """Noise-free data (the model's mean counts at a known truth): Fisher scoring from the
    base point lands on the truth. A wrong sign or scale of the score or the information
    would not."""
    objective = _objective(tmp_path)
    objective.config.spec.pooled.clear()  # no prior pulling away from the truth
    base = np.array(objective.config.base_point())
    truth = base + np.array([0.4, -0.3, 0.03])
    run = objective.run(truth, keep_values=True)
    cells = target_cells(objective, run)
    observed = cells.counts(run.values).mean(axis=0)
    found = refit(objective, cells, observed, base, iterations=3)
    span = np.array(objective.config.upper) - np.array(objective.config.lower)
    assert np.all(np.abs(found - truth) / span < 0.03), (found, truth)
    assert np.all(np.abs(base - truth) / span > 0.05)  # it had somewhere to go


def test_prior_precision_couples_a_free_centre(tmp_path):
    """A pooled parameter centred on another free parameter: the precision penalises their
    difference, and the prior's gradient is zero when they are equal."""
    objective = _objective(tmp_path)
    pooled = objective.config.spec.pooled["nationality"]
    object.__setattr__(pooled, "center", "ranking.education_weight.Norway")
    p = prior_precision(objective)
    t = 1 / pooled.tau**2
    np.testing.assert_allclose(p[:2, :2], [[t, -t], [-t, t]])
    assert np.all(p[2] == 0)
    x = np.array([0.7, 0.7, 0.1])
    np.testing.assert_allclose(_prior_gradient(objective, x), 0.0)
    x[1] = 1.2
    assert _prior_gradient(objective, x)[1] == pytest.approx(-0.5 * t)
