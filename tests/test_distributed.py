"""Scale-out: tasks and their keys, parts written atomically, a local Dask cluster giving the
same results as this process, a killed run resumed without computing a part twice, a
failing task retried and then reported by its key, an unreachable scheduler as one line, and
the batch jobs' script (GPU request, walltime, worker lifetime)."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from optuna.distributions import FloatDistribution
from optuna.samplers import CmaEsSampler

from lis1abm.calibration.config import load_config
from lis1abm.calibration.objective import Objective
from lis1abm.calibration.search import (
    on_cluster,
    open_study,
    population_size,
    run_search,
    trial_seed,
)
from lis1abm.cli import main
from lis1abm.data.round import load_round
from lis1abm.distributed import (
    Executor,
    PartStore,
    Task,
    TasksFailed,
    open_cluster,
    parse_cluster,
    task_key,
)
from lis1abm.distributed.cluster import batch_cluster
from lis1abm.errors import UserError
from lis1abm.experiments import load_experiment, run_experiment, write_results
from lis1abm.experiments.tasks import parts_folder, run_experiment_tasks
from lis1abm.params import DEFAULT_PARAMS

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
values = [550, 650]
"""


def small(tmp_path: Path, reps: int = 6) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(SMALL.replace("replications = 6", f"replications = {reps}"))
    return path


