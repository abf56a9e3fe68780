"""The search: CMA-ES through Optuna, in a study that survives interruption, in this process
or with a generation's candidates evaluated in parallel on a Dask cluster.

The study lives in a journal file (``study.journal`` in the output folder, Optuna's
``JournalStorage`` with a ``JournalFileBackend``): every trial is appended as it starts and
ends, so a killed run loses no trial (a trial it left running is evaluated on ``--resume``,
its candidate being stored), and ``--resume`` continues to the budget. The study's name is a
digest of everything that defines the search (the calibration config's and base parameter
file's bytes, the round file's bytes, seed, replications, package version and git commit), so
that a changed setup cannot continue a stale study.

Determinism: the objective is deterministic, the first trial is the base parameters (clipped
into the bounds), and every trial gets a new ``CmaEsSampler`` seeded with (seed, trial
number). Optuna's sampler keeps the CMA-ES state in the study (each generation's optimizer is
stored with its trials) but draws the per-trial seed from a random state that advances in
memory; a sampler made afresh per trial makes each trial a function of the study's stored
trials and its number only, so a search resumed after an interruption asks for exactly the
candidates an uninterrupted one would. On a cluster the trials of a generation are asked
together (:func:`batch_size`), evaluated by the workers and told in order: within a
generation every trial is sampled from the same state, so the trials, and the result, are
those of the search in one process for the same seed (tests/test_distributed.py checks it).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path

import cmaes
import numpy as np
import optuna
from optuna.distributions import FloatDistribution
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from lis1abm.calibration.config import CalibrationConfig
from lis1abm.calibration.objective import Objective
from lis1abm.distributed import Executor, Task, TasksFailed, code_digest, task_key
from lis1abm.errors import UserError
from lis1abm.report.provenance import file_digest, git_commit
from lis1abm.version import __version__

JOURNAL = "study.journal"
"""The study's file in the output folder."""
MAX_FAILED_IN_A_ROW = 20
"""Candidates that cannot be simulated, one after another, before the search gives up."""
GENERATION, OPTIMIZER = "cma:generation", "cma:optimizer"
"""The trial attributes where Optuna's CMA-ES sampler records a trial's generation and (the
first trial of a generation) the optimizer's state, in parts named from this prefix."""


def study_name(
    config: CalibrationConfig, round_file: str | Path, seed: int, reps: int, populations: int = 1
) -> str:
    """``lis1abm-<digest>``: SHA-256 (first 16 hex digits) of the calibration config, the base
    parameter file, the round file, the seed, the replications, the population draws and the
    code version."""
    setup = {
        "config": file_digest(config.file),
        "params": file_digest(config.base_file),
        "round": file_digest(round_file),
        "seed": seed,
        "replications": reps,
        "populations": populations,
        "version": __version__,
        "commit": git_commit(),
    }
    digest = hashlib.sha256(json.dumps(setup, sort_keys=True).encode()).hexdigest()
    return f"lis1abm-{digest[:16]}"


def open_study(out: Path, name: str, resume: bool) -> optuna.Study:
    """The study ``name`` in ``out/study.journal``: a new one, or with ``resume`` the one there.

    Raises
    ------
    UserError : a study is there but ``resume`` was not asked for, or the study there was made
        with another setup.
    """
    optuna.logging.set_verbosity(logging.WARNING)
    path = out / JOURNAL
    exists = path.exists()
    if exists and not resume:
        raise UserError(
            f"--out {out}: holds a calibration study ({path}); add --resume to continue it, "
            "or choose another --out"
        )
    storage = JournalStorage(JournalFileBackend(str(path)))
    if exists:
        names = [s.study_name for s in storage.get_all_studies()]
        if name not in names:
            raise UserError(
                f"--resume: the study in {path} was made with another setup (calibration "
                "config, parameters, round, seed, replications or code version); choose "
                "another --out"
            )
        return optuna.load_study(study_name=name, storage=storage)
    return optuna.create_study(study_name=name, storage=storage, direction="minimize")


