"""The command line: JSON shape, results on disk with provenance, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from lis1abm import __version__
from lis1abm.cli import main
from lis1abm.data.round import known_rounds
from lis1abm.engine import backends
from lis1abm.outcomes.tally import BREAKDOWNS
from lis1abm.params import DEFAULT_PARAMS

ROW_KEYS = {
    "breakdown",
    "group",
    "applicants",
    "report_hired",
    "sim_hired_mean",
    "sim_hired_p05",
    "sim_hired_p10",
    "sim_hired_p90",
    "sim_hired_p95",
}


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stop:
        main(list(args))
    out, err = capsys.readouterr()
    return stop.value.code, out, err


@pytest.fixture(scope="module")
def json_result():
    """`lis1abm simulate --reps 20 --backend mesa --json`, as a user runs it."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lis1abm.cli",
            "simulate",
            "--reps",
            "20",
            "--backend",
            "mesa",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return json.loads(done.stdout)


def test_json_shape(json_result):
    rows = json_result["rows"]
    assert {r["breakdown"] for r in rows} == set(BREAKDOWNS)
    for r in rows:
        assert ROW_KEYS <= set(r)
        # An ad's (and a region's) capacity can exceed its positions (report_hires).
        if r["breakdown"] not in ("ad", "ad_region"):
            assert r["sim_hired_p95"] <= r["applicants"]
        assert r["sim_hired_p05"] <= r["sim_hired_p10"] <= r["sim_hired_p90"] <= r["sim_hired_p95"]
    ads = [r for r in rows if r["breakdown"] == "ad"]
    assert len(ads) == 29 and sum(r["applicants"] for r in ads) == 601  # positions for ads
    assert sum(r["report_hired"] is None for r in ads) == 12  # ads of trusts with several ads
    regions = [r for r in rows if r["breakdown"] == "ad_region"]
    assert sum(r["applicants"] for r in regions) == 601  # positions, as for the ads
    assert sum(r["report_hired"] for r in regions) == 606
    cascade = json_result["cascade"]
    # The five calendar rounds, then the rounds after the calendar (8 at most for autumn 2024).
    assert [r["label"] for r in cascade["rounds"]] == [
        *"12345",
        *(f"after {k}" for k in range(1, 9)),
    ]
    assert [r["round"] for r in cascade["rounds"]] == list(range(1, 14))
    assert [r["after_calendar"] for r in cascade["rounds"]] == [False] * 5 + [True] * 8
    assert {"offers", "accepted", "declined", "unanswered", "unfilled"} <= set(cascade["total"])


def test_default_run_matches_report(json_result):
    """The issue's acceptance figures: total hires within 1 % of 606 on average, and the
    report's ordering of hire rates by education group."""
    rows = {(r["breakdown"], r["group"]): r for r in json_result["rows"]}
    assert abs(rows[("total", "all")]["sim_hired_mean"] / 606 - 1) <= 0.01
    rate = {
        g: rows[("education", g)]["sim_hired_mean"] / rows[("education", g)]["applicants"]
        for g in ("Norway", "EEA+UK", "Outside EEA")
    }
    assert rate["Norway"] > rate["EEA+UK"] > rate["Outside EEA"]


def test_plain_output(capsys):
    code, out, err = run_cli(capsys, "simulate", "--reps", "2", "--seed", "3")
    assert code == 0
    for title in ("All applicants", "Nationality x education", "Offer cascade"):
        assert title in out
    assert "Poland" in out and "Vestre Viken" in out


