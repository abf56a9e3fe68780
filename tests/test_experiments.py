"""Experiments: configs and their one-line errors, the overrides, common random numbers, the
results folder (table, meta.json, figures), `plot`, `--list` and atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lis1abm.cli import main
from lis1abm.data.files import configs_dir, known_experiments
from lis1abm.data.round import load_round
from lis1abm.experiments import draw_figures, load_experiment, run_experiment, write_results
from lis1abm.experiments.overrides import resolve, scale_positions, with_calendar
from lis1abm.experiments.queue_config import load_queue_experiment
from lis1abm.experiments.tidy import COLUMNS
from lis1abm.market.ranking import build_market

SMALL = """
description = "a small test experiment"
replications = 4
seed = 7
backend = "cpu"
figures = ["capacity_hire_rate", "capacity_open_and_offers"]

[[scenarios]]
name = "as 2024"
total_positions = 601

[[sweeps]]
name = "{value} positions"
vary = "total_positions"
values = [550, 650]
"""


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stop:
        main(list(args))
    out, err = capsys.readouterr()
    return stop.value.code, out, err


def write(tmp_path: Path, text: str, name: str = "small") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """The small experiment run once (4 replications) and written."""
    folder = tmp_path_factory.mktemp("exp")
    config = load_experiment(write(folder, SMALL))
    result = run_experiment(config)
    return config, result, write_results(result, folder / "results")


# --- configs -----------------------------------------------------------------------------


def test_every_config_loads(capsys):
    """Every shipped config (rounds, params, calibration, experiments) passes `check`."""
    files = sorted(str(p) for p in configs_dir().glob("*/*.toml"))
    assert any("/experiments/" in f for f in files)
    code, out, err = run_cli(capsys, "check", *files)
    assert code == 0, err
    assert out.count(": ok") == len(files)
    for name in known_experiments():
        if name == "queue":  # the queue across rounds has its own config (test_queue_experiment)
            assert load_queue_experiment(name).scenarios
        else:
            assert load_experiment(name).scenarios


@pytest.mark.parametrize(
    "extra, where",
    [
        ("total_positions = 10", "scenarios[bad].total_positions: got 10"),
        ("calendar_rounds = 0", "scenarios[bad].calendar_rounds"),
        ("reply_window_days = 99", "scenarios[bad].reply_window_days"),
        ("after_calendar_rounds = -1", "scenarios[bad].after_calendar_rounds"),
        ("colour = 1", "scenarios[bad].colour: unknown key"),
        ('params = { "behaviour.late" = 0.1 }', 'scenarios[bad].params."behaviour.late": unknown'),
        (
            'params = { "behaviour.late_marking_probability" = 1.5 }',
            'scenarios[bad].params."behaviour.late_marking_probability": got 1.5',
        ),
        (
            'params = { "capacity.rule" = "report_hires" }\ntotal_positions = 700',
            'scenarios[bad].params."capacity.rule"',
        ),
    ],
)
def test_bad_override_is_one_line_naming_file_scenario_key(tmp_path, capsys, extra, where):
    path = write(tmp_path, SMALL + f'\n[[scenarios]]\nname = "bad"\n{extra}\n')
    code, out, err = run_cli(capsys, "experiment", str(path), "--out", str(tmp_path))
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{path}: {where}" in err
    assert not (tmp_path / "small").exists()


def test_bad_top_level_keys(tmp_path):
    from lis1abm.errors import ConfigError

    for text, key in [
        (SMALL.replace("seed = 7", "seed = -1"), "seed"),
        (SMALL.replace('backend = "cpu"', 'backend = "gpu"'), "backend"),
        (SMALL.replace('"capacity_hire_rate", ', '"nope", '), "figures[0]"),
        (SMALL + '\n[[scenarios]]\nname = "as 2024"\n', "scenarios[as 2024]"),
        (SMALL.replace('vary = "total_positions"', 'vary = "positions"'), "sweeps[0].vary"),
    ]:
        with pytest.raises(ConfigError) as error:
            load_experiment(write(tmp_path, text))
        assert error.value.key == key


def test_list(capsys):
    code, out, err = run_cli(capsys, "experiment", "--list")
    assert code == 0
    lines = out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == known_experiments()
    assert {"capacity", "calendar"} <= set(known_experiments())


# --- overrides ---------------------------------------------------------------------------


def test_total_positions_scales_every_ad(autumn):
    for total in (450, 601, 609, 800):
        data = scale_positions(autumn, total)
        positions = np.array([a.positions for a in data.ads])
        assert positions.sum() == total == data.totals["positions"]
        assert positions.min() >= 1
        assert sum(t.positions for t in data.trusts) == total
        share = np.array([a.positions for a in autumn.ads]) * total / 601
        assert np.all(np.abs(positions - share) < 1)  # largest remainder
    assert scale_positions(autumn, 601).ads == autumn.ads


def test_scenario_sets_capacity_rule_and_capacity(tmp_path):
    config = load_experiment(write(tmp_path, SMALL))
    data, params = resolve(config, config.scenarios[2])
    assert params.capacity.rule == "positions"
    market = build_market(data, params, 1)
    assert market.capacity.sum() == 650


def test_calendar_overrides(autumn):
    windows = [r.reply_window_days for r in autumn.calendar]
    assert len(with_calendar(autumn, 3).calendar) == 3
    eight = with_calendar(autumn, 8, after_calendar_rounds=0)
    assert [r.number for r in eight.calendar] == list(range(1, 9))
    assert [r.reply_window_days for r in eight.calendar] == windows + [windows[-1]] * 3
    assert eight.after_calendar_rounds == 0
    five = with_calendar(autumn, reply_window_days=5)
    assert [r.reply_window_days for r in five.calendar] == [5] * 5
    for cal in (eight.calendar, five.calendar):
        for a, b in zip(cal, cal[1:], strict=False):
            assert a.reply_by < b.offer and a.reply_by < a.marking_by
    assert with_calendar(autumn) == autumn


def test_calendar_rounds_reach_the_engine(tmp_path, params):
    text = SMALL + '\n[[scenarios]]\nname = "two"\ncalendar_rounds = 2\nafter_calendar_rounds = 1\n'
    config = load_experiment(write(tmp_path, text))
    data, p = resolve(config, next(s for s in config.scenarios if s.name == "two"))
    market = build_market(data, p, 1)
    assert market.n_calendar == 2 and market.n_rounds == 3


# --- running -----------------------------------------------------------------------------


def test_table_shape_and_meta(small_run):
    config, result, folder = small_run
    table = pd.read_parquet(folder / "replications.parquet")
    assert tuple(table.columns) == (*COLUMNS[:2], "population", *COLUMNS[2:])
    populations = json.loads((folder / "meta.json").read_text())["populations"]
    assert (table["population"] == table["replication"] % populations).all()
    assert list(table["scenario"].cat.categories) == ["as 2024", "550 positions", "650 positions"]
    counts = table.groupby(["scenario", "replication"], observed=True).size()
    assert len(counts) == 3 * 4 and counts.nunique() == 1
    assert set(table["breakdown"].astype(str)) == set(config.breakdowns)
    assert table["value"].dtype == np.int64
    meta = json.loads((folder / "meta.json").read_text())
    for key in ("config", "config_sha256", "seed", "version", "git_commit", "backend", "device"):
        assert key in meta
    assert meta["config_sha256"] == config.sha256 and meta["seed"] == 7
    assert [s["settings"]["total_positions"] for s in meta["scenarios"]] == [601, 550, 650]
    assert all(len(s["market_sha256"]) == 64 for s in meta["scenarios"])
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]


def test_hires_rise_with_positions_on_average(small_run):
    """Total hires rise with positions on average over replications (one more position can
    rarely lower hires in one replication, through a chain of declines)."""
    _, result, _ = small_run
    s = result.summary
    hired = s[(s["breakdown"] == "total") & (s["metric"] == "hired")].set_index("scenario")
    mean = hired["mean"]
    assert mean["550 positions"] < mean["as 2024"] < mean["650 positions"]


ROUNDS = """
description = "offer rounds 2-6, the calendar alone"
replications = 24
seed = 3
backend = "cpu"

