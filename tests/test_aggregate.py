"""The summary of replications: exact histograms give numpy's means and percentiles bit for
bit, merge in any order, and are the same whether counted on the engine's threads or on the
host."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from lis1abm import engine
from lis1abm.engine import cpu
from lis1abm.outcomes.aggregate import PERCENTILES, Summary
from lis1abm.outcomes.tally import Tally

QS = [*PERCENTILES, 0, 1, 12.5, 33.3, 50, 66.7, 99, 100]


def integer_layout(rng, k: int):
    """A stand-in tally of k values with random bounds [lo, hi], and the bounds."""
    lo = rng.integers(0, 30, k)
    hi = lo + rng.integers(0, 60, k)
    return SimpleNamespace(value_const=lo.astype(np.int64), value_hi=hi.astype(np.int64))


def random_values(rng, layout, n: int) -> np.ndarray:
    lo, hi = layout.value_const, layout.value_hi
    # Skewed draws so that runs of equal values straddle the percentile positions.
    u = rng.random((n, len(lo))) ** 3
    return (lo + np.floor(u * (hi - lo + 1))).astype(np.int64)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 11, 20, 99, 1000, 4097])
def test_mean_and_percentiles_equal_numpy_on_random_integers(n):
    rng = np.random.default_rng(n)
    layout = integer_layout(rng, 12)
    values = random_values(rng, layout, n)
    summary = Summary(layout)
    summary.add_values(values)
    assert summary.replications == n
    np.testing.assert_array_equal(summary.sums(), values.sum(axis=0))
    # Bit for bit, not approximately: the tables print these figures.
    assert np.array_equal(summary.mean(), values.mean(axis=0))
    assert np.array_equal(summary.percentile(QS), np.percentile(values, QS, axis=0))
    assert np.array_equal(summary.percentile(10), np.percentile(values, 10, axis=0))
    ranks = np.arange(n)
    np.testing.assert_array_equal(summary.order_statistics(ranks), np.sort(values, axis=0).T)


def test_merge_order_does_not_matter():
    """Batches reduced in any order, as a chain or a tree, give the same summary as all the
    values at once."""
    rng = np.random.default_rng(7)
    layout = integer_layout(rng, 9)
    values = random_values(rng, layout, 600)
    cuts = np.sort(rng.choice(np.arange(1, 600), size=7, replace=False))
    batches = []
    for part in np.split(values, cuts):
        s = Summary(layout)
        s.add_values(part)
        batches.append(s)
    whole = Summary(layout)
    whole.add_values(values)
    orders = [list(range(8)), list(range(8))[::-1], list(rng.permutation(8))]
    merged = []
    for order in orders:
        acc = Summary(layout)
        for i in order:
            acc = acc.merge(batches[i])
        merged.append(acc)
    pairs = [batches[i].merge(batches[i + 1]) for i in range(0, 8, 2)]
    merged.append(pairs[3].merge(pairs[0]).merge(pairs[2].merge(pairs[1])))
    for m in merged:
        assert m.replications == whole.replications
        np.testing.assert_array_equal(m.hist, whole.hist)
        assert np.array_equal(m.percentile(QS), np.percentile(values, QS, axis=0))
        assert np.array_equal(m.mean(), values.mean(axis=0))


def test_merge_refuses_another_layout():
    rng = np.random.default_rng(1)
    a, b = Summary(integer_layout(rng, 4)), Summary(integer_layout(rng, 4))
    with pytest.raises(ValueError, match="different layouts"):
        a.merge(b)


def test_a_value_outside_its_bounds_raises():
    """A value the tally's bounds do not allow is a bug, never a silently dropped count."""
    layout = SimpleNamespace(value_const=np.array([0, 5]), value_hi=np.array([3, 5]))
    summary = Summary(layout)
    with pytest.raises(RuntimeError, match="outside the bounds"):
        summary.add_values(np.array([[4, 5]]))
    with pytest.raises(RuntimeError, match="outside the bounds"):
        summary.add_values(np.array([[1, 6]]))
    assert summary.replications == 0 and summary.hist.sum() == 0
    with pytest.raises(ValueError, match="no replications"):
        summary.mean()


@pytest.fixture(scope="module")
def flat(market):
    """The autumn 2024 market (seed 2024), its tally, engine arrays and parameter rows."""
    tally = Tally(market)
    return market, tally, engine.flatten(market, tally), engine.param_rows(market)


def test_engine_summary_equals_numpy_on_real_runs(flat, monkeypatch):
    """300 replications of the autumn 2024 market: the summary counted on the CPU engine's
    threads, with any thread count and chunk size, and the one counted on the host from
    per-replication counts, give numpy's mean and percentiles of the values exactly."""
    market, tally, arrays, rows = flat
    reps = np.arange(300)
    full = engine.run_cpu(arrays, market.seed, reps, rows)
    values = tally.values_from(full.counts, full.cascade)
    host = Summary(tally)
    host.add_counts(full.counts, full.cascade)
    from_values = Summary(tally)
    from_values.add_values(values)
    np.testing.assert_array_equal(host.hist, from_values.hist)
    for threads, chunk in ((1, 16), (2, 7), (2, 300)):
        summary = Summary(tally)
        monkeypatch.setattr(cpu, "CHUNK", chunk)
        out = engine.run_cpu(arrays, market.seed, reps, rows, threads=threads, summary=summary)
        assert out.counts is None and out.cascade is None
        np.testing.assert_array_equal(summary.hist, host.hist)
    assert summary.replications == 300
    assert np.array_equal(summary.mean(), values.mean(axis=0))
    assert np.array_equal(summary.percentile(QS), np.percentile(values, QS, axis=0))
    # Not vacuous: the hires of most groups vary between replications.
    assert (values.min(axis=0) < values.max(axis=0)).sum() > 100


def test_engine_summary_of_batches_merges(flat):
    """Batches of replications summarised separately (as workers would) merge into the
    summary of all of them."""
    market, tally, arrays, rows = flat
    parts = []
    for ids in (np.arange(0, 50), np.arange(50, 120), np.arange(120, 128)):
        s = Summary(tally)
        engine.run_cpu(arrays, market.seed, ids, rows, summary=s)
        parts.append(s)
    whole = Summary(tally)
    engine.run_cpu(arrays, market.seed, np.arange(128), rows, summary=whole)
    merged = parts[2].merge(parts[0]).merge(parts[1])
    np.testing.assert_array_equal(merged.hist, whole.hist)
    assert merged.replications == whole.replications == 128


def test_tally_bounds_hold_and_are_not_loose(flat):
    """Every value lies within the tally's bounds; the histograms stay small (a few
    hundred thousand bins, not one per possible total of any value). Most bins are those of
    ``skipped_withdrawn``, bounded by the qualified applications (about 10,000) in each of the
    13 rounds: 286,000 bins in all, 2.3 MB."""
    market, tally, arrays, rows = flat
    out = engine.run_cpu(arrays, market.seed, np.arange(200), rows)
    values = tally.values_from(out.counts, out.cascade)
    assert (values >= tally.value_const).all() and (values <= tally.value_hi).all()
    constant = tally.value_ptr[1:] == tally.value_ptr[:-1]
    np.testing.assert_array_equal(tally.value_hi[constant], tally.value_const[constant])
    assert len(Summary(tally).hist) < 400_000
