"""The objective of the calibration: minus the penalised log-likelihood of the report's figures.

For a candidate vector x (the free parameters, :attr:`CalibrationConfig.names` order):

1. the parameters are the base parameters with x in place, validated as a parameter file is
   (the search's bounds lie inside every parameter's range, so a candidate cannot be invalid);
2. the markets are rebuilt with the calibration's seed, one per population draw of the
   ensemble (:mod:`lis1abm.simulation.ensemble`, P draws): the population, the applications
   and the hospitals' scores all depend on the parameters (about 45 ms a draw on 2 cores);
   when no ``population`` or ``applications`` parameter is free, the base parameters'
   populations and applications are drawn once and each candidate only rescores them (about
   12 ms a draw). The same seed and P keep the markets' own random draws common to every
   candidate;
3. R replications are played on a fixed block of replication indices (``first .. first + R -
   1``), replication r on draw r % P: every candidate sees the same random numbers and the
   same population draws, so the objective is a deterministic, much smoother function of x
   than with fresh draws; a fresh block plays other cascades on the same populations;
4. per fitted group g: the model's hire probability p_g = mean hires / applicants over the R
   replications, and the log-likelihood of the report's count k_g out of n_g:

   - ``binomial``: log C(n, k) + k log p + (n - k) log(1 - p) (``not_hired``: p -> 1 - p), with
     p clipped to [f, 1 - f], f = 0.5 / (R n): half a hire over all the replications, the
     resolution of the estimate, so that a group the model never (or always) hires costs a
     large but finite penalty instead of -inf;
   - ``poisson``: k log L - L - log k!, L the model's mean count (floor 0.5 / R), for report
     counts without a denominator (table 2's not-hired applicants with 4+ rounds: the report
     gives no number of such applicants per group, so a binomial has no n);

   times the breakdown's weight;
5. plus the pooling priors: log N(x_i; center, tau^2) for each pooled parameter (the other
   parameters have a flat prior on their bounds).

The objective is minus (log-likelihood + log-prior). Same inputs, same value: the market and
the replications are pure functions of (seed, parameters, replication indices), on any backend
and thread count.

Why binomial and not beta-binomial: the report's figures are one realised round, and a
beta-binomial's extra dispersion would be one more parameter per breakdown with a single
observation each to inform it, so it would be fixed by assumption anyway. The binomial treats
applicants of a group as independent given the model's probability; the model's own
between-replication spread of a group's hires (capacity makes groups compete) is reported
beside the fit (``p05``/``p95`` in ``fit.csv``), and the held-out breakdowns and the fresh
replication block check that the fit is not a fit to noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lis1abm.calibration.config import CalibrationConfig
from lis1abm.calibration.paths import value_at
from lis1abm.data.round import RoundData
from lis1abm.market.ranking import Market
from lis1abm.outcomes.aggregate import Summary
from lis1abm.outcomes.tally import Tally
from lis1abm.params import Params, with_overrides
from lis1abm.report.compare import report_figures, report_not_hired
from lis1abm.simulation.ensemble import Ensemble, ensemble_with, prepare_ensemble, run_ensemble
from lis1abm.simulation.sink import ResultSink


@dataclass
class Run:
    """A candidate's replications: the market of population draw 0, its tally (every draw's
    layout), their summary over every draw and, when asked for, every replication's values
    (int64 (R, K), :attr:`Tally.layout` order)."""

    params: Params
    market: Market
    tally: Tally
    summary: Summary
    values: np.ndarray | None


@dataclass
class Fit:
    """A candidate's objective and its parts (log-likelihood per target breakdown)."""

    value: float
    log_likelihood: float
    log_prior: float
    by_breakdown: dict[str, float]


