"""The compiled CPU engine against the Mesa reference: the same outcome for the same (seed,
replication), applicant by applicant and offer by offer, whatever the batch, the thread count
or the chunk size; and the validation of a batch."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from test_cascade import markets, tiny_market

from lis1abm import engine
from lis1abm.abm.model import LIS1Model
from lis1abm.engine import cpu
from lis1abm.market.ranking import Market
from lis1abm.outcomes.events import offer_events
from lis1abm.outcomes.tally import Tally
from lis1abm.rules import CASCADE_FIELDS


@pytest.fixture(scope="module")
def tally(market):
    return Tally(market)


@pytest.fixture(scope="module")
def arrays(market, tally):
    return engine.flatten(market, tally)


def assert_same_as_mesa(
    market: Market,
    result: engine.EngineResult,
    index: int,
    tally: Tally | None = None,
    mesa_market: Market | None = None,
) -> None:
    """Row ``index`` of an engine result (run with keep_applicants and keep_offers) equals the
    Mesa model's replication ``result.replications[index]`` on ``mesa_market`` (default
    ``market``): hires, rounds, cascade, hire counts and every offer."""
    rep = int(result.replications[index])
    model = LIS1Model(mesa_market if mesa_market is not None else market, rep)
    out = model.run()
    where = f"replication {rep}"
    np.testing.assert_array_equal(result.hired_ad[index], out.hired_ad, err_msg=where)
    np.testing.assert_array_equal(result.hired_round[index], out.hired_round, err_msg=where)
    np.testing.assert_array_equal(result.cascade[index], out.cascade, err_msg=where)
    if tally is not None:
        np.testing.assert_array_equal(
            result.counts[index], tally.hire_counts(out.hired_ad), err_msg=where
        )
    else:  # flatten() without a tally: every hire in slot 0, by ad in slots 1 + 3 j
        expected = np.zeros(result.counts.shape[1], dtype=np.int64)
        hired = out.hired_ad[out.hired_ad >= 0]
        expected[0] = len(hired)
        np.add.at(expected, 1 + engine.N_EDUCATION * hired, 1)
        np.testing.assert_array_equal(result.counts[index], expected, err_msg=where)
    events = offer_events(market, [rep], result.offers[index : index + 1])
    pd.testing.assert_frame_equal(
        events.reset_index(drop=True), model.event_log().reset_index(drop=True), obj=where
    )


def assert_same_results(a: engine.EngineResult, b: engine.EngineResult) -> None:
    """Two engine results are identical in every output they both kept."""
    np.testing.assert_array_equal(a.replications, b.replications)
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_array_equal(a.cascade, b.cascade)
    for name in ("hired_ad", "hired_round", "offers"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            np.testing.assert_array_equal(x, y, err_msg=name)


# -- the engine is the Mesa model ---------------------------------------------------------


def test_cpu_engine_equals_mesa_on_full_market(market, tally, arrays):
    """50 replications of the autumn 2024 market: per applicant, per round and per offer the
    engine gives exactly what the Mesa model gives."""
    reps = np.arange(50)
    result = engine.run_cpu(
        arrays,
        market.seed,
        reps,
        engine.param_rows(market),
        keep_applicants=True,
        keep_offers=True,
    )
    assert result.offers.dtype == np.int16
    for b in range(len(reps)):
        assert_same_as_mesa(market, result, b, tally)
    # The comparison is not vacuous: replications differ, and most positions are filled.
    assert not np.array_equal(result.hired_ad[0], result.hired_ad[1])
    assert (result.hired_ad >= 0).sum(axis=1).min() > 0.5 * market.capacity.sum()


@settings(max_examples=60, deadline=None)
@given(markets())
def test_cpu_engine_equals_mesa_on_tiny_markets(market):
    """Hand-made tiny markets (ads with capacity 0, nobody qualified, everybody waiting or
    marked late...): several replications each, identical to Mesa, offers included."""
    arrays = engine.flatten(market)
    reps = [0, 1, 2, 7, 2**32 - 1]
    result = engine.run_cpu(
        arrays,
        market.seed,
        reps,
        engine.param_rows(market, len(reps)),
        keep_applicants=True,
        keep_offers=True,
    )
    for b in range(len(reps)):
        assert_same_as_mesa(market, result, b)


def test_band_refill_matches_mesa():
    """An ad that goes through its first band of candidates (BAND_FACTOR * capacity +
    BAND_EXTRA of them: nearly every reply missed, for 16 rounds) takes the next band from the
    rest of its list; the candidates still come in the Mesa model's order."""
    rng = np.random.default_rng(11)
    n, j, rounds = 150, 2, 16
    market = tiny_market(
        n,
        j,
        np.ones((n, j), dtype=bool),
        rng.normal(size=(n, j)),
        rng.random((n, j)) < 0.9,
        [4, 3],
        seed=5,
        rounds=rounds,
        late=20000,
        wait=30000,
    )
    market = dataclasses.replace(market, no_reply_q16=np.full(rounds, 60000, dtype=np.int64))
    arrays = engine.flatten(market)
    assert (arrays.band_size < np.diff(arrays.ad_ptr)).all()
    reps = np.arange(6)
    result = engine.run_cpu(
        arrays, market.seed, reps, engine.param_rows(market), keep_applicants=True, keep_offers=True
    )
    # Offers made by each ad in each replication: beyond its first band.
    offers_per_ad = np.stack(
        [np.count_nonzero(result.offers[:, arrays.app_ad == ad], axis=1) for ad in range(j)],
        axis=1,
    )
    assert (offers_per_ad > arrays.band_size).any(axis=0).all()
    for b in range(len(reps)):
        assert_same_as_mesa(market, result, b)


