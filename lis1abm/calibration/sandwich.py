"""Parameter uncertainty: a composite-likelihood (Godambe) sandwich around the best point.

The objective (:mod:`lis1abm.calibration.objective`) sums weighted binomial and Poisson
log-likelihoods over groups of breakdowns that count the same applicants again (appendix 4's
cells, their sums by education country, by nationality x education, by nationality, ...): a
*composite* likelihood. Its curvature alone overstates the information (one hire enters up to
seven weighted terms), and the binomial treats applicants as independent where capacity makes
them compete. The sandwich corrects both with the model's own variability:

* **H**, the sensitivity (d, d): the expected information of the weighted likelihood,
  ``sum_g w_g n_g / (p_g (1 - p_g)) grad p_g grad p_g'`` for a binomial group (p_g the
  model's hire probability, n_g the report's applicants), ``w_g grad L_g grad L_g' / L_g`` for
  a Poisson one (L_g the model's mean count), plus the pooling priors' precision (1 / tau^2 on
  each pooled parameter). The gradients are central differences of the model's means on the
  fixed replication block (:func:`jacobian`): with common random numbers the two sides differ
  by the parameter only.
* **J**, the variability (d, d): the covariance over replications at the best point of the
  score ``s_r = sum_g w_g (k_gr - n_g p_g) / (p_g (1 - p_g)) grad p_g`` (Poisson: ``w_g
  (k_gr - L_g) / L_g grad L_g``), k_gr replication r's count in group g. Each replication is
  a report the model could have written (its population draw and its offer rounds), so J
  carries the overlaps between breakdowns and the competition between groups.
* **Sigma = H^-1 J H^-1**, H's eigenvalues floored at :data:`CURVATURE_FLOOR` per squared
  bound range, so that a direction the report does not inform gets at most about one bound
  range of sd (then the bounds, not the data, limit it).

Diagnostics (``summary.json``): the eigenvalues floored, H's condition number, and the design
effect ``trace(H^-1 J) / d`` (1 if the weighted binomial were the likelihood of independent
applicants; above 1, the weights and the competition make each figure worth less). The
intervals' coverage of a simulated truth is checked by :func:`refit` in
``scripts/uncertainty_recovery.py`` (parameters drawn from Sigma, a report simulated, the
parameters refitted by Fisher scoring, the truth inside the intervals or not).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lis1abm.calibration.objective import Objective, Run
from lis1abm.calibration.paths import value_at

CURVATURE_FLOOR = 1.0
"""Floor of H's eigenvalues, in log-likelihood units per squared bound range."""
STEP_FRACTION = 0.05
"""Central-difference step of each parameter, as a fraction of its bound range: wide enough
to move whole hires on the fixed block (a finer step sees the objective's steps), narrow
enough for the means to be near-linear."""
Z90 = 1.6448536269514722
"""The standard normal's 95 % quantile: best -+ Z90 sd is a 90 % interval (5-95 %)."""


@dataclass
class Cells:
    """The fitted groups of a calibration, their data and where their counts are.

    Attributes (G groups)
    ---------------------
    labels : (target, group) of each.
    weight : float64 (G,): the target's weight.
    poisson : bool (G,): a Poisson target (else binomial).
    not_hired : bool (G,): the count is the not hired (applicants - hired).
    observed : float64 (G,): the report's count.
    n : float64 (G,): the report's applicants (binomial; NaN for Poisson).
    hired_col, applicants_col : int64 (G,): the columns of a replication's values.
    """

    labels: list[tuple[str, str]]
    weight: np.ndarray
    poisson: np.ndarray
    not_hired: np.ndarray
    observed: np.ndarray
    n: np.ndarray
    hired_col: np.ndarray
    applicants_col: np.ndarray

    def counts(self, values: np.ndarray) -> np.ndarray:
        """Each replication's count of each group, float64 (R, G), from values (R, K); a
        binomial group's count is scaled to the report's applicants (the model's may differ
        by a draw)."""
        values = np.asarray(values, dtype=np.float64)
        hired = values[:, self.hired_col]
        applicants = values[:, self.applicants_col]
        count = np.where(self.not_hired, applicants - hired, hired)
        scale = np.where(self.poisson, 1.0, self.n / np.maximum(applicants, 1.0))
        return count * scale

    def means(self, run: Run) -> np.ndarray:
        """The model's p_g (binomial: mean count / mean applicants) or L_g (Poisson: mean
        count), float64 (G,), from a run's summary."""
        mean = run.summary.mean()
        hired, applicants = mean[self.hired_col], mean[self.applicants_col]
        count = np.where(self.not_hired, applicants - hired, hired)
        return np.where(self.poisson, count, count / np.maximum(applicants, 1e-12))