[base]
after_calendar_rounds = 0

[[sweeps]]
name = "{value} rounds"
vary = "calendar_rounds"
values = [2, 3, 4, 5, 6]
"""


@pytest.mark.slow  # over 5 s on 2 cores (pytest --durations)
def test_more_rounds_leave_fewer_positions_open_on_average(tmp_path):
    """With the calendar alone, each further offer round leaves fewer positions open on
    average over replications (on the autumn 2024 market about 150 after two rounds, 5 after
    five). Tested on the means only: per replication it is not guaranteed, since the waiting
    rule depends on the rounds left, so a longer calendar plays its first rounds differently.
    Measured with the shipped parameters (`python scripts/rounds_open_check.py`: rounds 2-6,
    1,000 replications, seed 3): 1 of 4,000 one-round steps left one more position open."""
    config = load_experiment(write(tmp_path, ROUNDS, "rounds"))
    result = run_experiment(config)
    s = result.summary
    rows = s[(s["breakdown"] == "cascade") & (s["metric"] == "open_after_calendar")]
    mean = rows.set_index("scenario")["mean"].loc[[f"{n} rounds" for n in range(2, 7)]]
    assert (np.diff(mean.to_numpy()) < 0).all(), mean


@pytest.mark.slow  # over 5 s on 2 cores (pytest --durations)
def test_common_random_numbers(tmp_path):
    """Identical scenarios give identical values; the difference of two scenarios with shared
    draws varies less over replications than that of independent runs."""
    text = SMALL.replace("replications = 4", "replications = 30") + (
        '\n[[scenarios]]\nname = "as 2024 again"\ntotal_positions = 601\n'
    )
    config = load_experiment(write(tmp_path, text))
    table = run_experiment(config).table
    hired = table[(table["breakdown"] == "education") & (table["group"] == "Norway")]
    hired = hired[hired["metric"] == "hired"]
    by = hired.pivot_table(index="replication", columns="scenario", values="value", observed=True)
    assert (by["as 2024"] == by["as 2024 again"]).all()
    crn = (by["650 positions"] - by["as 2024"]).var()
    other = run_experiment(config, seed=8).table
    other = other[
        (other["breakdown"] == "education")
        & (other["group"] == "Norway")
        & (other["metric"] == "hired")
    ].pivot_table(index="replication", columns="scenario", values="value", observed=True)
    independent = (other["650 positions"] - by["as 2024"]).var()
    assert crn < independent / 2


def test_plot_redraws_from_saved_results(small_run, capsys):
    _, _, folder = small_run
    for f in folder.glob("*.p*f"):
        f.unlink()
    (folder / "replications.parquet").rename(folder.parent / "moved.parquet")
    code, out, err = run_cli(capsys, "plot", "small", "--out", str(folder.parent))
    assert code == 0, err
    for name in ("capacity_hire_rate", "capacity_open_and_offers"):
        for fmt in ("png", "pdf"):
            assert (folder / f"{name}.{fmt}").stat().st_size > 1000
    (folder.parent / "moved.parquet").rename(folder / "replications.parquet")


def test_plot_without_results(tmp_path, capsys):
    code, out, err = run_cli(capsys, "plot", "capacity", "--out", str(tmp_path))
    assert code == 2 and "no summary.csv" in err


def test_cli_writes_results_and_figures(tmp_path, capsys):
    path = write(tmp_path, SMALL)
    code, out, err = run_cli(capsys, "experiment", str(path), "--reps", "2", "--out", str(tmp_path))
    assert code == 0, err
    folder = tmp_path / "small"
    names = {p.name for p in folder.iterdir()}
    assert {"replications.parquet", "summary.csv", "meta.json", "capacity_hire_rate.png"} <= names
    assert json.loads((folder / "meta.json").read_text())["replications"] == 2
    assert "drawing the figures" not in err  # no spinner when standard error is not a terminal


def test_each_figure_is_announced_as_it_begins(small_run):
    """``draw_figures`` says which figure it draws, of how many (the command's spinner shows
    it), in the order of the figure names, one figure (PNG and PDF) each."""
    from lis1abm.experiments.runner import figure_names, load_results

    _, _, folder = small_run
    said: list[str] = []
    files = draw_figures(folder, phase=said.append)
    names = figure_names(load_results(folder)[1])
    assert said == [
        f"drawing the figures ({k} of {len(names)}: {name})" for k, name in enumerate(names, 1)
    ]
    assert len(files) == 2 * len(names)


def test_the_spinner_shows_only_on_a_terminal():
    """The spinner after the progress bar follows the bar: nothing when standard error is
    not a terminal (piped output stays clean), its changing text on a terminal."""
    import io

    from rich.console import Console

    from lis1abm.cli.app import _status

    piped = Console(file=io.StringIO())
    with _status(piped, "small: writing the results") as say:
        say("small: drawing the figures (1 of 2: effects)")
    assert piped.file.getvalue() == ""
    terminal = Console(file=io.StringIO(), force_terminal=True, width=80)
    with _status(terminal, "small: writing the results") as say:
        say("small: drawing the figures (1 of 2: effects)")
    assert "drawing the figures (1 of 2: effects)" in terminal.file.getvalue()


def test_failed_write_leaves_nothing(small_run, tmp_path, monkeypatch):
    _, result, _ = small_run

    def fail(*args, **kwargs):
        raise OSError("disk full")

    # The table is written, then the summary fails: the staging folder must go.
    monkeypatch.setattr(pd.DataFrame, "to_csv", fail)
    with pytest.raises(OSError):
        write_results(result, tmp_path)
    assert list(tmp_path.iterdir()) == []
    # An earlier result stays whole when a new write fails.
    monkeypatch.undo()
    folder = write_results(result, tmp_path)
    before = sorted(p.name for p in folder.iterdir())
    monkeypatch.setattr(pd.DataFrame, "to_csv", fail)
    with pytest.raises(OSError):
        write_results(result, tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == before
    assert [p.name for p in tmp_path.iterdir()] == ["small"]
    assert draw_figures(folder)


def test_round_unchanged_by_overrides():
    before = load_round("autumn2024")
    scale_positions(before, 800)
    with_calendar(before, 8, 5, 0)
    assert load_round("autumn2024") == before


# --- a results folder is never lost ------------------------------------------------------


def test_rerun_keeps_a_users_files_and_refuses_another_config(tmp_path, capsys):
    """A user's notes in the results folder survive every run; a run of another config
    (here other replications) is refused with one line naming the folder and what differs,
    and the results stay; --overwrite replaces only the experiment's files."""
    path = write(tmp_path, SMALL)
    out = tmp_path / "out"
    assert run_cli(capsys, "experiment", str(path), "--out", str(out), "--reps", "2")[0] == 0
    folder = out / "small"
    (folder / "notes.txt").write_text("my notes")
    summary = (folder / "summary.csv").read_bytes()

    code, stdout, err = run_cli(capsys, "experiment", str(path), "--out", str(out), "--reps", "3")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert str(folder) in err and "replications 2 (now 3)" in err and "--overwrite" in err
    assert (folder / "summary.csv").read_bytes() == summary
    assert (folder / "notes.txt").read_text() == "my notes"

    args = ["experiment", str(path), "--out", str(out), "--reps", "3", "--overwrite"]
    assert run_cli(capsys, *args)[0] == 0
    assert json.loads((folder / "meta.json").read_text())["replications"] == 3
    assert (folder / "notes.txt").read_text() == "my notes"
    assert not (out / "small.parts").exists()


