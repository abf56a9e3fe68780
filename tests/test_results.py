"""What `simulate` gives and writes: each replication's values as their definitions count
them, figures equal to numpy's statistics of those values, per-replication tables only when
asked for and streamed, provenance columns on every table, the market digest, memory that does
not grow with the replications."""

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
from lis1abm.outcomes.tally import SHORT_TERM, ReplicationOutcome, Tally
from lis1abm.report.provenance import file_digest
from lis1abm.report.simulate import simulate, write_results
from lis1abm.rules import CASCADE_FIELDS
from lis1abm.simulation.sink import PROVENANCE_COLUMNS


def applicant_labels(market) -> dict[str, pd.Series]:
    """Each applicant's group in every applicant breakdown, written out from the population's
    columns as :data:`lis1abm.outcomes.tally.BREAKDOWNS` defines them (table 2's long-term
    breakdowns: four or more rounds applied)."""
    pop = market.population
    cross = pop["nationality_group"] + " x " + pop["education_group"]
    long_term = pop["rounds_applied"] >= 4
    return {
        "total": pd.Series("all", index=pop.index),
        "nationality": pop["nationality_group"],
        "education": pop["education_group"],
        "nationality_x_education": cross,
        "education_country": pop["education_country"],
        "gender": pop["gender"],
        "age_group": pop["age_group"],
        "graduation_period": pop["graduation_period"],
        "appendix4": pop["nationality"] + " / " + pop["education_country"],
        "long_term_origin": cross.where(long_term, SHORT_TERM),
        "long_term_age": pop["age_group"].where(long_term, SHORT_TERM),
        "home_region": pop["home_region"].where(pop["home_region"] != "", "abroad"),
    }


def values_by_definition(
    market, layout: pd.DataFrame, hired_ad: np.ndarray, cascade: np.ndarray
) -> np.ndarray:
    """One replication's values (K,), each row of ``layout`` counted directly from who was
    hired where (``hired_ad``, -1 if not hired) and the cascade table (rounds, fields), by
    the definition of its metric: the reference for :meth:`Tally.values_from`, which gets
    them through hire-count slots and a recipe of sums instead."""
    labels = applicant_labels(market)
    education = market.population["education_group"].to_numpy()
    hired = hired_ad >= 0
    ad_index = {ad.label: j for j, ad in enumerate(market.data.ads)}
    fields = list(CASCADE_FIELDS)
    out = np.empty(len(layout), dtype=np.int64)
    for k, (breakdown, group, metric) in enumerate(layout.itertuples(index=False)):
        if breakdown in labels:
            member = (labels[breakdown] == group).to_numpy()
            out[k] = member.sum() if metric == "applicants" else (member & hired).sum()
        elif breakdown == "ad":
            j = ad_index[group]
            at_j = hired_ad == j
            out[k] = {
                "positions": market.data.ads[j].positions,
                "capacity": market.capacity[j],
                "hired": at_j.sum(),
                **{f"hired_{g}": (at_j & (education == g)).sum() for g in GROUPS},
            }[metric]
        elif breakdown == "ad_region":
            there = [j for j, ad in enumerate(market.data.ads) if ad.region == group]
            positions = sum(market.data.ads[j].positions for j in there)
            out[k] = positions if metric == "positions" else np.isin(hired_ad, there).sum()
        elif group == "all":
            out[k] = (
                cascade[-1, fields.index("open_after")]
                if metric == "unfilled"
                else cascade[:, fields.index(metric)].sum()
            )
        else:  # "round r"
            out[k] = cascade[int(group.removeprefix("round ")) - 1, fields.index(metric)]
    return out


def test_values_of_a_hand_made_outcome(market):
    """Three hires and a made-up cascade, counted by hand: applicants 0 and 1 (Afghan
    nationals educated outside the EU/EEA) at the first ad, applicant 2 (an Afghan national
    educated in Poland) at the fourth; the cascade's entry (round r, field f) is 9 (r - 1) + f
    (nine fields)."""
    tally = Tally(market)
    layout = tally.layout
    pop = market.population
    assert pop.loc[:2, "nationality"].tolist() == ["Afghanistan"] * 3
    assert pop.loc[:2, "education_country"].tolist() == ["Outside EU/EEA"] * 2 + ["Poland"]
    hired_ad = np.full(market.n_applicants, -1)
    hired_ad[[0, 1, 2]] = [0, 0, 3]
    n_fields = len(CASCADE_FIELDS)
    assert n_fields == 9 and market.n_rounds == 13
    cascade = np.arange(13 * 9).reshape(13, 9)
    outcome = ReplicationOutcome(0, hired_ad, np.where(hired_ad >= 0, 1, 0), cascade)
    values = tally.values(outcome)
    got = dict(zip(layout.itertuples(index=False), values.tolist(), strict=True))
    ads = [ad.label for ad in market.data.ads]
    assert got["total", "all", "hired"] == 3 and got["total", "all", "applicants"] == 932
    assert got["nationality", "Outside EEA", "hired"] == 3
    assert got["nationality", "Norway", "hired"] == 0
    assert got["education", "Outside EEA", "hired"] == 2
    assert got["education", "EEA+UK", "hired"] == 1
    assert got["appendix4", "Afghanistan / Outside EU/EEA", "hired"] == 2
    assert got["appendix4", "Afghanistan / Poland", "hired"] == 1
    assert got["ad", ads[0], "hired"] == 2 and got["ad", ads[0], "hired_Outside EEA"] == 2
    assert got["ad", ads[3], "hired"] == 1 and got["ad", ads[3], "hired_EEA+UK"] == 1
    assert got["ad", ads[0], "positions"] == 25  # Vedlegg 2: the first ad (Ahus) has 25
    assert sum(v for (b, _, m), v in got.items() if b == "ad" and m == "hired") == 3
    # Offers (field 0) in all rounds: 9 (0 + 1 + ... + 12) = 702; open after the last round
    # (field 8 of round 13): 9 x 12 + 8 = 116; accepted in round 2: 9 + 1 = 10.
    assert got["cascade", "all", "offers"] == 702
    assert got["cascade", "all", "unfilled"] == 116
    assert got["cascade", "round 2", "accepted"] == 10
    # Every other value too, each counted by its definition.
    np.testing.assert_array_equal(values, values_by_definition(market, layout, hired_ad, cascade))