def target_cells(objective: Objective, run: Run) -> Cells:
    """The groups the objective fits, in its order (:meth:`Objective.log_likelihoods`)."""
    objective.log_likelihoods(run)  # reads the report's figures once
    layout = run.tally.layout
    column = {
        (b, g, m): k
        for k, (b, g, m) in enumerate(layout[["breakdown", "group", "metric"]].itertuples(False))
    }
    rows = []
    for name, target in objective.config.spec.targets.items():
        groups = dict.fromkeys(g for b, g, _ in column if b == name)
        for group in groups:
            not_hired = target.observed == "not_hired"
            if not_hired and target.likelihood == "poisson":
                observed, n = objective._not_hired.get((name, group)), np.nan
            else:
                figure = objective._report.get((name, group))
                if figure is None or figure[1] is None:
                    continue
                n = float(figure[0])
                observed = n - figure[1] if not_hired else figure[1]
            if observed is None:
                continue
            rows.append(
                (
                    (name, group),
                    target.weight,
                    target.likelihood == "poisson",
                    not_hired,
                    float(observed),
                    n,
                    column[(name, group, "hired")],
                    column[(name, group, "applicants")],
                )
            )
    columns = list(zip(*rows, strict=True))  # one tuple per field
    labels, weight, poisson, not_hired, observed, n, hired_col, applicants_col = columns
    return Cells(
        list(labels),
        np.array(weight, dtype=np.float64),
        np.array(poisson, dtype=bool),
        np.array(not_hired, dtype=bool),
        np.array(observed, dtype=np.float64),
        np.array(n, dtype=np.float64),
        np.array(hired_col, dtype=np.int64),
        np.array(applicants_col, dtype=np.int64),
    )