def trial_seed(seed: int, number: int) -> int:
    """The sampler seed of trial ``number`` (a 32-bit integer, as numpy's RandomState takes)."""
    digest = hashlib.sha256(f"lis1abm-calibration:{seed}:{number}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def completed(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The study's completed trials, in order."""
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


Evaluate = Callable[[list[np.ndarray], list[int]], list["float | str"]]
"""Candidates (d,) and their trial numbers -> each one's objective, or the error's text when
the candidate cannot be simulated."""


def evaluate_candidate(objective: Objective, x: np.ndarray) -> float | str:
    """The objective at ``x``, or the error's text (at most 500 characters) when its market
    cannot be built (ValueError, RuntimeError): a failed trial, not a failed task."""
    try:
        return objective(x)
    except (ValueError, RuntimeError) as error:
        return str(error)[:500]


def in_process(objective: Objective) -> Evaluate:
    """Candidates evaluated one after another in this process."""
    return lambda xs, numbers: [evaluate_candidate(objective, x) for x in xs]


def on_cluster(executor: Executor, objective: Objective, study: str) -> Evaluate:
    """Candidates evaluated in parallel by a cluster's workers, one task each (key: the
    study, the trial number and the code's digest); the objective is sent to the workers once.

    Raises (when called)
    ------
    TasksFailed : a task failed twice for another reason than its candidate.
    """

    def evaluate(xs: list[np.ndarray], numbers: list[int]) -> list[float | str]:
        code = code_digest()
        tasks = [
            Task(
                task_key("calibrate", study, f"trial{n:07d}", f"c{code}"),
                evaluate_candidate,
                "objective",
                (x,),
            )
            for x, n in zip(xs, numbers, strict=True)
        ]
        results: dict[str, float | str] = {}
        failures = executor.map(
            tasks, {"objective": objective}, lambda t, r: results.__setitem__(t.key, r)
        )
        if failures:
            raise TasksFailed(failures, len(tasks), "the study keeps the trials told so far")
        return [results[t.key] for t in tasks]

    return evaluate


def population_size(dimensions: int) -> int:
    """CMA-ES's population (candidates per generation) for ``dimensions`` free parameters:
    the default of the ``cmaes`` package Optuna's sampler drives, 4 + floor(3 ln d)."""
    return cmaes.CMA(mean=np.zeros(dimensions), sigma=1.0).population_size


def batch_size(study: optuna.Study, population: int) -> int:
    """How many trials can be asked at once and still be the ones asked one at a time: the
    rest of the current CMA-ES generation.

    Optuna's sampler starts a generation when the one before has ``population`` completed
    trials, and samples every trial of a generation from the same state with a seed of its
    own (:func:`trial_seed`), so the trials of a generation do not depend on each other's
    values. It reads that state from the latest *completed* trial that stored it: until one
    has (the first trial of generation 1 stores it), a trial draws its seed after setting up
    a new optimizer, one draw later. So: 1 before any trial is complete (the base point
    starts CMA-ES), and the first trial of generation 1 alone."""
    done = completed(study)
    if not done:
        return 1
    generations = [t.system_attrs.get(GENERATION) for t in done]
    generations = [g for g in generations if g is not None]
    if not generations:
        return population
    current = max(generations)
    finished = sum(g == current for g in generations)
    if finished < population:
        return population - finished
    stored = any(k.startswith(OPTIMIZER) for t in done for k in t.system_attrs)
    return population if stored else 1


def run_search(
    study: optuna.Study,
    objective: Objective,
    budget: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
    evaluate: Evaluate | None = None,
) -> None:
    """Run trials until the study holds ``budget`` completed ones.

    In this process (``evaluate`` None) one trial at a time; on a cluster (``evaluate`` from
    :func:`on_cluster`) a generation's trials at a time (:func:`batch_size`), asked, then
    evaluated in parallel, then told in order: the same trials either way.

    A trial left running by an interrupted run is evaluated now (its candidate was drawn and
    stored), so that the study goes on as if it had not been interrupted; one left without
    its candidate is marked failed. A candidate whose market cannot be built (ValueError,
    RuntimeError) is a failed trial; CMA-ES ignores it.
    """
    config = objective.config
    distributions = {
        n: FloatDistribution(lo, hi)
        for n, lo, hi in zip(config.names, config.lower, config.upper, strict=True)
    }
    parallel = evaluate is not None
    evaluate = evaluate or in_process(objective)
    batch = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if set(trial.params) == set(config.names):
            batch.append(trial)
        else:
            study.tell(trial.number, state=TrialState.FAIL)
    if not study.trials:
        study.enqueue_trial(dict(zip(config.names, config.base_point(), strict=True)))
    done = len(completed(study))
    population = population_size(len(config.names))
    failed_in_a_row = 0
    if progress is not None:
        progress(done)
    while True:
        xs = [np.array([t.params[n] for n in config.names]) for t in batch]
        values = evaluate(xs, [t.number for t in batch]) if batch else []
        for trial, value in zip(batch, values, strict=True):
            if isinstance(value, str):
                if isinstance(trial, optuna.trial.Trial):  # a resumed one is frozen
                    trial.set_user_attr("error", value)
                study.tell(trial.number, state=TrialState.FAIL)
                failed_in_a_row += 1
                if failed_in_a_row >= MAX_FAILED_IN_A_ROW:
                    raise UserError(
                        f"{failed_in_a_row} candidates in a row could not be simulated (last: "
                        f"{value}); narrow the bounds in {config.file}"
                    )
                continue
            failed_in_a_row = 0
            study.tell(trial.number, value)
            done += 1
            if progress is not None:
                progress(1)
        if done >= budget:
            return
        size = min(batch_size(study, population) if parallel else 1, budget - done)
        batch = []
        for _ in range(size):
            study.sampler = optuna.samplers.CmaEsSampler(
                seed=trial_seed(seed, len(study.trials)), warn_independent_sampling=False
            )
            batch.append(study.ask(distributions))


def trial_points(study: optuna.Study, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The completed trials' candidates, float64 (T, d) in ``names`` order, and values (T,)."""
    trials = completed(study)
    x = np.array([[t.params[n] for n in names] for t in trials], dtype=np.float64)
    y = np.array([t.value for t in trials], dtype=np.float64)
    return x.reshape(len(trials), len(names)), y
