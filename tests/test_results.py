"""What `simulate` gives and writes: the same figures as computed the old way (every
replication's values kept, then numpy), per-replication tables only when asked for and
streamed, provenance columns on every table, the market digest, memory that does not grow
with the replications."""

from __future__ import annotations

import json
import os
import tracemalloc

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from lis1abm import engine
from lis1abm.abm.model import LIS1Model
from lis1abm.atomic import replacing
from lis1abm.data.files import round_params_path
from lis1abm.data.round import GROUPS
from lis1abm.outcomes.tally import Tally
from lis1abm.report.provenance import file_digest
from lis1abm.report.simulate import simulate, write_results
from lis1abm.rules import CASCADE_FIELDS
from lis1abm.simulation.sink import PROVENANCE_COLUMNS


def old_values_from(tally: Tally, counts: np.ndarray, cascade: np.ndarray) -> np.ndarray:
    """The values (R, K) as ``Tally.values_from`` computed them before the summary (a copy,
    kept as the reference)."""
    counts = np.asarray(counts, dtype=np.int64)
    reps = counts.shape[0]
    parts = []
    start = 0
    for breakdown, g in tally.n_groups.items():
        n = np.broadcast_to(tally.sizes[breakdown], (reps, g))
        h = counts[:, start : start + g]
        parts.append(np.stack([n, h], axis=2).reshape(reps, 2 * g))
        start += g
    j = tally.market.n_ads
    by_edu = counts[:, tally.ad_slot0 :].reshape(reps, j, len(GROUPS))
    fixed = np.broadcast_to(np.column_stack([tally.positions, tally.market.capacity]), (reps, j, 2))
    parts.append(
        np.concatenate([fixed, by_edu.sum(axis=2, keepdims=True), by_edu], axis=2).reshape(reps, -1)
    )
    parts.append(cascade.reshape(reps, -1))
    keep = [k for k, f in enumerate(CASCADE_FIELDS) if f != "open_after"]
    parts.append(cascade.sum(axis=1)[:, keep])
    parts.append(cascade[:, -1, CASCADE_FIELDS.index("open_after")][:, None])
    return np.concatenate(parts, axis=1).astype(np.int64)


def assert_figures_as_before(result, values: np.ndarray) -> None:
    """The rows and the cascade of ``result`` equal, bit for bit, numpy's mean and 5th, 10th,
    90th and 95th percentiles of every replication's values (R, K), as the old code computed
    them."""
    layout = result.tally.layout
    hired = np.flatnonzero(layout["metric"].to_numpy() == "hired")
    mean = values[:, hired].mean(axis=0)
    p05, p10, p90, p95 = np.percentile(values[:, hired], [5, 10, 90, 95], axis=0)
    expected = {
        (layout["breakdown"].iloc[c], layout["group"].iloc[c]): (
            mean[k],
            p05[k],
            p10[k],
            p90[k],
            p95[k],
        )
        for k, c in enumerate(hired)
    }
    assert len(result.rows) > 80
    for row in result.rows:
        got = tuple(row[f"sim_hired_{s}"] for s in ("mean", "p05", "p10", "p90", "p95"))
        assert got == expected[row["breakdown"], row["group"]], row
    cols = np.flatnonzero(layout["breakdown"].to_numpy() == "cascade")
    keys = zip(layout["group"][cols], layout["metric"][cols], strict=True)
    means = dict(zip(keys, values[:, cols].mean(axis=0), strict=True))
    for r in result.cascade["rounds"]:
        for f in CASCADE_FIELDS:
            assert r[f] == means[f"round {r['round']}", f]
    assert result.cascade["total"]["unfilled"] == means["all", "unfilled"]
    assert result.cascade["replications"] == len(values)


def test_recipe_values_equal_the_old_values(market):
    tally = Tally(market)
    arrays = engine.flatten(market, tally)
    out = engine.run_cpu(arrays, market.seed, np.arange(64), engine.param_rows(market))
    np.testing.assert_array_equal(
        tally.values_from(out.counts, out.cascade), old_values_from(tally, out.counts, out.cascade)
    )


def test_cpu_figures_as_before():
    """`simulate(reps=300, backend="cpu")` (summarised on the engine's threads) gives the
    figures computed the old way from every replication's values."""
    result = simulate(reps=300, backend="cpu")
    assert result.values is None and result.replications is None
    tally = result.tally
    arrays = engine.flatten(result.market, tally)
    out = engine.run_cpu(arrays, 2024, np.arange(300), engine.param_rows(result.market))
    assert_figures_as_before(result, old_values_from(tally, out.counts, out.cascade))
    total = next(r for r in result.rows if r["breakdown"] == "total")
    assert total["applicants"] == 932 and total["report_hired"] == 606