def jacobian(
    objective: Objective,
    cells: Cells,
    x: np.ndarray,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """d p_g / d x_i by central differences on the fixed block, float64 (G, d); a step that
    would cross a bound is taken one-sided. 2 d runs."""
    x = np.asarray(x, dtype=np.float64)
    lower = np.asarray(objective.config.lower, dtype=np.float64)
    upper = np.asarray(objective.config.upper, dtype=np.float64)
    out = np.empty((len(cells.labels), len(x)))
    for i in range(len(x)):
        h = STEP_FRACTION * (upper[i] - lower[i])
        hi, lo = x.copy(), x.copy()
        hi[i], lo[i] = min(x[i] + h, upper[i]), max(x[i] - h, lower[i])
        diff = cells.means(objective.run(hi)) - cells.means(objective.run(lo))
        out[:, i] = diff / (hi[i] - lo[i])
        if progress is not None:
            progress(1)
    return out


def _information_weights(cells: Cells, mean: np.ndarray) -> np.ndarray:
    """Per group, the weight of grad grad' in H: w n / (p (1 - p)) or w / L (G,)."""
    p = np.clip(mean, 1e-6, 1 - 1e-6)
    binomial = cells.weight * cells.n / (p * (1 - p))
    poisson = cells.weight / np.maximum(mean, 1e-6)
    return np.where(cells.poisson, poisson, binomial)


def scores(cells: Cells, mean: np.ndarray, grad: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The composite score of each replication's counts, float64 (R, d): d/dx of the weighted
    log-likelihood of counts (R, G) at the model's means (G,) with gradients (G, d)."""
    p = np.clip(mean, 1e-6, 1 - 1e-6)
    expected = np.where(cells.poisson, mean, cells.n * p)
    scale = np.where(cells.poisson, 1.0 / np.maximum(mean, 1e-6), 1.0 / (p * (1 - p)))
    return ((counts - expected) * cells.weight * scale) @ grad


def prior_precision(objective: Objective) -> np.ndarray:
    """The pooling priors' precision, float64 (d, d): 1 / tau^2 on each pooled parameter
    (a centre that is another free parameter couples the two)."""
    names = objective.names
    index = {n: i for i, n in enumerate(names)}
    out = np.zeros((len(names), len(names)))
    for pooled in objective.config.spec.pooled.values():
        c = index.get(pooled.center) if isinstance(pooled.center, str) else None
        for name in pooled.parameters:
            i, t = index[name], 1.0 / pooled.tau**2
            out[i, i] += t
            if c is not None:
                out[c, c] += t
                out[i, c] -= t
                out[c, i] -= t
    return out


@dataclass
class Sandwich:
    """The sandwich covariance and its diagnostics (d parameters).

    Attributes
    ----------
    cov : float64 (d, d): Sigma, in the parameters' units.
    sd : float64 (d,).
    sensitivity, variability : H (with the priors) and J, float64 (d, d).
    floored : eigenvalues of H (per squared bound range) raised to the floor.
    condition : H's condition number before the floor (per squared bound range).
    design_effect : trace(H^-1 J) / d.
    replications : replications J was estimated from.
    """

    cov: np.ndarray
    sd: np.ndarray
    sensitivity: np.ndarray
    variability: np.ndarray
    floored: int
    condition: float
    design_effect: float
    replications: int

    def intervals(self, best, lower, upper) -> np.ndarray:
        """5 and 95 % (2, d): best -+ 1.645 sd, clipped to the bounds."""
        best = np.asarray(best, dtype=np.float64)
        return np.vstack(
            [np.maximum(best - Z90 * self.sd, lower), np.minimum(best + Z90 * self.sd, upper)]
        )


def sandwich(
    objective: Objective,
    cells: Cells,
    run: Run,
    grad: np.ndarray,
) -> Sandwich:
    """Sigma = H^-1 J H^-1 at the point of ``run`` (its values kept: J's replications) with
    the gradients ``grad`` (G, d) of :func:`jacobian` there."""
    mean = cells.means(run)
    span = np.asarray(objective.config.upper) - np.asarray(objective.config.lower)
    h = _sensitivity(objective, cells, mean, grad)
    s = scores(cells, mean, grad, cells.counts(run.values))
    j = np.cov(s, rowvar=False).reshape(len(span), len(span))
    inv, floored, condition = _floored_inverse(h, span)
    cov = inv @ j @ inv
    cov = (cov + cov.T) / 2
    design = float(np.trace(inv @ j) / len(span))
    return Sandwich(
        cov, np.sqrt(np.clip(np.diag(cov), 0, None)), h, j, floored, condition, design, len(s)
    )


def _sensitivity(objective: Objective, cells: Cells, mean: np.ndarray, grad: np.ndarray):
    """H (d, d): the weighted information of the fitted groups at their means (G,) with the
    gradients (G, d), plus the pooling priors' precision."""
    weights = _information_weights(cells, mean)
    return grad.T @ (weights[:, None] * grad) + prior_precision(objective)


def _floored_inverse(h: np.ndarray, span: np.ndarray) -> tuple[np.ndarray, int, float]:
    """H^-1 in the parameters' units with H's eigenvalues floored at
    :data:`CURVATURE_FLOOR`, the eigenvalues floored, and H's condition number. The floor is
    applied in bound-range units (``span`` (d,)), where it means the same for every
    parameter."""
    hu = h * np.outer(span, span)
    eigval, eigvec = np.linalg.eigh((hu + hu.T) / 2)
    floored = int(np.sum(eigval < CURVATURE_FLOOR))
    condition = float(eigval.max() / max(eigval.min(), 1e-300)) if eigval.min() > 0 else np.inf
    inv_u = (eigvec / np.maximum(eigval, CURVATURE_FLOOR)) @ eigvec.T
    return inv_u * np.outer(span, span), floored, condition


def refit(
    objective: Objective,
    cells: Cells,
    observed: np.ndarray,
    start: np.ndarray,
    iterations: int = 3,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Fisher scoring of the free parameters to other data: the report's counts replaced by
    ``observed`` (G,), from ``start`` (d,); each iteration one :func:`jacobian` (2 d runs)
    and a step x + H^-1 (score + prior gradient), clipped to the bounds. For checking the
    intervals on a simulated truth (scripts/uncertainty_recovery.py)."""
    lower = np.asarray(objective.config.lower, dtype=np.float64)
    upper = np.asarray(objective.config.upper, dtype=np.float64)
    span = upper - lower
    x = np.asarray(start, dtype=np.float64).copy()
    for _ in range(iterations):
        run = objective.run(x)
        mean = cells.means(run)
        grad = jacobian(objective, cells, x, progress)
        inv, _, _ = _floored_inverse(_sensitivity(objective, cells, mean, grad), span)
        score = scores(cells, mean, grad, observed[None, :])[0] + _prior_gradient(objective, x)
        x = np.clip(x + inv @ score, lower, upper)
    return x


def _prior_gradient(objective: Objective, x: np.ndarray) -> np.ndarray:
    """d/dx of the pooling priors' log-density at x (d,)."""
    return -prior_precision(objective) @ (np.asarray(x) - _prior_centres(objective))


def _prior_centres(objective: Objective) -> np.ndarray:
    """Each pooled parameter's fixed centre: a number, or the base value of a parameter that
    is not free; 0 where the centre is a free parameter (the precision's off-diagonal terms
    carry that) and for parameters without a prior."""
    out = np.zeros(len(objective.names))
    index = {n: i for i, n in enumerate(objective.names)}
    for pooled in objective.config.spec.pooled.values():
        centre = pooled.center
        if isinstance(centre, str):
            if centre in index:
                continue
            centre = value_at(objective.config.base, centre)
        for name in pooled.parameters:
            out[index[name]] = centre
    return out
