"""The search: CMA-ES through Optuna, one trial at a time, in a study that survives interruption.

The study lives in a journal file (``study.journal`` in the output folder, Optuna's
``JournalStorage`` with a ``JournalFileBackend``): every trial is appended as it starts and
ends, so a killed run loses at most the trial under way, and ``--resume`` continues to the
budget. The study's name is a digest of everything that defines the search (the calibration
config's and base parameter file's bytes, the round file's bytes, seed, replications, package
version and git commit), so that a changed setup cannot continue a stale study.

Determinism: trials run one after another (the objective is deterministic), the first trial is
the base parameters (clipped into the bounds), and every trial gets a new ``CmaEsSampler``
seeded with (seed, trial number). Optuna's sampler keeps the CMA-ES state in the study (each
generation's optimizer is stored with its trials) but draws the per-trial seed from a random
state that advances in memory; a sampler made afresh per trial makes each trial a function of
the study's stored trials and its number only, so a search resumed after an interruption asks
for exactly the candidates an uninterrupted one would.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import optuna
from optuna.distributions import FloatDistribution
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from lis1abm import __version__
from lis1abm.calibration.config import CalibrationConfig
from lis1abm.calibration.objective import Objective
from lis1abm.errors import UserError
from lis1abm.results.provenance import file_digest, git_commit

JOURNAL = "study.journal"
"""The study's file in the output folder."""
MAX_FAILED_IN_A_ROW = 20
"""Candidates that cannot be simulated, one after another, before the search gives up."""


def study_name(config: CalibrationConfig, round_file: str | Path, seed: int, reps: int) -> str:
    """``lis1abm-<digest>``: SHA-256 (first 16 hex digits) of the calibration config, the base
    parameter file, the round file, the seed, the replications and the code version."""
    setup = {
        "config": file_digest(config.file),
        "params": file_digest(config.base_file),
        "round": file_digest(round_file),
        "seed": seed,
        "replications": reps,
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


def run_search(
    study: optuna.Study,
    objective: Objective,
    budget: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Run trials until the study holds ``budget`` completed ones.

    A trial left running by an interrupted run is marked failed (its value was never
    recorded). A candidate whose market cannot be built (ValueError, RuntimeError) is a failed
    trial; CMA-ES ignores it.
    """
    config = objective.config
    distributions = {
        n: FloatDistribution(lo, hi)
        for n, lo, hi in zip(config.names, config.lower, config.upper, strict=True)
    }
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(trial.number, state=TrialState.FAIL)
    if not study.trials:
        study.enqueue_trial(dict(zip(config.names, config.base_point(), strict=True)))
    done = len(completed(study))
    failed_in_a_row = 0
    if progress is not None:
        progress(done)
    while done < budget:
        study.sampler = optuna.samplers.CmaEsSampler(
            seed=trial_seed(seed, len(study.trials)), warn_independent_sampling=False
        )
        trial = study.ask(distributions)
        x = np.array([trial.params[n] for n in config.names])
        try:
            value = objective(x)
        except (ValueError, RuntimeError) as error:
            trial.set_user_attr("error", str(error)[:500])
            study.tell(trial, state=TrialState.FAIL)
            failed_in_a_row += 1
            if failed_in_a_row >= MAX_FAILED_IN_A_ROW:
                raise UserError(
                    f"{failed_in_a_row} candidates in a row could not be simulated (last: "
                    f"{error}); narrow the bounds in {config.file}"
                ) from None
            continue
        failed_in_a_row = 0
        study.tell(trial, value)
        done += 1
        if progress is not None:
            progress(1)


def trial_points(study: optuna.Study, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The completed trials' candidates, float64 (T, d) in ``names`` order, and values (T,)."""
    trials = completed(study)
    x = np.array([[t.params[n] for n in names] for t in trials], dtype=np.float64)
    y = np.array([t.value for t in trials], dtype=np.float64)
    return x.reshape(len(trials), len(names)), y