def test_out_writes_parquet_and_meta(capsys, tmp_path):
    out_dir = tmp_path / "run"
    code, _, _ = run_cli(
        capsys,
        "simulate",
        "--reps",
        "3",
        "--seed",
        "11",
        "--json",
        "--events",
        "--per-replication",
        "--out",
        str(out_dir),
    )
    assert code == 0
    reps = pd.read_parquet(out_dir / "replications.parquet")
    assert sorted(reps["replication"].unique()) == [0, 1, 2]
    events = pd.read_parquet(out_dir / "events.parquet")
    assert set(events["response"].astype(str)) <= {
        "accepted",
        "declined",
        "unanswered",
        "declined_hired",
    }
    meta = json.loads((out_dir / "meta.json").read_text())
    assert meta["seed"] == 11 and meta["round"] == "autumn2024"
    # auto: the numba engine on a machine without a GPU
    assert meta["backend_asked"] == "auto" and meta["backend"] in ("cpu", "cuda")
    assert meta["replications"] == 3 and meta["version"]
    assert "git_commit" in meta and meta["params"]["capacity"]["rule"] == "report_hires"
    assert len(meta["round_sha256"]) == 64


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["simulate", "--backend", "gpu"], "unknown backend 'gpu'"),
        (["simulate", "--round", "autumn1999"], "unknown round 'autumn1999'"),
        (["simulate", "--round", "spring2024"], "cannot be simulated"),
        (["simulate", "--reps", "0"], "--reps must be at least 1"),
        (["simulate", "--seed", "-1"], "--seed must be"),
        (["simulate", "--colour"], "No such option"),
        (["simulate", "--params", "/nonexistent/params.toml"], "file not found"),
        (["simulate", "--threads", "0"], "--threads: must be in [1, "),
        (["simulate", "--threads", "2", "--backend", "mesa"], "only the cpu backend"),
        (["simulate", "--events"], "--events: needs --out DIR"),
        (["check"], "Missing argument"),
        # Paths where permission bits say yes (as root) but no file can be made: refused
        # before any work, not with a traceback after it.
        (["simulate", "--out", "/proc/x"], "--out /proc/x: cannot write in /proc"),
        (["experiment", "capacity", "--out", "/proc/x"], "--out /proc/x: cannot write in /proc"),
        (["calibrate", "--out", "/proc/x"], "--out /proc/x: cannot write in /proc"),
        (["plot", "capacity", "--out", "/proc"], "no summary.csv"),
    ],
)
def test_user_errors_are_one_line(capsys, args, needle):
    code, out, err = run_cli(capsys, *args)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("lis1abm: error: ")
    assert needle in err
    assert "Traceback" not in err and out == ""


def test_bad_params_file_writes_nothing(capsys, tmp_path):
    bad = tmp_path / "params.toml"
    bad.write_text(DEFAULT_PARAMS.read_text().replace("[capacity]", "[capacity]\nseats = 3"))
    out_dir = tmp_path / "run"
    code, _, err = run_cli(capsys, "simulate", "--params", str(bad), "--out", str(out_dir))
    assert code == 2 and f"{bad}: capacity.seats: unknown key" in err
    assert not out_dir.exists()
    assert list(tmp_path.iterdir()) == [bad]


def test_check_command(capsys):
    code, out, _ = run_cli(capsys, "check", str(DEFAULT_PARAMS), "configs/rounds/autumn2024.toml")
    assert code == 0 and out.count(": ok") == 2


def test_console_script_exit_code(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "lis1abm.cli", "simulate", "--backend", "x"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "lis1abm: error: --backend: unknown backend 'x' (known: auto, mesa, cpu, cuda)"
    )


def test_backends_print_the_same_comparison(capsys, json_result):
    """`--backend cpu` gives exactly the JSON rows and cascade of `--backend mesa` (the module
    fixture), so users can switch engines without changing a figure."""
    code, out, _ = run_cli(capsys, "simulate", "--reps", "20", "--backend", "cpu", "--json")
    assert code == 0
    cpu = json.loads(out)
    assert cpu["meta"]["backend"] == "cpu" and json_result["meta"]["backend"] == "mesa"
    assert cpu["rows"] == json_result["rows"]
    assert cpu["cascade"] == json_result["cascade"]


def test_cuda_without_gpu_is_one_line_error(capsys, monkeypatch):
    """Asking for the GPU engine where a driver is found but no GPU is usable names the
    reason, exit code 2."""
    from lis1abm.engine import cuda as cuda_engine

    monkeypatch.setattr(backends, "driver_present", lambda: True)
    monkeypatch.setattr(cuda_engine, "gpu_status", lambda: (False, "no usable CUDA GPU (test)"))
    code, out, err = run_cli(capsys, "simulate", "--reps", "2", "--backend", "cuda")
    assert code == 2 and out == ""
    assert err.strip() == "lis1abm: error: --backend cuda: no usable CUDA GPU (test)"


