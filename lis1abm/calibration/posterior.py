"""Uncertainty of the estimates: an importance-sampling sample of the posterior.

The posterior is exp(log-likelihood + log-prior) on the bounds (flat prior apart from the
pooling priors), evaluated with the objective on the fixed replication block. The proposal is
a multivariate normal around the best point; its covariance is the empirical covariance of the
best ``top_fraction`` of the search's completed trials (at least d + 1 of them), times
``inflation``: CMA-ES spends its last generations near the optimum, so the best trials trace
the shape of the objective's basin; the inflation (2 by default) makes the proposal wider than
that basin, since a proposal narrower than the posterior gives a few huge weights. A small
ridge (1e-4 of each parameter's range, squared) keeps it positive definite. Draws outside the
bounds are redrawn (a truncated normal: its normalising constant is the same for every draw
and cancels in the self-normalised weights w_i proportional to exp(loglik + logprior -
log proposal)).

The weighted 5/50/95 % quantiles are reported per parameter, with the effective sample size
ESS = (sum w)^2 / sum w^2. With an ESS below :data:`SMALL_ESS` the intervals rest on a handful of
draws and are unreliable (the output says so): a wider proposal (``inflation``), more draws or
a longer search help.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

SMALL_ESS = 30.0
"""Below this effective sample size the intervals are flagged as unreliable."""
MAX_TRIES = 1000
"""Proposal draws per kept draw before giving up on the bounds (a proposal far outside)."""


@dataclass
class Posterior:
    """Importance-sampling draws.

    Attributes
    ----------
    draws : float64 (M, d): the candidates.
    log_target : float64 (M,): log-likelihood + log-prior of each (minus the objective).
    weights : float64 (M,): normalised importance weights (sum 1).
    ess : effective sample size.
    mean, cov : the proposal (d,), (d, d).
    """

    draws: np.ndarray
    log_target: np.ndarray
    weights: np.ndarray
    ess: float
    mean: np.ndarray
    cov: np.ndarray

    @property
    def reliable(self) -> bool:
        return self.ess >= SMALL_ESS

    def quantiles(self, q=(0.05, 0.5, 0.95)) -> np.ndarray:
        """float64 (len(q), d): weighted quantiles of each parameter."""
        return np.array(
            [
                weighted_quantiles(self.draws[:, i], self.weights, q)
                for i in range(self.draws.shape[1])
            ]
        ).T


def proposal(
    x: np.ndarray,
    values: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    top_fraction: float,
    inflation: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The proposal's mean (the best trial, (d,)) and covariance ((d, d)) from the completed
    trials ``x`` (T, d) with objective ``values`` (T,)."""
    d = x.shape[1]
    order = np.argsort(values, kind="stable")
    span = upper - lower
    top = max(d + 1, int(np.ceil(top_fraction * len(values))))
    if len(values) >= top:
        cov = np.atleast_2d(np.cov(x[order[:top]], rowvar=False))
    else:  # too few trials for a covariance: a tenth of each range
        cov = np.diag((span / 10.0) ** 2)
    cov = inflation * cov + np.diag((1e-4 * span) ** 2)
    return x[order[0]].copy(), cov


def importance_sample(
    log_target: Callable[[np.ndarray], float],
    mean: np.ndarray,
    cov: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    draws: int,
    rng: np.random.Generator,
    progress: Callable[[int], None] | None = None,
) -> Posterior:
    """``draws`` draws of the normal (mean, cov) truncated to the bounds, weighted by
    exp(log_target - log proposal)."""
    d = len(mean)
    chol = np.linalg.cholesky(cov)
    kept: list[np.ndarray] = []
    tries = 0
    while len(kept) < draws:
        z = mean + rng.standard_normal(d) @ chol.T
        tries += 1
        if np.all(z >= lower) and np.all(z <= upper):
            kept.append(z)
        elif tries > MAX_TRIES * draws:
            raise RuntimeError("the proposal lies almost wholly outside the bounds")
    x = np.array(kept).reshape(draws, d)
    target = np.empty(draws)
    for i in range(draws):
        target[i] = log_target(x[i])
        if progress is not None:
            progress(1)
    inv = np.linalg.inv(cov)
    centred = x - mean
    log_q = -0.5 * np.einsum("ij,jk,ik->i", centred, inv, centred)  # constants cancel
    log_w = target - log_q
    if draws == 0:
        return Posterior(x, target, np.zeros(0), 0.0, mean, cov)
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    ess = float(1.0 / np.sum(w * w))
    return Posterior(x, target, w, ess, mean, cov)


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, q) -> np.ndarray:
    """Quantiles ``q`` (in [0, 1]) of ``values`` (M,) with ``weights`` (M,): the weighted
    empirical distribution, each draw's mass centred on its value, linearly interpolated."""
    if len(values) == 0:
        return np.full(len(q), np.nan)
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order] / weights.sum()
    cdf = np.cumsum(w) - 0.5 * w
    return np.interp(q, cdf, v)