@pytest.mark.parametrize(
    ("size", "threshold", "what"),
    [
        (1, engine.INT64_MAX - 1, "no first band, then one candidate per band"),
        (3, engine.INT64_MAX - 1, "no first band, then bands of about three"),
        (1, engine.INT64_MIN, "every key in the first band"),
    ],
)
def test_outcome_does_not_depend_on_the_bands(market, arrays, size, threshold, what):
    """Band sizes and first-band thresholds only decide how much is sorted at a time, never
    the outcome: forcing a new band for (nearly) every candidate, each taken below the last
    one's floor, or sorting whole lists at once, gives exactly the default result on the full
    market, offer by offer."""
    forced = arrays._replace(
        band_size=np.full(arrays.n_ads, size, dtype=np.int64),
        band_threshold=np.full(arrays.n_ads, threshold, dtype=np.int64),
    )
    reps = np.arange(12)
    rows = engine.param_rows(market)
    keep = {"keep_applicants": True, "keep_offers": True}
    assert_same_results(
        engine.run_cpu(forced, market.seed, reps, rows, **keep),
        engine.run_cpu(arrays, market.seed, reps, rows, **keep),
    )


# -- parameter rows -----------------------------------------------------------------------


def test_parameter_rows_are_honoured_per_replication(market, tally, arrays):
    """One batch alternating the market's row and a modified row (no waiting, every marking
    late, other withdrawal and no-reply thresholds): each replication equals the Mesa model
    on the market with that row's thresholds."""
    modified = dataclasses.replace(
        market,
        wait_q16=0,
        late_q16=65536,
        withdraw_q16=market.withdraw_q16 // 2 + 1000,
        no_reply_q16=np.arange(1, market.n_rounds + 1, dtype=np.int64) * 1500,
    )
    rows = engine.param_rows(market, 12)
    rows[1::2] = engine.param_rows(modified)[0]
    assert not np.array_equal(rows[0], rows[1])
    reps = np.arange(12) // 2  # each replication index once with each row
    result = engine.run_cpu(arrays, market.seed, reps, rows, keep_applicants=True, keep_offers=True)
    for b in range(len(reps)):
        assert_same_as_mesa(market, result, b, tally, mesa_market=modified if b % 2 else market)
    # The modified rows change the outcome (so a row that was ignored would be caught) ...
    assert any(
        not np.array_equal(result.hired_ad[b], result.hired_ad[b + 1]) for b in range(0, 12, 2)
    )
    # ... visibly: late marking for all means offers that must be declined, and no waiting.
    modified_cascade = result.cascade[1::2]
    assert modified_cascade[:, :, CASCADE_FIELDS.index("applicants_waiting")].sum() == 0
    assert modified_cascade[:, :, CASCADE_FIELDS.index("declined_hired")].sum() > 0


# -- batching, threads and chunks do not matter -------------------------------------------