def test_cuda_without_driver_is_one_line_error(capsys, monkeypatch):
    """Without a driver, ``--backend cuda`` answers without importing the GPU engine (a
    ``None`` entry in sys.modules makes any import of it fail)."""
    monkeypatch.setattr(backends, "driver_present", lambda: False)
    monkeypatch.setitem(sys.modules, "lis1abm.engine.cuda", None)
    code, out, err = run_cli(capsys, "simulate", "--reps", "2", "--backend", "cuda")
    assert code == 2 and out == ""
    assert err == "lis1abm: error: --backend cuda: no CUDA driver found " + (
        "(no /dev/nvidia0, libcuda cannot be loaded)\n"
    )


def fail(*args, **kwargs):
    raise AssertionError("must not be called")


def test_auto_small_runs_do_not_probe_cuda(monkeypatch):
    """``auto`` picks the CPU engine below CUDA_MIN_REPS without looking for a GPU, and the
    GPU from there on when one is usable."""
    monkeypatch.setattr(backends, "driver_present", fail)
    monkeypatch.setattr(backends, "gpu_status", fail)
    monkeypatch.setitem(sys.modules, "lis1abm.engine.cuda", None)
    assert backends.resolve_backend("auto", backends.CUDA_MIN_REPS - 1)[0] == "cpu"
    monkeypatch.setattr(backends, "gpu_status", lambda: (True, "test GPU"))
    assert backends.resolve_backend("auto", backends.CUDA_MIN_REPS) == ("cuda", "gpu: test GPU")


def test_auto_small_run_imports_no_gpu_library():
    """In a fresh process, resolving ``auto`` for 20 replications imports neither numba.cuda
    nor CuPy (importing them is what made ``auto`` cost over a second without a GPU)."""
    code = (
        "import sys; from lis1abm.engine.backends import resolve_backend; "
        "print(resolve_backend('auto', 20)[0], 'numba.cuda' in sys.modules, 'cupy' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == ["cpu", "False", "False"]


def test_cli_auto_small_run_does_not_probe(capsys, monkeypatch):
    monkeypatch.setattr(backends, "driver_present", fail)
    monkeypatch.setattr(backends, "gpu_status", fail)
    code, out, _ = run_cli(capsys, "simulate", "--reps", "2", "--json")
    assert code == 0 and json.loads(out)["meta"]["backend"] == "cpu"


def test_bare_command_prints_help(capsys):
    code, out, err = run_cli(capsys)
    assert code == 0 and err == ""
    assert "Usage: lis1abm" in out and "simulate" in out and "check" in out


def test_version(capsys):
    code, out, err = run_cli(capsys, "--version")
    assert (code, out, err) == (0, f"lis1abm {__version__}\n", "")


def test_help_texts(capsys):
    code, out, _ = run_cli(capsys, "simulate", "--help")
    assert code == 0
    assert "[auto|mesa|cpu|cuda]" in out
    for name in known_rounds():
        assert name in out
    assert "--threads" in out and "--version" not in out
    code, out, _ = run_cli(capsys, "check", "--help")
    assert code == 0 and "a [round] table" in " ".join(out.split())


@pytest.fixture
def no_run(monkeypatch):
    """Make any simulation fail the test: the options must be refused before one starts."""
    from lis1abm.report import simulate as module

    monkeypatch.setattr(module, "simulate", fail)


def test_bad_out_refused_before_any_run(capsys, tmp_path, no_run):
    a_file = tmp_path / "taken"
    a_file.write_text("")
    for out, problem in [
        (a_file, "exists and is not a folder"),
        (tmp_path / "missing" / "run", "parent folder"),
    ]:
        code, std, err = run_cli(capsys, "simulate", "--reps", "2", "--out", str(out))
        assert code == 2 and std == ""
        assert err.startswith(f"lis1abm: error: --out {out}: {problem}") and err.count("\n") == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_out_refused_before_any_run(capsys, tmp_path, no_run):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    code, _, err = run_cli(capsys, "simulate", "--out", str(locked / "run"))
    assert code == 2 and f"--out {locked / 'run'}: cannot write in" in err


def test_events_without_out_refused_before_any_run(capsys, no_run):
    code, out, err = run_cli(capsys, "simulate", "--events")
    assert code == 2 and out == ""
    assert err.startswith("lis1abm: error: --events: needs --out DIR")


def test_written_message_lists_only_what_was_written(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "simulate", "--reps", "2", "--out", str(tmp_path / "run"))
    assert code == 0
    assert "(comparison.parquet, meta.json)" in " ".join(out.split())
    assert "events.parquet" not in out


def test_threads(capsys):
    """``--threads 1`` runs the CPU engine on one thread (recorded in meta's device) and
    leaves the process's thread count as it was."""
    import numba

    before = numba.get_num_threads()
    code, out, _ = run_cli(
        capsys, "simulate", "--reps", "2", "--backend", "cpu", "--threads", "1", "--json"
    )
    assert code == 0 and json.loads(out)["meta"]["device"] == "cpu: 1 thread"
    assert numba.get_num_threads() == before


@pytest.mark.parametrize("compiles", [True, False])
def test_first_compile_is_announced(capsys, monkeypatch, compiles):
    """Before a run that first compiles the CPU engine (20-40 s with nothing else on screen)
    the user is told why it pauses; once the engine is cached, nothing is said."""
    from lis1abm.engine import cpu

    monkeypatch.setattr(cpu, "needs_compile", lambda: compiles)
    code, _, err = run_cli(capsys, "simulate", "--reps", "1", "--backend", "cpu", "--json")
    assert code == 0
    assert ("Compiling the CPU engine" in err) == compiles


@pytest.mark.slow  # about 7 s: a process started and stopped
def test_ctrl_c_says_what_was_kept(tmp_path):
    """Ctrl-C during a run: exit code 130 and one line saying what was kept (typer turns the
    interrupt into that exit code without a word)."""
    import signal
    import time

    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lis1abm.cli", "simulate", "--reps", "100000000", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the signal is not ignored
        # A suite started in the background by a shell runs with SIGINT ignored, which a
        # child would inherit (and Python then installs no handler): start with the default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(6)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == (
        f"lis1abm: interrupted: nothing was written to {out} "
        "(results are moved there only when complete)"
    )
    assert not out.exists()


