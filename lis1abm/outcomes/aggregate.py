"""Replications summarised as they come: exact integer histograms of every value.

Every value of a replication (see :class:`lis1abm.outcomes.tally.Tally`) is a small non-negative
integer with known bounds (hires of a group, cascade counts), so a histogram per value holds
everything the comparison needs, exactly: the sum (hence the mean) and every order statistic
(hence any percentile, computed as :func:`numpy.percentile` computes it on the full data).
A :class:`Summary` takes batches from any backend (the engine's hire counts and cascades, or
the Mesa model's values) and merges with another one by adding histograms, so batches,
threads, processes or machines can be reduced in any order with the same result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numba import njit, prange

from lis1abm.compiled import cached_njit
from lis1abm.outcomes.tally import recipe_value

if TYPE_CHECKING:
    from lis1abm.outcomes.tally import Tally

PERCENTILES = (5, 10, 90, 95)
"""Percentiles a summary is usually asked for (the comparison shows 10 and 90)."""


@njit
def add_replication(counts, cascade, const, ptr, src, lo, width, offset, hist) -> int:
    """Count one replication's values into ``hist``; returns how many fell outside their bins.

    Parameters
    ----------
    counts : int64 (S,): hires per slot.
    cascade : int64 (R, F): cascade counts per round.
    const, ptr, src : the values as a constant plus a sum of sources (:class:`Tally`,
        :func:`lis1abm.outcomes.tally.recipe_value`).
    lo, width, offset : value k's bins hold ``lo[k] .. lo[k] + width[k] - 1`` at
        ``hist[offset[k]:offset[k] + width[k]]``.
    hist : int64 (H,): incremented in place.
    """
    outside = 0
    flat = cascade.reshape(-1)
    for k in range(const.shape[0]):
        b = recipe_value(k, counts, flat, const, ptr, src) - lo[k]
        if 0 <= b < width[k]:
            hist[offset[k] + b] += 1
        else:
            outside += 1
    return outside


@cached_njit(parallel=True)
def _add_batch(counts, cascade, const, ptr, src, lo, width, offset, hist, tasks) -> int:
    """Count replications (counts (B, S), cascade (B, R, F)) into ``hist`` (H,) on the threads,
    one partial histogram per task; returns how many values fell outside their bins."""
    n = counts.shape[0]
    partial = np.zeros((tasks, hist.shape[0]), np.int64)
    outside = np.zeros(tasks, np.int64)
    for t in prange(tasks):
        for b in range(t * n // tasks, (t + 1) * n // tasks):
            outside[t] += add_replication(
                counts[b], cascade[b], const, ptr, src, lo, width, offset, partial[t]
            )
    for t in range(tasks):
        hist += partial[t]
    return outside.sum()


class Summary:
    """Exact histograms of every value of a tally's layout, over the replications added.

    Attributes
    ----------
    tally : the layout of the values (K of them).
    replications : replications added so far.
    hist : int64 (H,): value k's histogram is ``hist[offset[k]:offset[k] + width[k]]``, bin b
        counting replications where the value was ``lo[k] + b``.
    lo, width, offset : int64 (K,): the bins, from the bounds the tally proves
        (:attr:`Tally.value_const`, :attr:`Tally.value_hi`), or from ``bounds``.

    Parameters
    ----------
    tally : the layout, and the recipe of the values counted by :meth:`add_counts` and the
        engines.
    bounds : (lo, hi), int64 (K,) each: the values' smallest and largest, inclusive; default
        the tally's own. A population ensemble gives every draw's summary the bounds of all
        its draws (:func:`bounds_over`), so that they add up into one summary.
    """

    def __init__(self, tally: Tally, bounds: tuple[np.ndarray, np.ndarray] | None = None):
        self.tally = tally
        self.replications = 0
        lo, hi = (tally.value_const, tally.value_hi) if bounds is None else bounds
        lo, hi = np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64)
        if lo.shape != tally.value_const.shape or hi.shape != lo.shape or np.any(hi < lo):
            raise ValueError("bounds must be two int64 (K,) arrays with lo <= hi")
        self.lo = lo
        self.width = hi - lo + 1
        self.offset = np.concatenate([[0], np.cumsum(self.width)[:-1]]).astype(np.int64)
        self.hist = np.zeros(int(self.width.sum()), dtype=np.int64)

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi), int64 (K,) each: the smallest and largest value each histogram holds."""
        return self.lo, self.lo + self.width - 1

    def kernel_args(self) -> tuple[np.ndarray, ...]:
        """The arrays :func:`add_replication` takes, before ``hist``: const, ptr, src, lo,
        width, offset."""
        t = self.tally
        return t.value_const, t.value_ptr, t.value_src, self.lo, self.width, self.offset

    def add_histogram(self, hist: np.ndarray, replications: int, outside: int = 0) -> None:
        """Add histograms counted elsewhere (by :func:`add_replication`, e.g. in the CPU
        driver) of ``replications`` replications; ``outside`` values that missed their bins
        mean a bound in :class:`Tally` is wrong, and raise RuntimeError."""
        if outside:
            raise RuntimeError(
                f"{outside} values lay outside the bounds the tally proves for them "
                "(a bug in Tally's bounds or in the engine)"
            )
        hist = np.asarray(hist, dtype=np.int64)
        if hist.shape != self.hist.shape:
            raise ValueError(f"histogram of shape {hist.shape}, expected {self.hist.shape}")
        self.hist += hist
        self.replications += int(replications)

    def add_counts(self, counts: np.ndarray, cascade: np.ndarray, *, tasks: int = 0) -> None:
        """Add replications from their hire counts, int64 (B, S), and cascades, int64 (B, R,
        F), on numba threads (``tasks`` partial histograms; default: one per thread)."""
        counts = np.ascontiguousarray(counts, dtype=np.int64)
        cascade = np.ascontiguousarray(cascade, dtype=np.int64)
        if counts.shape[0] != cascade.shape[0]:
            raise ValueError("counts and cascade must hold the same replications")
        if counts.shape[0] == 0:
            return
        import numba

        tasks = max(1, min(tasks or numba.get_num_threads(), counts.shape[0]))
        hist = np.zeros_like(self.hist)
        outside = _add_batch(counts, cascade, *self.kernel_args(), hist, tasks)
        self.add_histogram(hist, counts.shape[0], int(outside))

    def add_values(self, values: np.ndarray) -> None:
        """Add replications from their values, int64 (B, K) aligned with the tally's layout
        (the Mesa model's :meth:`Tally.values`)."""
        values = np.asarray(values, dtype=np.int64).reshape(-1, len(self.width))
        bins = values - self.lo
        inside = (bins >= 0) & (bins < self.width)
        hist = np.bincount((self.offset + bins)[inside], minlength=len(self.hist))
        self.add_histogram(hist, len(values), int((~inside).sum()))

    def merge(self, other: Summary) -> Summary:
        """A new summary of the replications of both (the same layout required)."""
        if other.hist.shape != self.hist.shape or not np.array_equal(other.lo, self.lo):
            raise ValueError("summaries of different layouts cannot be merged")
        out = Summary(self.tally, self.bounds)
        out.add_histogram(self.hist + other.hist, self.replications + other.replications)
        return out

    def histogram(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Value k's histogram: the values (int64 (W,)) and how many replications gave each."""
        start = self.offset[k]
        return self.lo[k] + np.arange(self.width[k]), self.hist[start : start + self.width[k]]

    def sums(self) -> np.ndarray:
        """int64 (K,): each value summed over the replications (exact)."""
        bin_value = np.repeat(self.lo - self.offset, self.width) + np.arange(len(self.hist))
        return np.add.reduceat(self.hist * bin_value, self.offset)

    def mean(self) -> np.ndarray:
        """float64 (K,): each value's mean over the replications; equal to
        :func:`numpy.mean` on the full data (exact sums, one rounding)."""
        self._require_data()
        return self.sums() / self.replications

    def order_statistics(self, ranks: np.ndarray) -> np.ndarray:
        """int64 (K, len(ranks)): each value's ``ranks``-th smallest over the replications
        (0-based)."""
        self._require_data()
        ranks = np.asarray(ranks, dtype=np.int64)
        running = np.cumsum(self.hist)
        before = np.concatenate([[0], running])[self.offset]  # counts of earlier values
        # The smallest bin whose running count exceeds the rank.
        at = np.searchsorted(running, before[:, None] + ranks[None, :], side="right")
        return self.lo[:, None] + at - self.offset[:, None]

    def percentile(self, q) -> np.ndarray:
        """float64 (K,) for a scalar q, (len(q), K) for a sequence: percentiles of each value,
        bit for bit as ``numpy.percentile(values, q, axis=0)`` computes them on the full data
        (its default linear method)."""
        scalar = np.ndim(q) == 0
        # numpy's steps in numpy.percentile / _quantile, method "linear", in its order.
        quantiles = np.true_divide(np.atleast_1d(np.asarray(q, dtype=np.float64)), 100)
        n = self.replications
        virtual = (n - 1) * quantiles
        # numpy's neighbouring indices: -1 (the largest) above the last, 0 below the first.
        previous = np.floor(virtual)
        previous = np.where(virtual >= n - 1, -1, np.where(virtual < 0, 0, previous))
        following = np.where(previous == -1, -1, np.where(virtual < 0, 0, previous + 1))
        prev_i, next_i = previous.astype(np.int64) % n, following.astype(np.int64) % n
        ranks = np.unique(np.concatenate([prev_i, next_i]))
        stats = self.order_statistics(ranks)
        a = stats[:, np.searchsorted(ranks, prev_i)].T  # (Q, K)
        b = stats[:, np.searchsorted(ranks, next_i)].T
        gamma = (virtual - previous)[:, None]
        result = _lerp(a, b, gamma)
        return result[0] if scalar else result

    def _require_data(self) -> None:
        if self.replications == 0:
            raise ValueError("a summary of no replications has no mean or percentiles")


def _lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """numpy's linear interpolation of quantiles (``numpy.lib._function_base_impl._lerp``):
    the same operations, so the same bits."""
    diff_b_a = b - a
    out = np.add(a, diff_b_a * t)
    np.subtract(b, diff_b_a * (1 - t), out=out, where=t >= 0.5, casting="unsafe")
    return out


def bounds_over(tallies) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi), int64 (K,) each: bounds holding the values of every tally's replications
    (the smallest of their lower bounds, the largest of their upper ones). The tallies must
    share one layout (a population ensemble's draws: the same rows, other constants such as a
    group's applicants)."""
    tallies = list(tallies)
    first = tallies[0]
    for other in tallies[1:]:
        if not other.layout.equals(first.layout):
            raise ValueError("tallies of different layouts have no common bounds")
    lo = np.min([t.value_const for t in tallies], axis=0)
    hi = np.max([t.value_hi for t in tallies], axis=0)
    return lo, hi