def test_same_config_is_kept_and_says_so(tmp_path, capsys):
    """The same command again finds its results complete: nothing is run, every task is
    reported found done, the results are the same files."""
    path = write(tmp_path, SMALL)
    args = ["experiment", str(path), "--out", str(tmp_path), "--reps", "2"]
    assert run_cli(capsys, *args)[0] == 0
    before = (tmp_path / "small" / "replications.parquet").stat().st_mtime_ns
    code, stdout, _ = run_cli(capsys, *args)
    assert code == 0 and "3 of 3 tasks found done" in stdout and "nothing run" in stdout
    assert (tmp_path / "small" / "replications.parquet").stat().st_mtime_ns == before


def test_interrupted_run_reports_the_tasks_found_done(tmp_path, capsys):
    """Parts left by a run that did not write its results are used, and the command says how
    many it found; a user's file in the parts folder stays when the parts are cleared."""
    from lis1abm.distributed import Executor
    from lis1abm.experiments.tasks import parts_folder, run_experiment_tasks

    path = write(tmp_path, SMALL)
    config = load_experiment(path)
    parts = parts_folder(tmp_path, "small")
    run_experiment_tasks(config, Executor(), parts, reps=2)
    (parts / "keep.txt").write_text("mine")
    code, _, err = run_cli(capsys, "experiment", str(path), "--out", str(tmp_path), "--reps", "2")
    assert code == 0 and "resuming, 3 of 3 tasks found done" in err
    assert [p.name for p in parts.iterdir()] == ["keep.txt"]


def test_results_without_meta_are_refused(small_run, tmp_path):
    """A folder holding a summary but no meta.json (not this package's, or half replaced) is
    not overwritten unless asked."""
    from lis1abm.errors import UserError

    _, result, _ = small_run
    (tmp_path / "small").mkdir()
    (tmp_path / "small" / "summary.csv").write_text("mine\n")
    with pytest.raises(UserError, match="without a readable meta.json"):
        write_results(result, tmp_path)
    assert (tmp_path / "small" / "summary.csv").read_text() == "mine\n"
    write_results(result, tmp_path, overwrite=True)
    assert (tmp_path / "small" / "meta.json").is_file()