def test_mesa_figures_as_before():
    """The Mesa backend, summarised batch by batch, gives the old figures too."""
    result = simulate(reps=4, backend="mesa", per_replication=True)
    tally = result.tally
    values = []
    for r in range(4):
        outcome = LIS1Model(result.market, r).run()
        counts = tally.hire_counts(outcome.hired_ad)[None]
        values.append(old_values_from(tally, counts, outcome.cascade[None])[0])
    np.testing.assert_array_equal(result.values, np.array(values))
    assert_figures_as_before(result, np.array(values))


def test_market_digest_is_recorded_and_backend_free():
    cpu = simulate(reps=1, backend="cpu")
    mesa = simulate(reps=1, backend="mesa")
    other_seed = simulate(reps=1, seed=7, backend="cpu")
    digest = cpu.meta["market_sha256"]
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert mesa.meta["market_sha256"] == digest
    assert other_seed.meta["market_sha256"] != digest
    assert cpu.to_json()["meta"]["market_sha256"] == digest


def test_per_replication_table_is_streamed_with_provenance(tmp_path):
    """With ``per_replication`` and ``out``, replications.parquet holds R * K rows with the
    provenance columns, written batch by batch (several row groups), the same rows as the
    table kept in memory; the comparison and the events carry provenance too."""
    out = tmp_path / "run"
    reps = 20
    import lis1abm.simulation.replications as sim

    batch, sim.BATCH = sim.BATCH, 8  # three engine batches of 8, 8 and 4 replications
    try:
        result = simulate(
            reps=reps,
            backend="cpu",
            scenario="more-ads",
            per_replication=True,
            log_events=True,
            out=out,
        )
    finally:
        sim.BATCH = batch
    assert result.values is None and result.events is None  # streamed, not kept
    assert sorted(p.name for p in out.iterdir()) == [
        "comparison.parquet",
        "events.parquet",
        "meta.json",
        "replications.parquet",
    ]
    assert not [p for p in tmp_path.iterdir() if p.name != "run"]  # no staging folder left
    k = len(result.tally.layout)
    table = pd.read_parquet(out / "replications.parquet")
    assert len(table) == reps * k
    assert pq.ParquetFile(out / "replications.parquet").metadata.num_row_groups == 3
    expected = {
        "seed": 2024,
        "round": "autumn2024",
        "params_name": round_params_path("autumn2024").stem,
        "params_sha256": file_digest(round_params_path("autumn2024")),
        "scenario": "more-ads",
    }
    for name, value in expected.items():
        assert set(table[name].astype(object)) == {value}, name
    in_memory = simulate(reps=reps, backend="cpu", scenario="more-ads", per_replication=True)
    pd.testing.assert_frame_equal(
        table.astype({c: object for c in PROVENANCE_COLUMNS[1:]}),
        in_memory.replications.astype({c: object for c in PROVENANCE_COLUMNS[1:]}),
        check_categorical=False,
    )
    comparison = pd.read_parquet(out / "comparison.parquet")
    assert len(comparison) == len(result.rows)
    events = pd.read_parquet(out / "events.parquet")
    assert set(events["round_name"].astype(str)) == {"autumn2024"}  # `round`: the offer round
    n_rounds = 5 + result.tally.market.data.after_calendar_rounds  # the calendar, then after it
    assert set(events["round"]) <= set(range(1, n_rounds + 1))
    assert sorted(events["replication"].unique()) == list(range(reps))
    for t in (comparison, events):
        assert set(t["scenario"].astype(str)) == {"more-ads"} and set(t["seed"]) == {2024}
    meta = json.loads((out / "meta.json").read_text())
    assert meta["scenario"] == "more-ads" and meta["market_sha256"] == result.meta["market_sha256"]


def test_out_without_per_replication_writes_no_replications(tmp_path):
    """Without ``per_replication`` no replications.parquet is written, and one from an earlier
    run in the same folder is removed (it would not match)."""
    out = tmp_path / "run"
    simulate(reps=3, backend="cpu", per_replication=True, out=out)
    assert (out / "replications.parquet").exists()
    result = simulate(reps=3, backend="cpu", out=out)
    assert sorted(p.name for p in out.iterdir()) == ["comparison.parquet", "meta.json"]
    assert [p.name for p in result.written] == ["comparison.parquet", "meta.json"]