def local_threads(workers: int = 2):
    """A local cluster of ``workers`` thread workers in this process (process workers take
    seconds each to start; the tasks run the same code)."""
    spec = dataclasses.replace(parse_cluster("local", workers=workers), processes=False)
    return open_cluster(spec)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The small experiment run in one piece (no tasks), as it was before the scale-out."""
    folder = tmp_path_factory.mktemp("reference")
    config = load_experiment(small(folder))
    return config, run_experiment(config)


# --- the split is exact ------------------------------------------------------------------


def test_tasks_in_process_equal_one_run(reference, tmp_path):
    """Blocks of 4 replications (the last one short), kept as parts and assembled, give the
    table and summary of one run."""
    config, direct = reference
    result = run_experiment_tasks(config, Executor(), tmp_path / "parts", task_reps=4)
    pd.testing.assert_frame_equal(result.table, direct.table)
    pd.testing.assert_frame_equal(result.summary, direct.summary)
    assert result.meta["execution"]["tasks"] == 3 * 2
    assert result.meta["scenarios"] == direct.meta["scenarios"]


def test_the_long_steps_around_the_tasks_are_announced(reference, tmp_path):
    """The markets' building, the reduction and the assembly each say when they begin (the
    command line shows it), in that order around the tasks."""
    config, _ = reference
    said: list[str] = []
    run_experiment_tasks(config, Executor(), tmp_path / "parts", task_reps=4, phase=said.append)
    assert said[0].startswith("building 3 scenarios' markets")
    assert said[1:] == [
        "tasks",
        "reducing the tasks' parts to the summary",
        "assembling the results",
    ]


def test_local_cluster_with_two_workers_equals_none(reference, tmp_path):
    """Two Dask workers, tasks of 2 replications finishing in any order: the same table as
    ``--cluster none`` for the same seed, every market checked against its digest."""
    config, direct = reference
    with local_threads(2) as executor:
        assert executor.workers == 2
        result = run_experiment_tasks(config, executor, tmp_path / "parts", task_reps=2)
    pd.testing.assert_frame_equal(result.table, direct.table)
    pd.testing.assert_frame_equal(result.summary, direct.summary)
    assert result.meta["execution"]["cluster"].startswith("local: 2 CPU workers")


def test_cli_none_writes_what_run_experiment_writes(reference, tmp_path, capsys):
    """The default (--cluster none) goes through the tasks and writes the same table and
    summary as before; the parts folder is gone once the results are written."""
    config, direct = reference
    code = _cli(capsys, "experiment", config.file, "--out", str(tmp_path), "--task-reps", "5")
    assert code == 0
    expected = write_results(direct, tmp_path / "direct")
    _same_results(tmp_path / "small", expected)
    assert not parts_folder(tmp_path, "small").exists()


def _same_results(folder: Path, expected: Path) -> None:
    """The same summary, byte for byte, and the same table: streamed block by block (each
    block's scenarios in order), so its rows are in another order than a table written
    whole, scenario by scenario."""
    name = "summary.csv"
    assert (folder / name).read_bytes() == (expected / name).read_bytes(), name
    tables = [
        pd.read_parquet(f / "replications.parquet")
        .sort_values(["scenario", "replication"], kind="stable")
        .reset_index(drop=True)
        for f in (folder, expected)
    ]
    pd.testing.assert_frame_equal(*tables)


def test_task_keys_are_deterministic_and_name_what_they_hold(reference, tmp_path):
    config, _ = reference
    keys = []
    store = PartStore(tmp_path / "parts")
    for _ in range(2):
        run_experiment_tasks(config, Executor(), store.folder, task_reps=4)
        keys.append(sorted(p.stem for p in store.folder.glob("*.parquet")))
    assert keys[0] == keys[1] and len(keys[0]) == 6
    assert keys[0][0].startswith("small--s000--as_2024--r0000000000-0000000003--p")
    assert keys[0][-1].startswith("small--s002--650_positions--r0000000004-0000000005--p")
    # the second run found every part and wrote none
    assert sorted(store.logged()) == keys[0]


MATCH_AND_TABLES = """
description = "both allocations, the match measures and a table from whole replications"
replications = 5
seed = 11
backend = "cpu"
breakdowns = ["total", "education", "cascade", "stability", "preference_rank", "proposing_side"]
tables = ["report"]

[[scenarios]]
name = "cascade"

[[scenarios]]
name = "central match"
allocation = "deferred_acceptance"
"""


def test_tasks_split_the_central_match_and_the_tables_exactly(tmp_path):
    """Deferred acceptance, the blocking pairs and the report table (computed from whole
    replications, so every task keeps every breakdown until the parts are assembled) come
    out of blocks of 2 replications as out of one run."""
    path = tmp_path / "match.toml"
    path.write_text(MATCH_AND_TABLES)
    config = load_experiment(path)
    direct = run_experiment(config)
    result = run_experiment_tasks(config, Executor(), tmp_path / "parts", task_reps=2)
    pd.testing.assert_frame_equal(result.table, direct.table)
    pd.testing.assert_frame_equal(result.summary, direct.summary)
    pd.testing.assert_frame_equal(result.tables["report"], direct.tables["report"])
    assert set(result.table["breakdown"]) == set(config.breakdowns)
    pairs = result.summary.query("breakdown == 'stability' and metric == 'blocking_pairs'")
    assert pairs.set_index("scenario")["mean"].to_dict()["central match"] == 0


# --- nothing lost, nothing twice ---------------------------------------------------------


def test_part_written_atomically(tmp_path, monkeypatch):
    """A write that fails midway leaves neither the part nor a temporary file."""
    store = PartStore(tmp_path / "parts")
    table = pd.DataFrame({"value": [1, 2, 3]})

    def broken(self, path, **kwargs):
        Path(path).write_bytes(b"half a part")
        raise OSError("disk full")

    with monkeypatch.context() as m:
        m.setattr(pd.DataFrame, "to_parquet", broken)
        with pytest.raises(OSError):
            store.write("k", table)
    assert list(store.folder.iterdir()) == []
    store.write("k", table)
    pd.testing.assert_frame_equal(store.read("k"), table)
    assert store.logged() == ["k"]


@pytest.mark.slow
def test_killed_run_resumes_without_computing_a_part_twice(tmp_path, monkeypatch, capsys):
    """The command killed (SIGKILL) after some parts exist, then started again: the parts
    there are not computed again (their files untouched, no key written twice) and the
    results equal an uninterrupted run's."""
    reps = 20
    n_parts = 3 * reps  # three scenarios, a part per replication
    config_file = small(tmp_path, reps=reps)
    out = tmp_path / "out"
    args = ["experiment", str(config_file), "--out", str(out), "--task-reps", "1"]
    env = os.environ | {"NUMBA_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "lis1abm.cli", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    parts = parts_folder(out, "small")
    deadline = time.monotonic() + 180
    while len(list(parts.glob("*.parquet"))) < 3:
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "no part after 180 s"
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stderr.close()
    before = {p.stem: (p.stat().st_ino, p.stat().st_mtime_ns) for p in parts.glob("*.parquet")}
    assert 3 <= len(before) < n_parts, "the run ended before it was killed"
    assert not (out / "small").exists()

    written = []
    write = PartStore.write

    def recording(self, key, table):
        written.append(key)
        return write(self, key, table)

    monkeypatch.setattr(PartStore, "write", recording)
    assert _cli(capsys, *args) == 0
    assert not set(written) & set(before), "a part of the killed run was computed again"
    assert len(written) == len(set(written)) == n_parts - len(before)
    config = load_experiment(config_file)
    expected = write_results(run_experiment(config), tmp_path / "uninterrupted")
    _same_results(out / "small", expected)


_tries: dict[str, int] = {}
_lock = threading.Lock()


def _flaky(payload: dict, name: str) -> str:
    """Fails the first time it runs for ``name`` ``once``, every time for ``always``."""
    with _lock:
        _tries[name] = _tries.get(name, 0) + 1
        tries = _tries[name]
    if name.startswith("always") or (name.startswith("once") and tries == 1):
        raise RuntimeError(f"{name} failed (try {tries})")
    return payload["prefix"] + name


@pytest.mark.parametrize("where", ["process", "local"])
def test_failing_task_retried_once_then_reported_with_its_key(where):
    _tries.clear()
    names = ["ok-1", f"once-{where}", f"always-{where}", "ok-2"]
    tasks = [Task(task_key("t", n), _flaky, "p", (n,)) for n in names]
    done = {}
    ticks = []

    def run(executor):
        return executor.map(tasks, {"p": {"prefix": "->"}}, done.__setitem__, ticks.append)

    if where == "process":
        failures = run(Executor())
    else:
        with local_threads(2) as executor:
            failures = run(executor)
    assert [f.key for f in failures] == [f"t--always-{where}"]
    assert "RuntimeError: always" in failures[0].error
    assert {t.key: r for t, r in done.items()} == {
        "t--ok-1": "->ok-1",
        f"t--once-{where}": f"->once-{where}",
        "t--ok-2": "->ok-2",
    }
    assert _tries[f"once-{where}"] == 2 and _tries[f"always-{where}"] == 2
    assert len(ticks) == 4
    message = str(TasksFailed(failures, 4, "run again"))
    assert "\n" not in message and f"t--always-{where}" in message


# --- the cluster named -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_is_one_line_and_exit_2(tmp_path, capsys):
    address = f"tcp://127.0.0.1:{_free_port()}"
    code, err = _cli_err(
        capsys,
        "experiment",
        str(small(tmp_path)),
        "--out",
        str(tmp_path),
        "--cluster",
        address,
        "--connect-timeout",
        "0.5",
    )
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"lis1abm: error: --cluster {address}: cannot reach the Dask")


@pytest.mark.parametrize(
    "text, options, problem",
    [
        ("lcoal", {}, "unknown value 'lcoal'"),
        ("none", {"workers": 2}, "--workers: does not apply"),
        ("local", {"workers": 0}, "--workers must be at least 1"),
        ("slurm", {"gpus_per_worker": 2}, "--gpus-per-worker must be 0 or 1"),
        ("slurm", {"walltime": "1h"}, "--walltime: expected HH:MM:SS"),
        ("slurm", {"walltime": "00:05:00"}, "--walltime: at least 00:10:00"),
        ("pbs", {"lifetime": "02:00:00"}, "--lifetime 02:00:00 must be shorter"),
    ],
)
def test_bad_cluster_options(text, options, problem):
    with pytest.raises(UserError, match=problem.replace("(", r"\(")):
        parse_cluster(text, **options)


def test_addresses_are_recognised():
    for address in ("tcp://10.0.0.5:8786", "node17:8786", "tls://sched.example.org:8786"):
        assert parse_cluster(address).address == address


def test_batch_job_asks_for_a_gpu_walltime_and_worker_lifetime():
    """A SLURM GPU job: one GPU, the walltime, and a worker lifetime (staggered) ending a
    margin before it, so that a worker hands its tasks over before the job is killed."""
    spec = parse_cluster("slurm", workers=3, gpus_per_worker=1, walltime="02:00:00")
    cluster, description, workers, gpu, _ = batch_cluster(spec)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert gpu and workers == 3 and "walltime 02:00:00" in description
    assert "#SBATCH --gres=gpu:1" in script and "#SBATCH -t 02:00:00" in script
    assert "--lifetime 6480s --lifetime-stagger 240s" in script
    assert "--nthreads 1" in script
    assert 6480 + 240 < 2 * 3600


def _cli(capsys, *args: str) -> int:
    return _cli_err(capsys, *args)[0]


def _cli_err(capsys, *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as stop:
        main([str(a) for a in args])
    _, err = capsys.readouterr()
    return stop.value.code, err


# --- calibration on a cluster ------------------------------------------------------------

CALIBRATION = f"""
[calibration]
params = "{DEFAULT_PARAMS}"
seed = 7
replications = 4

[parameters]
"ranking.education_weight.Norway" = {{ lower = 0.0, upper = 3.0 }}
"ranking.nationality_weight.EEA+UK" = {{ lower = -2.0, upper = 2.0 }}
"behaviour.withdrawal_probability" = {{ lower = 0.1, upper = 0.2 }}

[targets.nationality_x_education]
likelihood = "binomial"
"""


def _search(tmp_path: Path, name: str, budget: int, executor=None, resume: bool = False):
    path = tmp_path / "calibration.toml"
    path.write_text(CALIBRATION)
    config = load_config(path)
    objective = Objective(config, load_round("autumn2024"), seed=7, reps=4)
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    study = open_study(folder, "study", resume)
    evaluate = None if executor is None else on_cluster(executor, objective, "study")
    run_search(study, objective, budget, 7, evaluate=evaluate)
    return study, config


def _trials(study) -> pd.DataFrame:
    frame = study.trials_dataframe(attrs=("number", "value", "params", "state"))
    return frame.drop(columns=["state"]).assign(state=frame["state"].astype(str))


def test_calibration_on_a_cluster_asks_the_trials_of_one_process(tmp_path):
    """A generation's candidates evaluated together by two workers: the same trials (the
    candidates, their values, their order) as the search one trial at a time, so the same
    best point for the same seed."""
    population = population_size(3)
    budget = 1 + 2 * population + 2  # the base point, two generations and part of a third
    alone, _ = _search(tmp_path, "alone", budget)
    with local_threads(2) as executor:
        together, _ = _search(tmp_path, "together", budget, executor)
    assert len(alone.trials) == budget
    pd.testing.assert_frame_equal(_trials(together), _trials(alone))


def test_calibration_killed_mid_generation_resumes_as_uninterrupted(tmp_path):
    """A run killed while a generation's trials were being evaluated leaves them running in
    the journal; resumed, they are evaluated (not failed), and the study is the one of an
    uninterrupted run."""
    population = population_size(3)
    budget = 1 + 2 * population
    whole, _ = _search(tmp_path, "whole", budget)
    # the base point, generation 0 and the first trial of generation 1 (which stores the
    # CMA-ES state) done; then three of the others asked together, and the process dies
    killed, config = _search(tmp_path, "killed", 1 + population + 1)
    distributions = {
        n: FloatDistribution(lo, hi)
        for n, lo, hi in zip(config.names, config.lower, config.upper, strict=True)
    }
    for _ in range(3):
        killed.sampler = CmaEsSampler(
            seed=trial_seed(7, len(killed.trials)), warn_independent_sampling=False
        )
        killed.ask(distributions)
    with local_threads(2) as executor:
        resumed, _ = _search(tmp_path, "killed", budget, executor, resume=True)
    pd.testing.assert_frame_equal(_trials(resumed), _trials(whole))