def test_same_results_for_any_thread_count_and_chunk(market, arrays, monkeypatch):
    """~200 replications with 1, 2 or all threads and chunks of 1, 7, 16 or 64: every output
    identical (scratch memory reused across a chunk must not leak between replications)."""
    reps = np.arange(3, 203)
    rows = engine.param_rows(market, len(reps))

    def run(threads, chunk):
        monkeypatch.setattr(cpu, "CHUNK", chunk)
        return engine.run_cpu(
            arrays,
            market.seed,
            reps,
            rows,
            threads=threads,
            keep_applicants=True,
            keep_offers=True,
        )

    reference = run(1, 1)
    for threads, chunk in [(2, 1), (1, 7), (2, 7), (None, 16), (2, 64), (None, 64), (1, 500)]:
        assert_same_results(run(threads, chunk), reference)
    # Without per-applicant outputs the tallies are still the same.
    monkeypatch.setattr(cpu, "CHUNK", 7)
    lean = engine.run_cpu(arrays, market.seed, reps, rows, threads=2)
    assert lean.hired_ad is None and lean.hired_round is None and lean.offers is None
    np.testing.assert_array_equal(lean.counts, reference.counts)
    np.testing.assert_array_equal(lean.cascade, reference.cascade)


def test_replication_alone_equals_replication_in_batch(market, arrays):
    """Replication r run alone equals row r of a batch: a replication depends only on its
    index, not on its neighbours or its position in the batch."""
    batch = engine.run_cpu(
        arrays,
        market.seed,
        range(10),
        engine.param_rows(market),
        keep_applicants=True,
        keep_offers=True,
    )
    for r in (0, 5, 9):
        alone = engine.run_cpu(
            arrays,
            market.seed,
            [r],
            engine.param_rows(market),
            keep_applicants=True,
            keep_offers=True,
        )
        np.testing.assert_array_equal(alone.counts[0], batch.counts[r])
        np.testing.assert_array_equal(alone.cascade[0], batch.cascade[r])
        np.testing.assert_array_equal(alone.hired_ad[0], batch.hired_ad[r])
        np.testing.assert_array_equal(alone.hired_round[0], batch.hired_round[r])
        np.testing.assert_array_equal(alone.offers[0], batch.offers[r])
    # In reverse order, the rows follow the replications.
    backwards = engine.run_cpu(
        arrays, market.seed, range(9, -1, -1), engine.param_rows(market), keep_applicants=True
    )
    np.testing.assert_array_equal(backwards.hired_ad[::-1], batch.hired_ad)
    np.testing.assert_array_equal(backwards.counts[::-1], batch.counts)


def test_one_parameter_row_is_broadcast(market, arrays):
    """A single row, 1-d or (1, 3 + R), applies to every replication of the batch."""
    reps = np.arange(5)
    full = engine.run_cpu(arrays, market.seed, reps, engine.param_rows(market, 5))
    for row in (engine.param_rows(market), engine.param_rows(market)[0]):
        got = engine.run_cpu(arrays, market.seed, reps, row)
        np.testing.assert_array_equal(got.counts, full.counts)
        np.testing.assert_array_equal(got.cascade, full.cascade)


# -- bad batches --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape",
    [
        lambda c: (4, 2),
        lambda c: (4, c + 1),
        lambda c: (3, c),
        lambda c: (5, c),
        lambda c: (2, 4, c),
        lambda c: (c - 1,),
    ],
    ids=["too-few-columns", "too-many-columns", "too-few-rows", "too-many-rows", "3d", "1d"],
)
def test_wrong_parameter_row_shape_is_refused(market, arrays, shape):
    """Parameter rows must be (B, 3 + R) (or one row); anything else is a ValueError. ``shape``
    gives the wrong shape from the right number of columns ``c``."""
    shape = shape(3 + market.n_rounds)
    with pytest.raises(ValueError, match="parameter rows"):
        engine.run_cpu(arrays, market.seed, range(4), np.zeros(shape, dtype=np.int64))


@pytest.mark.parametrize("bad", [-1, 2**32])
def test_replication_index_out_of_range_is_refused(market, arrays, bad):
    """Replication indices must lie in [0, 2**32): the random numbers' coordinates are 32-bit."""
    with pytest.raises(ValueError, match="replication indices"):
        engine.run_cpu(arrays, market.seed, [0, bad, 3], engine.param_rows(market))
    with pytest.raises(ValueError, match="replication indices"):
        engine.check_batch(arrays, market.seed, [bad], engine.param_rows(market))