class Objective:
    """Minus the penalised log-likelihood of a candidate (see the module docstring).

    Parameters
    ----------
    config : the calibration config (free parameters, targets, pooling).
    data : the round.
    seed : the root seed (market and replications).
    reps : replications per candidate (R).
    engine_name : ``cpu``, ``cuda`` or ``mesa`` (all give the same outcome).
    first : the first replication index of the fixed block.
    populations : population draws (P, checked already); replication r plays on draw r % P.
    """

    def __init__(
        self,
        config: CalibrationConfig,
        data: RoundData,
        seed: int,
        reps: int,
        engine_name: str = "cpu",
        first: int = 0,
        populations: int = 1,
    ):
        self.config = config
        self.data = data
        self.seed = seed
        self.reps = reps
        self.engine_name = engine_name
        self.first = first
        self.populations = populations
        self.names = config.names
        self.evaluations = 0
        self._report: dict | None = None
        self._not_hired: dict = {}
        self._base: Ensemble | None = None

    def params_at(self, x) -> Params:
        """The base parameters with the candidate ``x`` (len(names),) in place."""
        values = dict(zip(self.names, map(float, x), strict=True))
        return with_overrides(self.config.base, values)

    def run(self, x, first: int | None = None, keep_values: bool = False) -> Run:
        """Rebuild the markets at ``x`` and play the block of R replications from ``first``
        (default: the fixed block) over the population draws."""
        params = self.params_at(x)
        ensemble = ensemble_with(self.base_ensemble(), params)
        tally = ensemble.tally
        kept = (keep_values, False, self.populations)
        sink = ResultSink(tally, {}, None, *kept)
        start = self.first if first is None else first
        summary = run_ensemble(self.engine_name, ensemble, self.reps, sink, first=start)
        self.evaluations += 1
        return Run(params, ensemble.first.market, tally, summary, sink.values())

    def base_ensemble(self) -> Ensemble:
        """The markets of the base parameters, built once: a candidate that changes no
        ``population`` or ``applications`` parameter keeps their populations and
        applications and is only rescored (:func:`~lis1abm.simulation.ensemble.ensemble_with`),
        the same markets :func:`~lis1abm.simulation.ensemble.prepare_ensemble` would build."""
        if self._base is None:
            self._base = prepare_ensemble(
                self.data, self.config.base, seed=self.seed, populations=self.populations
            )
        return self._base

    def fit(self, x, run: Run) -> Fit:
        """The objective's parts at ``x`` from its replications."""
        by = self.log_likelihoods(run)
        loglik = float(sum(by.values()))
        logprior = self.log_prior(x)
        return Fit(-(loglik + logprior), loglik, logprior, by)

    def __call__(self, x, first: int | None = None) -> float:
        """Minus the penalised log-likelihood at ``x`` (on the block from ``first``)."""
        return self.fit(x, self.run(x, first)).value

    def log_likelihoods(self, run: Run) -> dict[str, float]:
        """The weighted log-likelihood of each target breakdown (see the module docstring)."""
        layout = run.tally.layout
        mean = run.summary.mean()
        if self._report is None:  # the report's figures depend on the round only
            self._report = report_figures(run.market)
            self._not_hired = report_not_hired(run.market)
        out = {}
        reps = run.summary.replications
        for name, target in self.config.spec.targets.items():
            total = 0.0
            for group, n_model, hired in _cells(layout, mean, name):
                if target.observed == "not_hired":
                    # Table 2 counts the not hired among the model's own applicants with 4+
                    # rounds: the report has no denominator, so n is the model's.
                    observed = self._not_hired.get((name, group))
                    if observed is None:
                        continue  # a group table 2 does not count (fewer than 4 rounds)
                    n, model = n_model, n_model - hired
                else:
                    figure = self._report.get((name, group))
                    if figure is None or figure[1] is None:
                        continue  # a group the report gives no figure for
                    n, observed, model = int(figure[0]), int(figure[1]), hired
                if target.likelihood == "binomial":
                    total += binomial_loglik(int(observed), int(n), model / max(n_model, 1), reps)
                else:
                    total += poisson_loglik(int(observed), model, reps)
            out[name] = target.weight * total
        return out

    def log_prior(self, x) -> float:
        """Sum of the pooling priors' log-densities at ``x``."""
        at = dict(zip(self.names, map(float, x), strict=True))
        total = 0.0
        for pooled in self.config.spec.pooled.values():
            center = pooled.center
            if isinstance(center, str):
                center = at[center] if center in at else value_at(self.config.base, center)
            for name in pooled.parameters:
                z = (at[name] - center) / pooled.tau
                total += -0.5 * z * z - math.log(pooled.tau * math.sqrt(2 * math.pi))
        return total


def _cells(layout, mean: np.ndarray, breakdown: str):
    """(group, applicants, mean hires) of each group of a breakdown."""
    rows = layout.index[layout["breakdown"].to_numpy() == breakdown]
    values = {}
    for k in rows:
        values[(layout.at[k, "group"], layout.at[k, "metric"])] = mean[k]
    for (group, metric), v in values.items():
        if metric == "hired":
            yield group, float(values[(group, "applicants")]), float(v)


def binomial_loglik(k: int, n: int, p: float, reps: int) -> float:
    """log P(k of n | p), p clipped to [f, 1 - f] with f = 0.5 / (reps * n)."""
    if n == 0:
        return 0.0
    floor = 0.5 / (reps * n)
    p = min(max(p, floor), 1.0 - floor)
    log_choose = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
    return log_choose + k * math.log(p) + (n - k) * math.log1p(-p)


def poisson_loglik(k: int, mean: float, reps: int) -> float:
    """log P(k | Poisson(mean)), mean at least 0.5 / reps."""
    mean = max(mean, 0.5 / reps)
    return k * math.log(mean) - mean - math.lgamma(k + 1)
