"""Exact distributions of many values over replications, built block by block.

An experiment's summary needs, for every (scenario, breakdown, group, metric), the mean and
the 5-95 % band of a value over replications, and for every scenario against the baseline the
same of the paired difference. Counts are small integers and the derived measures ratios of
them, so a value takes few distinct values however many replications there are: a table of
how many replications gave each (key, value) holds the whole distribution in memory that
grows with the distinct values, not with the replications, and gives the mean and any
percentile exactly, as :func:`numpy.percentile` computes them on the full data
(:class:`lis1abm.outcomes.aggregate.Summary` does the same for ``simulate``'s integer values,
with bins from proven bounds; here the values are floats and the bins the values seen).
Adding blocks in any order gives the same table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

KEY = ["scenario", "breakdown", "group", "metric"]
"""The columns that name a value."""


class Distribution:
    """How many replications gave each value of each key.

    Attributes
    ----------
    counts : int64 Series indexed by (``KEY``, value), sorted when read.
    order : the keys (DataFrame of ``KEY``) in the order first seen.
    """

    PENDING = 1_000_000
    """Rows of block counts kept apart before they are merged: merging aligns two indexes
    (seconds at a million rows), so it is done once per many blocks, not per block."""

    def __init__(self):
        self._counts: pd.Series | None = None
        self._pending: list[pd.Series] = []
        self.order: pd.DataFrame | None = None

    @property
    def counts(self) -> pd.Series | None:
        self._merge()
        return self._counts

    def add(self, values: pd.DataFrame) -> None:
        """Add rows with columns ``KEY`` and ``value`` (float; NaN, a measure undefined in a
        replication, is not counted)."""
        values = values[values["value"].notna()]
        keys = values[KEY].drop_duplicates()
        self.order = keys if self.order is None else _append_new(self.order, keys)
        self._pending.append(values.groupby([*KEY, "value"], sort=False, observed=True).size())
        if sum(len(p) for p in self._pending) > self.PENDING:
            self._merge()

    def _merge(self) -> None:
        if not self._pending:
            return
        parts = ([] if self._counts is None else [self._counts]) + self._pending
        both = pd.concat(parts)
        self._counts = both.groupby(level=list(range(both.index.nlevels)), sort=False).sum()
        self._counts = self._counts.astype(np.int64)
        self._pending = []

    def describe(self, q: tuple[float, float], prefix: str = "", sign: bool = False):
        """Per key: ``replications`` (values counted), ``mean``, the percentiles ``q`` (named
        ``p05``, ``p95`` for 5 and 95) and, with ``sign``, ``same_sign``: the share of
        replications whose value has the sign of the mean (0 counts as its own sign). Column
        names get ``prefix``. Keys in the order first seen."""
        columns = [
            "replications",
            "mean",
            *(f"p{int(p):02d}" for p in q),
            *(["same_sign"] if sign else []),
        ]
        counts = self.counts
        if counts is None or not len(counts):
            return pd.DataFrame(columns=[*KEY, *(prefix + c for c in columns)])
        counts = counts.sort_index()
        frame = counts.rename("n").reset_index()
        value = frame["value"].to_numpy(float)
        n = frame["n"].to_numpy(np.int64)
        key_id = frame.groupby(KEY, sort=False, observed=True).ngroup().to_numpy()
        start = np.flatnonzero(np.r_[True, key_id[1:] != key_id[:-1]])
        total = np.add.reduceat(n, start)
        out = frame.iloc[start][KEY].reset_index(drop=True)
        out["replications"] = total
        mean = np.add.reduceat(n * value, start) / total
        out["mean"] = mean
        running = np.cumsum(n)
        before = np.r_[0, running][start]

        def order_statistic(rank: np.ndarray) -> np.ndarray:
            # The first row whose running count exceeds the key's rank-th replication.
            return value[np.searchsorted(running, before + rank, side="right")]

        for p in q:
            out[f"p{int(p):02d}"] = _percentile(order_statistic, total, p)
        if sign:
            target = np.sign(mean)[np.repeat(np.arange(len(start)), np.diff(np.r_[start, len(n)]))]
            same = np.add.reduceat(n * (np.sign(value) == target), start)
            out["same_sign"] = same / total
        out = out.rename(columns={c: prefix + c for c in columns})
        return self.order.merge(out, on=KEY, how="left")


def _append_new(order: pd.DataFrame, keys: pd.DataFrame) -> pd.DataFrame:
    seen = pd.MultiIndex.from_frame(order)
    new = keys[~pd.MultiIndex.from_frame(keys).isin(seen)]
    return pd.concat([order, new], ignore_index=True) if len(new) else order


def _percentile(order_statistic, n: np.ndarray, q: float) -> np.ndarray:
    """Percentile ``q`` of each key's values, n (K,) of them, by the steps of
    :func:`numpy.percentile`'s default linear method (``order_statistic(rank)``: each key's
    rank-th smallest, 0-based), so the same bits as on the full data."""
    virtual = (n - 1) * np.true_divide(q, 100)
    previous = np.floor(virtual)
    below = np.minimum(previous, n - 1).astype(np.int64)
    above = np.minimum(previous + 1, n - 1).astype(np.int64)
    a, b = order_statistic(below), order_statistic(above)
    gamma = virtual - previous
    # numpy's _lerp: the same operations, so the same bits.
    diff = b - a
    out = np.add(a, diff * gamma)
    np.subtract(b, diff * (1 - gamma), out=out, where=gamma >= 0.5)
    return out
