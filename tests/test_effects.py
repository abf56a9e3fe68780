"""Summaries built block by block: exact distributions, paired effects against the baseline,
the table streamed, summaries alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lis1abm.errors import ConfigError
from lis1abm.experiments import load_experiment, run_experiment
from lis1abm.experiments.distribution import KEY, Distribution
from lis1abm.experiments.reduction import EFFECT_COLUMNS

SMALL = """
description = "a small test experiment"
replications = 6
seed = 7
backend = "cpu"

[[scenarios]]
name = "as 2024"
total_positions = 601

[[sweeps]]
name = "{value} positions"
vary = "total_positions"
values = [450, 800]
"""


def keyed(values: np.ndarray, scenario: str = "s") -> pd.DataFrame:
    return pd.DataFrame(
        {"scenario": scenario, "breakdown": "b", "group": "g", "metric": "m", "value": values}
    )


def test_distribution_in_blocks_equals_numpy_on_the_whole():
    """Blocks added in any order give numpy's mean and percentiles of the whole data, bit for
    bit for the percentiles, with ties, negative values and NaN (not counted)."""
    rng = np.random.default_rng(3)
    values = np.round(rng.normal(0.3, 2.0, 997), 1)
    values[::50] = np.nan
    dist = Distribution()
    parts = np.array_split(values, 7)
    for k in rng.permutation(len(parts)):
        dist.add(keyed(parts[k]))
    row = dist.describe((5.0, 95.0), sign=True).iloc[0]
    clean = values[~np.isnan(values)]
    assert row["replications"] == len(clean)
    assert row["mean"] == pytest.approx(clean.mean(), rel=1e-12)
    assert row["p05"] == np.percentile(clean, 5) and row["p95"] == np.percentile(clean, 95)
    assert row["same_sign"] == np.mean(np.sign(clean) == np.sign(clean.mean()))


def test_distribution_does_not_grow_with_replications():
    """The same values again and again: the counts keep one row per distinct value, so the
    memory of a summary does not grow with the replications."""
    dist = Distribution()
    block = pd.concat([keyed(np.arange(20.0) % 5, s) for s in "abc"], ignore_index=True)
    dist.add(block)
    size = len(dist.counts)
    for _ in range(50):
        dist.add(block)
    assert len(dist.counts) == size == 15
    assert dist.describe((5.0, 95.0))["replications"].tolist() == [51 * 20] * 3


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    path = tmp_path_factory.mktemp("effects") / "small.toml"
    path.write_text(SMALL)
    config = load_experiment(path)
    return config, run_experiment(config)


def _paired(table: pd.DataFrame, scenario: str, baseline: str, where: dict) -> np.ndarray:
    t = table.astype({c: str for c in KEY})
    for column, value in where.items():
        t = t[t[column] == value]
    wide = t.pivot_table(index="replication", columns="scenario", values="value")
    return (wide[scenario] - wide[baseline]).to_numpy(float)


@pytest.mark.parametrize(
    "where",
    [
        {"breakdown": "total", "group": "all", "metric": "hired"},
        {"breakdown": "cascade", "group": "all", "metric": "offers"},
        {"breakdown": "education", "group": "EEA+UK", "metric": "hired"},
    ],
)
def test_paired_effect_is_the_per_replication_difference(small, where):
    """The summary's effect columns are the mean, 5-95 % band and same-sign share of the
    per-replication difference scenario - baseline (the first scenario), not the difference
    of the two scenarios' own bands; the baseline's own rows have none."""
    config, result = small
    assert config.baseline == "as 2024"
    s = result.summary.set_index(KEY)
    for scenario in ("450 positions", "800 positions"):
        diff = _paired(result.table, scenario, "as 2024", where)
        row = s.loc[(scenario, where["breakdown"], where["group"], where["metric"])]
        assert row["effect_mean"] == pytest.approx(diff.mean(), abs=1e-9)
        assert row["effect_p05"] == np.percentile(diff, 5)
        assert row["effect_p95"] == np.percentile(diff, 95)
        assert row["effect_same_sign"] == np.mean(np.sign(diff) == np.sign(diff.mean()))
    base = s.loc["as 2024"]
    assert base[list(EFFECT_COLUMNS)].isna().all().all()


def test_baseline_key_chooses_the_scenario_and_a_bad_one_is_one_line(tmp_path):
    path = tmp_path / "b.toml"
    path.write_text(SMALL.replace('backend = "cpu"', 'backend = "cpu"\nbaseline = "800 positions"'))
    config = load_experiment(path)
    assert config.baseline == "800 positions"
    s = run_experiment(config, reps=2).summary
    assert s[s["scenario"] == "800 positions"]["effect_mean"].isna().all()
    assert s[s["scenario"] == "as 2024"]["effect_mean"].notna().any()
    path.write_text(SMALL.replace('backend = "cpu"', 'backend = "cpu"\nbaseline = "900"'))
    with pytest.raises(ConfigError, match=r"b.toml: baseline: no scenario is named '900'"):
        load_experiment(path)


def test_summaries_only_writes_no_table_and_the_same_summary(tmp_path, capsys):
    """--summaries-only: no replications.parquet, the summary of a run with the table, and
    a run asking for the table in that folder is refused (another configuration)."""
    from lis1abm.cli import main

    path = tmp_path / "small.toml"
    path.write_text(SMALL)

    def cli(*args: str) -> int:
        with pytest.raises(SystemExit) as stop:
            main(["experiment", str(path), "--reps", "3", "--task-reps", "2", *args])
        capsys.readouterr()
        return stop.value.code

    assert cli("--out", str(tmp_path / "both")) == 0
    assert cli("--out", str(tmp_path / "lean"), "--summaries-only") == 0
    lean = tmp_path / "lean" / "small"
    assert not (lean / "replications.parquet").exists()
    summary = (tmp_path / "both" / "small" / "summary.csv").read_bytes()
    assert (lean / "summary.csv").read_bytes() == summary
    assert cli("--out", str(tmp_path / "lean")) == 2