def test_write_results_of_a_result_in_memory(tmp_path):
    result = simulate(reps=3, backend="cpu", per_replication=True)
    written = write_results(result, tmp_path / "run")
    assert [p.name for p in written] == [
        "replications.parquet",
        "comparison.parquet",
        "meta.json",
    ]
    table = pd.read_parquet(tmp_path / "run" / "replications.parquet")
    assert len(table) == 3 * len(result.tally.layout)
    assert set(PROVENANCE_COLUMNS) <= set(table.columns)


def test_memory_does_not_grow_with_replications():
    """20,000 replications summarised as they come: Python-side allocations peak far below
    the (R, K) int64 matrix of every replication's values (54 MB) the old code kept, and
    about as high as for 1,000 replications."""
    simulate(reps=1, backend="cpu")  # imports, compiled code and caches, before measuring

    def peak(reps: int, **kw) -> int:
        tracemalloc.start()
        try:
            result = simulate(reps=reps, backend="cpu", **kw)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            del result

    small, large = peak(1_000), peak(20_000)
    matrix = 20_000 * 338 * 8
    assert large < matrix / 2, (small, large)
    assert large < small + 8 * 2**20, (small, large)


@pytest.mark.parametrize("bad", ["", None])
def test_scenario_must_be_a_name(bad):
    from lis1abm.errors import UserError

    with pytest.raises(UserError, match="scenario"):
        simulate(reps=1, backend="cpu", scenario=bad)


def test_appendix4_and_long_term_breakdowns(market):
    """appendix4 has every pair of appendix 4 with the report's hires; the long-term
    breakdowns split the applicants with 4+ rounds (and the rest) so that not hired =
    applicants - hired per replication, with table 2's not hired as the report's targets."""
    from lis1abm.outcomes.tally import SHORT_TERM
    from lis1abm.report.compare import report_figures, report_not_hired

    tally = Tally(market)
    report = report_figures(market)
    pairs = {g: v for (b, g), v in report.items() if b == "appendix4"}
    assert len(pairs) == len(market.data.appendix4) == len(tally.sizes["appendix4"])
    assert sum(h for _, h, _ in pairs.values()) == 606
    assert tally.sizes["appendix4"].tolist() == [p.applicants for p in market.data.appendix4]
    targets = report_not_hired(market)
    for breakdown in ("long_term_origin", "long_term_age"):
        assert sum(v for (b, _), v in targets.items() if b == breakdown) == 72
        assert not any(b == breakdown for b, _ in report)  # hires are not the target
        long_term = int((market.population["rounds_applied"] >= 4).sum())
        assert tally.sizes[breakdown][-1] == 932 - long_term  # the last group: SHORT_TERM
    result = simulate(reps=8, seed=5, backend="cpu", per_replication=True)
    table = result.values
    layout = result.tally.layout
    for (b, g), target in targets.items():
        n = table[:, _column(layout, b, g, "applicants")]
        h = table[:, _column(layout, b, g, "hired")]
        assert (n == n[0]).all() and (n - h >= 0).all()
        assert n[0] >= target  # the population can meet table 2 (test_population)
    rows = {(r["breakdown"], r["group"]): r for r in result.rows}
    assert rows[("long_term_age", "50+")]["report_not_hired"] == 9
    assert rows[("long_term_age", SHORT_TERM)]["report_not_hired"] is None
    assert rows[("appendix4", "Norway / Poland")]["report_hired"] == next(
        p.hired
        for p in market.data.appendix4
        if (p.nationality, p.education) == ("Norway", "Poland")
    )
    hired = table[
        :, layout.index[(layout["breakdown"] == "appendix4") & (layout["metric"] == "hired")]
    ]
    assert (hired.sum(axis=1) == table[:, _column(layout, "total", "all", "hired")]).all()


def _column(layout: pd.DataFrame, breakdown: str, group: str, metric: str) -> int:
    (k,) = np.flatnonzero(
        (layout["breakdown"] == breakdown)
        & (layout["group"] == group)
        & (layout["metric"] == metric)
    )
    return int(k)


def test_replacing_puts_a_readable_file_in_place_or_nothing(tmp_path):
    """A file written through :func:`replacing` gets the umask's permissions (not
    tempfile's private 0600) and appears only when the block succeeds."""
    target = tmp_path / "figure.png"
    with replacing(target) as tmp:
        tmp.write_text("done")
    mask = os.umask(0)
    os.umask(mask)
    assert target.read_text() == "done"
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
    with pytest.raises(RuntimeError), replacing(tmp_path / "failed.png") as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure.png"]
