"""The command line: JSON shape, results on disk with provenance, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from lis1abm.cli import main
from lis1abm.params import DEFAULT_PARAMS
from lis1abm.results.tally import BREAKDOWNS

ROW_KEYS = {
    "breakdown",
    "group",
    "applicants",
    "report_hired",
    "sim_hired_mean",
    "sim_hired_p10",
    "sim_hired_p90",
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
        assert 0 <= r["sim_hired_p10"] <= r["sim_hired_p90"]
        if r["breakdown"] != "ad":  # an ad's capacity can exceed its positions (report_hires)
            assert r["sim_hired_p90"] <= r["applicants"]
    ads = [r for r in rows if r["breakdown"] == "ad"]
    assert len(ads) == 29 and sum(r["applicants"] for r in ads) == 601  # positions for ads
    assert sum(r["report_hired"] is None for r in ads) == 12  # ads of trusts with several ads
    cascade = json_result["cascade"]
    assert len(cascade["rounds"]) == 5
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
    """Asking for the GPU engine where none is usable names the reason, exit code 2."""
    from lis1abm.engine import cuda as cuda_engine

    monkeypatch.setattr(cuda_engine, "gpu_status", lambda: (False, "no usable CUDA GPU (test)"))
    code, out, err = run_cli(capsys, "simulate", "--reps", "2", "--backend", "cuda")
    assert code == 2 and out == ""
    assert err.strip() == "lis1abm: error: --backend cuda: no usable CUDA GPU (test)"
