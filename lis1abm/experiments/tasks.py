"""An experiment split into tasks: each a block of one scenario's replications, run in this
process or on a Dask cluster (:mod:`lis1abm.distributed`), kept as one Parquet part.

A task's key names the experiment, the scenario (its place and name), the replication range,
a digest of everything that decides its values (the scenario's overrides, settings, parameter
file and market digests, the seed and the breakdowns kept) and a digest of the code
(:func:`~lis1abm.distributed.parts.code_digest`). Replication r's values depend on (seed, r)
only, so a block computed anywhere equals the same rows of a run in one piece, and the
summary reduced from the parts, block by block (every scenario's task for the same
replications together), is the one :func:`~lis1abm.experiments.runner.run_experiment` makes.

Parts go to ``<out>/<name>.parts/`` (beside the results folder, whose files the experiment
replaces one by one, :mod:`lis1abm.experiments.folder`). A run that was interrupted, started
again with the same settings, finds the parts there and runs only the missing tasks; the
parts (and nothing else in the folder) are removed once the results are written.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from lis1abm.distributed import Executor, PartStore, Task, TasksFailed, code_digest, task_key
from lis1abm.distributed.parts import LOG
from lis1abm.engine.backends import BACKENDS, resolve_backend
from lis1abm.errors import UserError
from lis1abm.experiments.config import ExperimentConfig
from lis1abm.experiments.runner import (
    ExperimentResult,
    ScenarioRun,
    assemble,
    check_run,
    prepare_scenario,
    reduce_blocks,
    run_batch,
)

TEXT = ("scenario", "breakdown", "group", "metric")
"""The tidy table's text columns."""
TASK_REPS = {"cpu": 1_000, "cuda": 262_144, "mesa": 64}
"""Replications per task by engine unless ``task_reps`` is given (see docs/cluster.md for the
overhead per task they keep small). The reduction holds one block (every scenario's task for
the same replications): at 1,000 on cpu, ``experiment capacity --reps 100000`` on 64
populations peaked at 1.20 GB, at 2,000 at 1.65 GB (docs/experiments.md, 2026-12-04)."""


def parts_folder(out: str | Path, name: str) -> Path:
    """``<out>/<name>.parts``: where an experiment's parts are kept until its results are."""
    return Path(out) / f"{name}.parts"


def clear_parts(folder: str | Path, name: str) -> None:
    """Remove experiment ``name``'s parts from ``folder`` (its task files, their temporary
    files and the log), then the folder if nothing else is left: the results hold every
    part's rows now, and a file this package did not write stays."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        ours = path.name.startswith((f"{name}--", f".{name}--")) and ".parquet" in path.name
        if path.is_file() and (ours or path.name == LOG):
            path.unlink()
    if not any(folder.iterdir()):
        folder.rmdir()


def values_digest(run: ScenarioRun) -> str:
    """SHA-256 (first 12 hex digits) of what decides a scenario's values: its overrides,
    settings, parameter file and market digests, the seed and the breakdowns kept."""
    setup = {"scenario": run.entry, "seed": run.seed, "breakdowns": list(run.breakdowns)}
    return hashlib.sha256(json.dumps(setup, sort_keys=True, default=str).encode()).hexdigest()[:12]


def scenario_tasks(config: ExperimentConfig, run: ScenarioRun, reps: int, task_reps: int):
    """A scenario's tasks, replications ``0 .. reps - 1`` in blocks of ``task_reps``."""
    digest, code = values_digest(run), code_digest()
    for first in range(0, reps, task_reps):
        n = min(task_reps, reps - first)
        key = task_key(
            config.name,
            f"s{run.index:03d}",
            run.name,
            f"r{first:010d}-{first + n - 1:010d}",
            f"p{digest}",
            f"c{code}",
        )
        yield Task(key, run_part, f"scenario-{run.index}", (first, n))


def run_part(run: ScenarioRun, first: int, n: int) -> pd.DataFrame:
    """A task: :func:`run_batch`'s rows with the text columns categorical, which a worker
    sends back about 4 times smaller and 20 times faster than text (a part of 4,000
    replications of the full breakdowns: 13 MB instead of 53 MB), and Parquet stores as
    dictionaries."""
    return run_batch(run, first, n).astype(dict.fromkeys(TEXT, "category"))