def test_plot_refuses_a_folder_it_cannot_write(capsys, tmp_path, monkeypatch):
    """plot on a results folder where no file can be made (a read-only file system): one
    line, exit 2, before drawing."""
    import lis1abm.atomic

    (tmp_path / "capacity").mkdir()
    monkeypatch.setattr(lis1abm.atomic, "cannot_write_in", lambda folder: "Read-only file system")
    code, out, err = run_cli(capsys, "plot", "capacity", "--out", str(tmp_path))
    assert code == 2 and err.count("\n") == 1
    assert f"cannot write the figures in {tmp_path / 'capacity'} (Read-only file system)" in err


def test_plot_draws_a_simulation_fit(capsys, tmp_path):
    """plot on a folder written by simulate --out draws its fit (report, model mean and band
    per group) beside the comparison."""
    run = tmp_path / "run"
    code, _, _ = run_cli(capsys, "simulate", "--reps", "20", "--out", str(run))
    assert code == 0
    code, out, err = run_cli(capsys, "plot", str(run))
    assert code == 0, err
    assert (run / "fit.png").stat().st_size > 10_000 and (run / "fit.pdf").is_file()
    assert "fit.png, fit.pdf" in out


def test_events_join_the_applicants_and_ads(capsys, tmp_path):
    """With --events, population.parquet and ads.parquet hold the attributes of every
    applicant and ad the event log names: every offer joins one row of each."""
    run = tmp_path / "run"
    code, _, _ = run_cli(capsys, "simulate", "--reps", "3", "--events", "--out", str(run))
    assert code == 0
    events = pd.read_parquet(run / "events.parquet")
    population = pd.read_parquet(run / "population.parquet")
    ads = pd.read_parquet(run / "ads.parquet")
    keys = ["population", "applicant"]
    assert not population.duplicated(keys).any() and ads["ad"].is_unique
    joined = events.merge(population, on=keys, validate="many_to_one").merge(
        ads, on="ad", validate="many_to_one"
    )
    assert len(joined) == len(events) > 0
    assert set(joined["education_group"]) == {"Norway", "EEA+UK", "Outside EEA"}
    # Three replications on three population draws, each with the report's 932 applicants.
    assert population.groupby("population").size().tolist() == [932] * 3
    assert ads["positions"].sum() == 601