def test_values_of_replications_follow_their_definitions(market):
    """Real replications (Mesa's outcomes, which the CPU engine's counts equal, see
    test_engine): every value equals its definition, and every applicant breakdown splits
    all 932 applicants into its groups."""
    tally = Tally(market)
    layout = tally.layout
    for rep in range(3):
        outcome = LIS1Model(market, rep).run()
        assert (outcome.hired_ad >= 0).sum() > 500  # not vacuous: a full replication
        np.testing.assert_array_equal(
            tally.values(outcome),
            values_by_definition(market, layout, outcome.hired_ad, outcome.cascade),
            err_msg=f"replication {rep}",
        )
    applicants = layout[layout["metric"] == "applicants"]
    for breakdown, rows in applicants.groupby("breakdown", sort=False):
        assert tally.sizes[breakdown].sum() == market.n_applicants, breakdown
        assert rows["group"].is_unique, breakdown


def assert_figures_are_numpys(result, values: np.ndarray) -> None:
    """The rows and the cascade of ``result`` equal, bit for bit, numpy's mean and 5th, 10th,
    90th and 95th percentiles of every replication's values (R, K)."""
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


def test_cpu_figures_are_numpys():
    """`simulate(reps=300, backend="cpu")` (summarised on the engine's threads) gives numpy's
    statistics of the values of the same 300 replications, each replication's values taken
    from the engine's counts (:meth:`Tally.values_from`, checked against the definitions
    above)."""
    result = simulate(reps=300, backend="cpu", populations=1)
    assert result.values is None and result.replications is None
    tally = result.tally
    arrays = engine.flatten(result.market, tally)
    out = engine.run_cpu(arrays, 2024, np.arange(300), engine.param_rows(result.market))
    assert_figures_are_numpys(result, tally.values_from(out.counts, out.cascade))
    total = next(r for r in result.rows if r["breakdown"] == "total")
    assert total["applicants"] == 932 and total["report_hired"] == 606


def test_mesa_figures_are_numpys():
    """The Mesa backend, summarised batch by batch, keeps each replication's values as
    defined (counted from its outcome) and gives numpy's statistics of them."""
    result = simulate(reps=4, backend="mesa", per_replication=True, populations=1)
    values = []
    for r in range(4):
        outcome = LIS1Model(result.market, r).run()
        values.append(
            values_by_definition(
                result.market, result.tally.layout, outcome.hired_ad, outcome.cascade
            )
        )
    np.testing.assert_array_equal(result.values, np.array(values))
    assert_figures_are_numpys(result, np.array(values))


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
        "ads.parquet",
        "comparison.parquet",
        "events.parquet",
        "meta.json",
        "population.parquet",
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
    """20,000 replications on one population summarised as they come: Python-side
    allocations peak far below the (R, K) int64 matrix of every replication's values that
    keeping them would take, and about as high as for 1,000 replications (an ensemble adds
    about 1.2 MB per population's market, whatever the replications). For autumn 2024 K is
    684 values per replication (376 for the 12 applicant breakdowns' 188 groups, 174 for 29
    ads x 6 metrics, 8 for the 4 regions of the ads, 126 for the cascade's 13 rounds x 9
    fields plus 8 totals and the unfilled positions), so the matrix is 20,000 x 684 x 8
    bytes = 109 MB."""
    simulate(reps=1, backend="cpu")  # imports, compiled code and caches, before measuring

    def peak(reps: int, **kw) -> tuple[int, int]:
        """Peak traced bytes of ``simulate(reps)``, and its values per replication."""
        tracemalloc.start()
        try:
            result = simulate(reps=reps, backend="cpu", populations=1, **kw)
            return tracemalloc.get_traced_memory()[1], len(result.tally.layout)
        finally:
            tracemalloc.stop()
            del result

    (small, _), (large, k) = peak(1_000), peak(20_000)
    assert k == 684  # the docstring's figure
    matrix = 20_000 * k * 8
    # Measured: about 11 MB for either run. Keeping the values would cost the whole matrix
    # (half of it even as int32); a quarter still leaves the summary room to grow.
    assert large < matrix / 4, (small, large, matrix)
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
    result = simulate(reps=8, seed=5, backend="cpu", per_replication=True, populations=1)
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


def test_recorded_paths_name_no_machine_folders(tmp_path, monkeypatch):
    """Built-in files by their place in the repository, files under the current directory
    relative to it, others absolute."""
    from lis1abm.data.files import builtin_round
    from lis1abm.report.provenance import recorded_path

    assert recorded_path(builtin_round("autumn2024")) == "configs/rounds/autumn2024.toml"
    (tmp_path / "a").mkdir()
    mine = tmp_path / "a" / "r.toml"
    mine.write_text("")
    monkeypatch.chdir(tmp_path)
    assert recorded_path(mine) == "a/r.toml"
    monkeypatch.chdir(tmp_path / "a")
    assert recorded_path(tmp_path / "b.toml") == str((tmp_path / "b.toml").resolve())