def engine_for(executor: Executor, backend: str, reps: int) -> tuple[str, str]:
    """The engine and device of a run: this process's (:func:`resolve_backend`), or on a
    cluster ``cuda`` when asked for or when ``auto`` and the workers have GPUs, else ``cpu``
    (the workers' devices are not probed from here).

    Raises
    ------
    UserError : the mesa engine on a cluster, or a backend that cannot run in this process.
    """
    if type(executor) is Executor:
        return resolve_backend(backend, reps)
    if backend == "mesa":
        raise UserError("--backend mesa: runs in this process only (--cluster none)")
    if backend not in BACKENDS:
        raise UserError(f"--backend: unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
    engine = "cuda" if backend == "cuda" or (backend == "auto" and executor.gpu) else "cpu"
    return engine, executor.description


def run_experiment_tasks(
    config: ExperimentConfig,
    executor: Executor,
    parts: str | Path,
    *,
    reps: int | None = None,
    seed: int | None = None,
    backend: str | None = None,
    task_reps: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    populations: int | None = None,
    table: str | Path | None = "memory",
    phase: Callable[[str], None] | None = None,
) -> ExperimentResult:
    """Run ``config`` as tasks on ``executor``, keeping each task's rows in ``parts`` and
    computing only the tasks whose part is missing; the result is reduced from the parts,
    block by block (the tasks of every scenario for the same replications together,
    :func:`~lis1abm.experiments.runner.reduce_blocks`), so that memory holds one block and
    the summary. ``progress(done, total)`` is called with the tasks done (first those found
    in ``parts``). ``table``: the tidy table held in memory (``"memory"``), streamed to that
    Parquet file, or not kept (None). ``phase(text)`` is called as each of the long steps
    around the tasks begins (building the markets, reducing the parts, assembling), which
    would otherwise pass in silence.

    Raises
    ------
    UserError : bad settings (see :func:`run_experiment`, ``populations`` too), or
        ``task_reps`` below 1.
    TasksFailed : tasks that failed twice (the others' parts are kept).
    """
    reps, seed, backend, populations = check_run(config, reps, seed, backend, populations)
    engine_name, device = engine_for(executor, backend, reps)
    task_reps = TASK_REPS[engine_name] if task_reps is None else task_reps
    if task_reps < 1:
        raise UserError(f"--task-reps must be at least 1, got {task_reps}")
    in_process = type(executor) is Executor
    phase = phase or (lambda text: None)
    phase(f"building {len(config.scenarios)} scenarios' markets on {populations} populations")
    runs = [
        prepare_scenario(config, k, seed, engine_name, populations)
        for k in range(len(config.scenarios))
    ]
    shared = {f"scenario-{r.index}": r if in_process else r.shipped() for r in runs}
    tasks = {r.index: list(scenario_tasks(config, r, reps, task_reps)) for r in runs}
    store = PartStore(parts)
    every = [t for ts in tasks.values() for t in ts]
    todo = [t for t in every if not store.has(t.key)]
    done = len(every) - len(todo)
    if progress is not None:
        progress(done, len(every))

    def step(k: int) -> None:
        nonlocal done
        done += k
        if progress is not None:
            progress(done, len(every))

    phase("tasks")
    failures = executor.map(todo, shared, lambda t, table: store.write(t.key, table), step)
    if failures:
        raise TasksFailed(
            failures,
            len(every),
            f"the other parts are kept in {store.folder}/: run the same command again to "
            "retry the failed tasks",
        )
    # The markets are no longer needed: free them before the reduction, which holds a block,
    # and hand the memory back (64 draws a scenario are many small arrays, which the C
    # allocator would otherwise keep for this process).
    shared.clear()
    runs = [r.played() for r in runs]
    release_freed_memory()
    # Every scenario is cut at the same replications, so the k-th tasks form a block.
    blocks = (
        [_plain(store.read(tasks[r.index][k].key)) for r in runs]
        for k in range(len(tasks[runs[0].index]))
    )
    phase("reducing the tasks' parts to the summary")
    reduced = reduce_blocks(config, runs, blocks, table=table)
    phase("assembling the results")
    execution = {
        "cluster": executor.description,
        "tasks": len(every),
        "task_replications": task_reps,
        "tasks_found_done": len(every) - len(todo),
        "code_sha256": code_digest(),
    }
    return assemble(
        config, reduced, runs, reps, seed, engine_name, backend, device, execution=execution
    )


def release_freed_memory() -> None:
    """Return the C heap's free memory to the system (glibc's ``malloc_trim``); nothing where
    the C library has no such call."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _plain(part: pd.DataFrame) -> pd.DataFrame:
    """A part as :func:`~lis1abm.experiments.tidy.tidy_table` made it: text columns object."""
    return part.astype(dict.fromkeys(TEXT, object))
