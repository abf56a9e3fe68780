"""Conditional likelihood intervals: each parameter scanned alone, the others at the best point.

For parameter i the objective (minus the penalised log-likelihood) is evaluated at
``best + k h e_i`` for k = ±1, ±2, ..., ±``steps``, with ``h`` a fixed fraction of the
parameter's bound range, until it rises more than :data:`THRESHOLD` = chi2_1(0.95) / 2 = 1.92
above its value at the best point; the crossing is interpolated linearly between the last two
points. The interval is the set of values whose objective is within 1.92 of the best: a 95 %
likelihood-ratio interval for that parameter *with the others held fixed*.

Why this and what it is not: in 29 dimensions, with an objective that is deterministic (common
random numbers) but rough (hires are whole numbers, so the objective moves in small steps), a
global posterior by importance sampling had an effective sample size of 1-2, and a quadratic
response surface fitted to the search's trials (:mod:`lis1abm.calibration.laplace`) found no
curvature in many directions. A scan along each axis is cheap (at most
``2 * steps`` evaluations per parameter) and answers a plain question: how far can this
parameter move before the report's figures say no? It is *narrower* than a profile interval
(which re-optimises the other parameters at each value, letting correlated parameters
compensate), so read it as a lower bound on the uncertainty. An interval that reaches
``steps * h`` without crossing is open on that side (flagged): the data barely constrain the
parameter there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

THRESHOLD = 1.920729410347062
"""Half the 95 % quantile of chi-squared with one degree of freedom (3.8415 / 2)."""


@dataclass
class Scan:
    """The scans' result, one entry per parameter (shapes (d,)).

    Attributes
    ----------
    lo, hi : the interval's ends (parameter units).
    open_lo, open_hi : no crossing found on that side within the scan (or the bound reached
        first): the interval extends at least to ``lo`` / ``hi``.
    evaluations : objective evaluations made.
    """

    lo: np.ndarray
    hi: np.ndarray
    open_lo: np.ndarray
    open_hi: np.ndarray
    evaluations: int


def conditional_intervals(
    objective: Callable[[np.ndarray], float],
    best: np.ndarray,
    f_best: float,
    lower: np.ndarray,
    upper: np.ndarray,
    steps: int = 6,
    step_fraction: float = 0.025,
    progress: Callable[[int], None] | None = None,
) -> Scan:
    """Scan each parameter of ``best`` (d,) on both sides (see the module docstring).

    ``objective`` maps a point (d,) to minus the penalised log-likelihood; ``f_best`` is its
    value at ``best``; ``lower``/``upper`` (d,) the bounds; ``h = step_fraction * (upper -
    lower)``. ``progress`` is called with 1 per parameter scanned.
    """
    best = np.asarray(best, dtype=float)
    d = len(best)
    ends = np.empty((2, d))
    is_open = np.zeros((2, d), dtype=bool)
    evaluations = 0
    for i in range(d):
        h = step_fraction * (upper[i] - lower[i])
        for s, side in enumerate((-1.0, 1.0)):
            end, open_, used = _scan_side(
                objective, best, f_best, i, side * h, steps, lower[i], upper[i]
            )
            ends[s, i], is_open[s, i] = end, open_
            evaluations += used
        if progress is not None:
            progress(1)
    return Scan(ends[0], ends[1], is_open[0], is_open[1], evaluations)


def _scan_side(objective, best, f_best, i, step, steps, lo, hi) -> tuple[float, bool, int]:
    """Walk from ``best`` along axis i by ``step`` until the objective rises more than
    :data:`THRESHOLD` or a bound is reached. Returns (end, open, evaluations)."""
    previous_x, previous_rise = best[i], 0.0
    for k in range(1, steps + 1):
        x = best.copy()
        x[i] = min(max(best[i] + k * step, lo), hi)
        rise = objective(x) - f_best
        if rise > THRESHOLD:
            # Linear interpolation of the crossing between the last two points.
            t = (THRESHOLD - max(previous_rise, 0.0)) / (rise - max(previous_rise, 0.0))
            return previous_x + t * (x[i] - previous_x), False, k
        previous_x, previous_rise = x[i], rise
        if x[i] in (lo, hi):
            return x[i], True, k  # the bound comes first: open at the bound
    return previous_x, True, steps
