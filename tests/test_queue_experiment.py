"""The queue experiment: its config's errors, the command's refusals, and a small run's
tables (conservation in the written table, the paired difference against the baseline)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from test_cli import run_cli

from lis1abm.data.files import experiments_dir
from lis1abm.errors import ConfigError
from lis1abm.experiments.queue_config import load_queue_experiment

BUILTIN = experiments_dir() / "queue.toml"


def small_config(tmp_path: Path, **replace: str) -> Path:
    """The built-in queue config, shortened to 3 rounds and 2 chains (and ``replace``: a line's
    start -> the whole new line)."""
    text = BUILTIN.read_text(encoding="utf-8")
    edits = {
        "rounds = 22": "rounds = 3",
        "chains = 16": "chains = 2",
        "chains = 6": "chains = 1",
        "steps = 6": "steps = 2",
        "last_rounds = 4": "last_rounds = 1",
        "cohort_years = [2025, 2030]": "cohort_years = [2025, 2026]",
        **replace,
    }
    lines = []
    for line in text.splitlines():
        for start, new in edits.items():
            if line.startswith(start):
                line = new
        lines.append(line)
    path = tmp_path / "q.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_the_builtin_config_loads():
    config = load_queue_experiment("queue")
    assert config.baseline in [s.name for s in config.scenarios]
    assert any(s.positions == "constant_pool" for s in config.scenarios)


@pytest.mark.parametrize(
    ("replace", "key"),
    [
        ({"seed = 2025": "seed = 2025\ncolour = 1"}, "colour"),
        ({"positions = 609 ": "positions = -3"}, "queue.positions"),
        ({'baseline = "609': 'baseline = "none"'}, "baseline"),
        ({"return_decay": "return_decay = 2.0"}, "queue.return_decay"),
        (
            {"ranking =": 'ranking = { "education_weight.Mars" = 1.0 }'},
            'queue.ranking."education_weight.Mars"',
        ),
        (
            {"ranking =": 'ranking = { "earlier_round_weight" = 9999.0 }'},
            'queue.ranking."earlier_round_weight"',
        ),
    ],
)
def test_config_errors_name_the_file_and_key(tmp_path, replace, key):
    with pytest.raises(ConfigError) as error:
        load_queue_experiment(small_config(tmp_path, **replace))
    message = str(error.value)
    assert "q.toml" in message and key in message and "\n" not in message


def test_unknown_inflow_group(tmp_path):
    path = small_config(tmp_path)
    text = path.read_text().replace('"EEA+UK x Norway" = 1.5', '"EEA+UK x Mars" = 1.5', 1)
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"scenarios\[5\]\.inflow_growth: unknown group"):
        load_queue_experiment(path)


@pytest.mark.parametrize(
    "flag", [["--populations", "4"], ["--summaries-only"], ["--backend", "auto"]]
)
def test_one_round_options_are_refused(capsys, tmp_path, flag):
    code, _, err = run_cli(capsys, "experiment", "queue", "--out", str(tmp_path), *flag)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and flag[0] in err
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.mark.slow
def test_a_small_run_writes_consistent_tables(capsys, tmp_path):
    config = small_config(tmp_path)
    code, out, _ = run_cli(capsys, "experiment", str(config), "--out", str(tmp_path / "out"))
    assert code in (0, None)
    folder = tmp_path / "out" / "q"
    assert re.search(r"7 scenarios x 2 chains of 4 rounds", out)
    table = pd.read_parquet(folder / "replications.parquet")
    assert (table["applicants"] == table["new"] + table["returning"]).all()
    assert (table["waiting"] == table["not_hired"] - table["leaving"]).all()
    summary = pd.read_csv(folder / "summary.csv")
    base = summary[summary["scenario"] == "609 a round"]
    assert (base["difference"] == 0).all()
    meta = json.loads((folder / "meta.json").read_text())
    found = meta["scenarios"]["constant pool"]["positions"]
    assert 400 <= found <= 1000 and len(meta["constant_pool_search"]) == 2
    cohorts = pd.read_csv(folder / "cohorts.csv")
    assert {"rounds_median", "rounds_p90", "share_left"} <= set(cohorts["measure"])
    graduates = pd.read_csv(folder / "graduation_cohorts.csv")
    assert set(graduates["year"]) <= {2025, 2026} and len(graduates)
    assert set(graduates["group"]) <= {"all", "Norway", "EEA+UK", "Outside EEA"}
    for name in ("queue_pool", "queue_time_to_position"):
        assert (folder / f"{name}.png").is_file()
    # The same command again finds the same configuration there and writes it again alike.
    code, _, err = run_cli(capsys, "experiment", str(config), "--out", str(tmp_path / "out"),
                           "--seed", "3")  # fmt: skip
    assert code == 2 and "another configuration" in err
