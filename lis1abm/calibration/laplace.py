"""Uncertainty of the estimates: a Laplace approximation from a quadratic response surface.

The posterior is exp(log-likelihood + log-prior) on the bounds (flat prior apart from the
pooling priors), evaluated with the objective on the fixed replication block, so the objective
is minus the log posterior (up to a constant). The search's trials already hold its shape near
the optimum: the objective's values around the best point.

1. **Quadratic response surface** (:func:`fit_quadratic`). Each parameter is standardised by
   its bound range around the best trial, u = (x - best) / (upper - lower). A quadratic
   f(u) = c + g'u + u'Hu/2 is fitted by weighted least squares to the K best completed trials,
   with weights 1 / (1 + (y - y_best) / m), m the median excess of the K (half weight at the
   median: the fit leans toward the optimum, where the posterior's mass is). The full
   quadratic has p = (d + 1)(d + 2) / 2 coefficients and is used when there are at least
   :data:`COMFORT` x p completed trials; otherwise a diagonal quadratic (p = 2d + 1, no cross
   terms), which needs COMFORT x (2d + 1) trials; K = min(T, :data:`FIT_FACTOR` x p). With
   fewer trials there is no quadratic (``method = "none"``, in the outputs) and the intervals
   are a tenth of each range either side of the best point.
2. **Laplace covariance.** H is made positive definite by flooring its eigenvalues at
   :data:`CURVATURE_FLOOR` (in objective units per squared bound range): a direction with no,
   or negative, curvature gets an sd of one bound range, so that the bounds, not the data,
   limit it. The Laplace covariance is H^-1, mapped back to the parameters' units, and the
   intervals (:func:`laplace_intervals`) are the best point -+ 1.645 sd, clipped to the bounds.

The conditional likelihood intervals of :mod:`lis1abm.calibration.scan` are reported beside
them. (Importance sampling around this approximation was tried and dropped: in 29 dimensions,
with 9 directions without curvature, 300 draws had an effective sample size of about 2.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

COMFORT = 2.0
"""A quadratic model is fitted only with at least this many trials per coefficient."""
FIT_FACTOR = 3.0
"""The quadratic is fitted to the best min(T, FIT_FACTOR x coefficients) trials."""
CURVATURE_FLOOR = 1.0
"""Floor of the Hessian's eigenvalues, objective units per squared bound range: at most one
bound range of sd in any direction."""
Z95 = 1.6448536269514722
"""The standard normal's 95 % quantile (the Laplace intervals)."""


@dataclass
class Quadratic:
    """A quadratic response surface of the objective around ``centre`` (the best trial).

    Attributes
    ----------
    method : ``full``, ``diagonal`` or ``none`` (too few trials: no fit).
    centre : float64 (d,): the best trial (the expansion point).
    gradient, hessian : float64 (d,), (d, d): in the parameters' units (the Hessian before the
        eigenvalue floor).
    cov : float64 (d, d): the Laplace covariance (floored Hessian's inverse), parameters' units.
    minimiser : float64 (d,): the quadratic's minimiser (floored Hessian) clipped to the bounds.
    trials : the trials the fit used.
    r2 : weighted R^2 of the fit (nan without one).
    floored : eigenvalues raised to the floor.
    """

    method: str
    centre: np.ndarray
    gradient: np.ndarray
    hessian: np.ndarray
    cov: np.ndarray
    minimiser: np.ndarray
    trials: int
    r2: float
    floored: int


def fit_quadratic(
    x: np.ndarray, values: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> Quadratic:
    """The quadratic response surface (see the module docstring) of the completed trials ``x``
    (T, d) with objective ``values`` (T,) inside the bounds ``lower``, ``upper`` (d,)."""
    T, d = x.shape
    span = np.asarray(upper, float) - np.asarray(lower, float)
    order = np.argsort(values, kind="stable")
    centre = x[order[0]].copy() if T else (lower + upper) / 2.0
    p_full, p_diag = (d + 1) * (d + 2) // 2, 2 * d + 1
    if T >= COMFORT * p_full:
        method, p = "full", p_full
    elif T >= COMFORT * p_diag:
        method, p = "diagonal", p_diag
    else:
        cov = np.diag((span / 10.0) ** 2)
        nan = np.full(d, np.nan)
        return Quadratic("none", centre, nan, np.full((d, d), np.nan), cov, centre, 0, np.nan, 0)
    k = int(min(T, FIT_FACTOR * p))
    chosen = order[:k]
    u = (x[chosen] - centre) / span
    y = values[chosen]
    excess = y - y[0]
    m = np.median(excess)
    w = 1.0 / (1.0 + excess / m) if m > 0 else np.ones(k)
    iu = np.triu_indices(d) if method == "full" else (np.arange(d), np.arange(d))
    # Columns: 1, u_i, then u_i u_j (i <= j; the diagonal only for "diagonal").
    design = np.hstack([np.ones((k, 1)), u, u[:, iu[0]] * u[:, iu[1]]])
    sw = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(design * sw[:, None], y * sw, rcond=None)
    resid = y - design @ coef
    ybar = np.average(y, weights=w)
    r2 = 1.0 - np.sum(w * resid**2) / max(np.sum(w * (y - ybar) ** 2), 1e-300)
    g = coef[1 : d + 1]
    quad = coef[d + 1 :]
    h = np.zeros((d, d))
    for c, i, j in zip(quad, iu[0], iu[1], strict=True):
        if i == j:
            h[i, i] = 2.0 * c
        else:
            h[i, j] = h[j, i] = c
    eig, vec = np.linalg.eigh(h)
    floored = int(np.sum(eig < CURVATURE_FLOOR))
    eig = np.maximum(eig, CURVATURE_FLOOR)
    h_inv = (vec / eig) @ vec.T
    cov_u = 0.5 * (h_inv + h_inv.T)
    cov = cov_u * np.outer(span, span)
    minimiser = np.clip(centre - (h_inv @ g) * span, lower, upper)
    # Back to the parameters' units: u = (x - centre) / span.
    return Quadratic(
        method,
        centre,
        g / span,
        h / np.outer(span, span),
        cov,
        minimiser,
        k,
        float(r2),
        floored,
    )


def laplace_intervals(
    mode: np.ndarray, cov: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> np.ndarray:
    """float64 (2, d): the Laplace 5 and 95 % points, mode -+ 1.645 sd clipped to the bounds."""
    sd = np.sqrt(np.diag(cov))
    return np.array(
        [np.clip(mode - Z95 * sd, lower, upper), np.clip(mode + Z95 * sd, lower, upper)]
    )
