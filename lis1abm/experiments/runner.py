"""Run an experiment's scenarios, write the results atomically, draw the figures.

Every scenario's markets are built with the experiment's seed, one per population draw of
the ensemble (:mod:`lis1abm.simulation.ensemble`: K draws, replication r on draw r % K), and
run replications ``0 .. reps - 1``: the random numbers are keyed by (seed, replication,
purpose, ids) and the populations by (seed, draw), so two scenarios share every draw they have
in common, populations included (common random numbers), and their difference is far less
noisy than that of two independent runs.

A results folder ``<out>/<name>/`` holds ``replications.parquet`` (the tidy table, with each
replication's ``population`` draw), ``summary.csv`` (means and 5-95 % bands, and each
scenario's paired effect against the baseline: :mod:`lis1abm.experiments.reduction`) and
``meta.json`` (the config and its SHA-256, seed, populations and how replications map to
them, version, git commit, backend, device, and per scenario its overrides, settings and
market digests), then the figures (``<figure>.png`` and ``.pdf``).
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lis1abm.atomic import as_new
from lis1abm.engine.backends import resolve_backend
from lis1abm.engine.layout import EngineArrays
from lis1abm.errors import UserError
from lis1abm.experiments.config import ExperimentConfig, check_parameter_draws, load_experiment
from lis1abm.experiments.folder import META, SUMMARY, TABLE, check_folder, put_in_place
from lis1abm.experiments.overrides import resolve, settings
from lis1abm.experiments.reduction import Reduction, ReplicationsWriter
from lis1abm.experiments.tables import TABLES
from lis1abm.experiments.tidy import categorical, tidy_table
from lis1abm.market.ranking import Market
from lis1abm.outcomes.tally import Tally
from lis1abm.plots.experiments import FIGURES
from lis1abm.plots.scenarios import generic_figures
from lis1abm.plots.theme import save
from lis1abm.report.provenance import describe, file_digest
from lis1abm.rng import population_of
from lis1abm.simulation.allocation import match_layout, run_allocation
from lis1abm.simulation.ensemble import POPULATION_RULE, check_populations, prepare_ensemble
from lis1abm.simulation.prepare import check_reps, check_seed, market_digest
from lis1abm.simulation.sink import check_out
from lis1abm.simulation.uncertainty import load_draws


@dataclass
class ExperimentResult:
    """An experiment's run: the tidy table (every replication of every scenario), its summary
    and the provenance (``meta``).

    ``table`` is None where the table was streamed to ``table_file`` (a run too large to hold
    it) or not kept (``meta["replications_table"]`` false: summaries only)."""

    config: ExperimentConfig
    table: pd.DataFrame | None
    summary: pd.DataFrame
    meta: dict
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    table_file: Path | None = None


@dataclass
class ScenarioRun:
    """A scenario's markets, one per population draw, built once and flattened: everything a
    batch of its replications needs, and what a worker of a cluster receives (without the
    market objects, see :meth:`shipped`).

    Attributes
    ----------
    index, name : the scenario's place in the config and its name.
    engine : ``cpu``, ``cuda`` or ``mesa``; ``seed`` the root seed.
    arrays : each draw's flattened market (P draws; replication r plays on draw r % P).
    rows : each draw's parameter rows int64 (1, 3 + R) (the same for every draw unless the
        experiment has parameter uncertainty).
    tallies : each draw's values' recipe; one layout (K values per replication).
    allocation : ``cascade`` or ``deferred_acceptance``
        (:mod:`lis1abm.simulation.allocation`).
    breakdowns : the breakdowns a batch keeps: the config's, and every breakdown of the tally
        where the config asks for ``tables`` (computed from whole replications, in
        :func:`assemble`, which keeps only the config's in the table).
    market_sha256 : :func:`market_digest` of each draw's ``arrays``, checked before every
        batch.
    entry : the scenario's record in ``meta.json`` (overrides, settings, digests).
    markets : each draw's market object in this process (the mesa engine needs them; the
        other engines keep only draw 0's), or None (shipped to a worker).
    """

    index: int
    name: str
    engine: str
    seed: int
    arrays: tuple[EngineArrays, ...]
    rows: tuple[np.ndarray, ...]
    tallies: tuple[Tally, ...]
    allocation: str
    breakdowns: tuple[str, ...]
    market_sha256: tuple[str, ...]
    entry: dict
    markets: tuple[Market | None, ...] | None = None

    @property
    def tally(self) -> Tally:
        """Draw 0's tally: the layout of every draw's values."""
        return self.tallies[0]

    @property
    def populations(self) -> int:
        """P, the population draws (one market digest each)."""
        return len(self.market_sha256)

    def shipped(self) -> ScenarioRun:
        """The run without the market objects (the tallies' references to them dropped too):
        the arrays, rows and tally recipes are all a batch on the fast engines reads."""
        tallies = tuple(_without_market(t) for t in self.tallies)
        return dataclasses.replace(self, tallies=tallies, markets=None)

    def played(self) -> ScenarioRun:
        """The run once its replications are done: the flattened markets and the parameter
        rows dropped (about 53 MB a scenario on 64 populations), what the reduction and the
        results read kept (the tallies, the entry, draw 0's market)."""
        return dataclasses.replace(self, arrays=(), rows=())


def with_parameter_uncertainty(config: ExperimentConfig) -> ExperimentConfig:
    """The config with parameter uncertainty on, checked: the covariance file beside every
    scenario's parameter file can be read.

    Raises
    ------
    UserError : a scenario's parameter file has no (readable) covariance file.
    """
    check_parameter_draws(config.inputs)
    return dataclasses.replace(config, parameter_uncertainty=True)


def prepare_scenario(
    config: ExperimentConfig, index: int, seed: int, engine_name: str, populations: int = 1
) -> ScenarioRun:
    """Build and flatten scenario ``index`` of ``config`` with ``seed``, on ``populations``
    population draws (checked already: :func:`check_run`)."""
    scenario = config.scenarios[index]
    data, params = config.inputs[index] if config.inputs else resolve(config, scenario)
    draws = load_draws(params.file) if config.parameter_uncertainty else None
    # With parameter uncertainty, the scenario's own parameter values win over the draw's.
    overrides = dict(scenario.params) if draws is not None else None
    ensemble = prepare_ensemble(data, params, overrides, seed, populations, draws)
    run = ensemble.first
    tally, digests = run.tally, tuple(r.market_sha256 for r in ensemble.draws)
    entry = {
        "name": scenario.name,
        "series": scenario.series,
        "vary": scenario.vary,
        "value": scenario.value,
        "overrides": scenario.overrides(),
        "allocation": scenario.allocation,
        "settings": settings(data, params),
        "params_sha256": file_digest(params.file),
        "market_sha256": digests[0],
        "populations": populations,
        "population_seeds": ensemble.meta()["population_seeds"],
        "population_market_sha256": list(digests),
        "parameter_sets": ensemble.meta()["parameter_sets"],
    }
    kept = tuple(config.breakdowns)
    if config.tables:
        kept = tuple(dict.fromkeys([*kept, *tally.layout["breakdown"]]))
    tallies = tuple(r.tally for r in ensemble.draws)
    markets = tuple(r.market for r in ensemble.draws)
    if engine_name != "mesa":
        # Only Mesa plays on a market object; draw 0's is kept for the report's figures. The
        # others' populations would cost about a quarter more memory per scenario.
        tallies = (tallies[0], *(_without_market(t) for t in tallies[1:]))
        markets = (markets[0], *(None for _ in markets[1:]))
    return ScenarioRun(
        index,
        scenario.name,
        engine_name,
        seed,
        tuple(r.arrays for r in ensemble.draws),
        tuple(r.rows for r in ensemble.draws),
        tallies,
        scenario.allocation,
        kept,
        digests,
        entry,
        markets,
    )


def _without_market(tally: Tally) -> Tally:
    """A copy of ``tally`` without its market: its layout and recipe are all the fast engines
    read."""
    copied = copy.copy(tally)
    copied.market = None
    return copied


def run_batch(
    run: ScenarioRun, first: int, n: int, progress: Callable[[int], None] | None = None
) -> pd.DataFrame:
    """Replications ``first .. first + n - 1`` of a scenario as its rows of the tidy table:
    the one place an experiment runs replications, in this process or on a worker. Each
    draw's engine call plays the block's replications on that draw (r % P == d); the rows come
    back in replication order.

    Raises
    ------
    RuntimeError : the arrays do not match the digest made where the market was built (a
        market changed on its way to a worker).
    """
    replications = np.arange(first, first + n, dtype=np.int64)
    draw = population_of(replications, run.populations)
    values = np.zeros((n, len(run.tally.layout)), dtype=np.int64)
    match = None
    for d in range(run.populations):
        mine = draw == d
        if not mine.any():
            continue
        if market_digest(run.arrays[d]) != run.market_sha256[d]:
            raise RuntimeError(
                f"scenario {run.name!r}: population {d}'s arrays do not match its digest"
            )
        done = run_allocation(
            run.allocation,
            run.engine,
            run.arrays[d],
            run.seed,
            run.rows[d],
            run.tallies[d],
            first,
            int(mine.sum()),
            run.breakdowns,
            progress,
            market=None if run.markets is None else run.markets[d],
            ids=replications[mine],
        )
        values[mine] = done.values
        meaningful = done.meaningful  # the allocation's, the same on every draw
        if done.match is not None:
            if match is None:
                match = np.zeros((n, done.match.shape[1]), dtype=np.int64)
            match[mine] = done.match
    table = tidy_table(run.name, run.tally, replications, values, run.breakdowns, meaningful)
    # Each row's population draw, as in simulate's replications.parquet.
    table.insert(
        table.columns.get_loc("replication") + 1,
        "population",
        population_of(table["replication"].to_numpy(), run.populations),
    )
    if match is None:
        return table
    match = tidy_table(run.name, match_layout(), replications, match, run.breakdowns)
    # Replication by replication (its tally rows, then its match rows), so that blocks
    # assembled in order give the rows of one batch.
    both = pd.concat([table, match], ignore_index=True)
    return both.sort_values("replication", kind="stable", ignore_index=True)


def check_run(
    config: ExperimentConfig,
    reps: int | None,
    seed: int | None,
    backend: str | None,
    populations: int | None = None,
):
    """``reps``, ``seed``, ``backend`` and ``populations``, the config's where None (the
    default populations where the config has none,
    :func:`~lis1abm.simulation.ensemble.check_populations`).

    Raises
    ------
    UserError : bad ``reps``, ``seed`` or ``populations``.
    """
    reps = check_reps(config.replications if reps is None else reps)
    seed = config.seed if seed is None else seed
    backend = config.backend if backend is None else backend
    flag = "--populations" if populations is not None else f"{config.file}: populations"
    populations = config.populations if populations is None else populations
    return reps, check_seed(seed), backend, check_populations(populations, reps, flag)


def run_experiment(
    config: ExperimentConfig | str | Path,
    *,
    reps: int | None = None,
    seed: int | None = None,
    backend: str | None = None,
    progress: Callable[[str, int], None] | None = None,
    populations: int | None = None,
) -> ExperimentResult:
    """Run every scenario of ``config`` (a loaded config, a built-in experiment's name or an
    experiment file's path; ``reps``, ``seed``, ``backend``, ``populations``: the config's
    unless given); ``progress(scenario, k)`` is called as replications finish. Every scenario
    plays on the same population draws (the same seed and number). The table is held in
    memory (``lis1abm experiment`` streams it instead:
    :func:`lis1abm.experiments.tasks.run_experiment_tasks`).

    Raises
    ------
    UserError : a bad config file, ``reps``, ``seed``, ``backend`` or ``populations``.
    """
    if not isinstance(config, ExperimentConfig):
        config = load_experiment(config)
    reps, seed, backend, populations = check_run(config, reps, seed, backend, populations)
    engine_name, device = resolve_backend(backend, reps)
    tables, runs = [], []
    for index, scenario in enumerate(config.scenarios):
        run = prepare_scenario(config, index, seed, engine_name, populations)
        step = None if progress is None else (lambda k, name=scenario.name: progress(name, k))
        tables.append(run_batch(run, 0, reps, step))
        runs.append(run)
    reduced = reduce_blocks(config, runs, [tables])
    return assemble(config, reduced, runs, reps, seed, engine_name, backend, device)


@dataclass
class Reduced:
    """What :func:`reduce_blocks` makes of the blocks: the summary, the table (in memory, in
    a file or neither) and the config's tables."""

    summary: pd.DataFrame
    table: pd.DataFrame | None
    table_file: Path | None
    tables: dict[str, pd.DataFrame]


def reduce_blocks(
    config: ExperimentConfig,
    runs: list[ScenarioRun],
    blocks: Iterable[list[pd.DataFrame]],
    *,
    table: str | Path | None = "memory",
) -> Reduced:
    """Reduce ``blocks`` (each the tidy rows of the same replications of every scenario, in
    run order; the blocks in replication order) to the summary with its paired effects
    (:class:`~lis1abm.experiments.reduction.Reduction`) and the table: held in memory
    (``"memory"``), streamed to the Parquet file ``table`` (a path), or dropped (None). The
    config's ``tables`` need every replication's values at once (memory grows with the
    replications: they are for runs that fit); the table keeps the config's breakdowns."""
    names = [r.name for r in runs]
    reduction = Reduction({r.name: r.entry["settings"] for r in runs}, config.baseline)
    values: list[list[np.ndarray]] = [[] for _ in runs]
    held: list[list[pd.DataFrame]] = [[] for _ in runs]
    writer = ReplicationsWriter(table, names) if table not in (None, "memory") else None
    kept = list(config.breakdowns)
    for block in blocks:
        if config.tables:
            for k, (r, t) in enumerate(zip(runs, block, strict=True)):
                values[k].append(values_matrix(r.tally, t))
            block = [t[t["breakdown"].isin(kept)] for t in block]
        reduction.add(block)
        if writer is not None:
            writer.write(pd.concat(block, ignore_index=True))
        elif table == "memory":
            for k, t in enumerate(block):
                held[k].append(t)
    extra_tables = {}
    for name in config.tables:
        parts = [
            TABLES[name](r.tally, np.concatenate(v)).assign(scenario=r.name)
            for r, v in zip(runs, values, strict=True)
        ]
        extra_tables[name] = _scenario_first(pd.concat(parts, ignore_index=True))
    whole = None
    if table == "memory":
        whole = categorical(pd.concat([t for h in held for t in h], ignore_index=True), names)
    return Reduced(
        reduction.summary(), whole, None if writer is None else writer.close(), extra_tables
    )


def assemble(
    config: ExperimentConfig,
    reduced: Reduced,
    runs: list[ScenarioRun],
    reps: int,
    seed: int,
    engine_name: str,
    backend: str,
    device: str,
    **extra,
) -> ExperimentResult:
    """The result from the reduced blocks, the scenarios' runs (``meta.json`` entries) and the
    run's settings; ``extra`` goes into ``meta``."""
    meta = describe(
        experiment=config.name,
        description=config.description,
        config_file=config.file,
        config_sha256=config.sha256,
        config=config.text,
        round=config.round,
        seed=seed,
        replications=reps,
        populations=runs[0].populations,
        parameter_uncertainty=config.parameter_uncertainty,
        population_of_replication=POPULATION_RULE,
        replications_table=reduced.table is not None or reduced.table_file is not None,
        backend=engine_name,
        backend_asked=backend,
        device=device,
        breakdowns=list(config.breakdowns),
        baseline=config.baseline,
        figures=list(config.figures),
        tables=list(config.tables),
        scenarios=[r.entry for r in runs],
        **extra,
    )
    meta["figure_files"] = figure_names(meta)
    return ExperimentResult(
        config, reduced.table, reduced.summary, meta, reduced.tables, reduced.table_file
    )


def values_matrix(tally: Tally, table: pd.DataFrame) -> np.ndarray:
    """A scenario's tidy rows back as the tally's values int64 (R, K), replications in
    ascending order; a value the rows lack (a breakdown not kept, a row the allocation does not
    define) is 0."""
    layout = pd.MultiIndex.from_frame(tally.layout[["breakdown", "group", "metric"]])
    keys = pd.MultiIndex.from_frame(table[["breakdown", "group", "metric"]].astype(str))
    column = layout.get_indexer(keys)
    replications, row = np.unique(table["replication"].to_numpy(), return_inverse=True)
    values = np.zeros((len(replications), len(layout)), dtype=np.int64)
    known = column >= 0
    values[row[known], column[known]] = table["value"].to_numpy()[known]
    return values


def _scenario_first(table: pd.DataFrame) -> pd.DataFrame:
    return table[["scenario", *(c for c in table.columns if c != "scenario")]]


def write_results(
    result: ExperimentResult, out: str | Path = "results", *, overwrite: bool = False
) -> Path:
    """Write ``<out>/<name>/`` (the table, the summary, ``meta.json``): into a staging folder
    beside it first, whose files are moved into place only when all are written, so that a
    failure leaves the previous results (or nothing) and no half-written file. A user's own
    files in the folder stay; results of another configuration are refused unless
    ``overwrite`` (:func:`lis1abm.experiments.folder.check_folder`). Returns the folder.

    Raises
    ------
    UserError : the folder holds results of another configuration and not ``overwrite``.
    """
    out = check_out(out)
    target = out / result.config.name
    check_folder(target, result.meta, overwrite)
    out.mkdir(exist_ok=True)
    staging = as_new(tempfile.mkdtemp(prefix=f".{target.name}.", dir=out))
    try:
        if result.table is not None:
            writer = ReplicationsWriter(
                staging / TABLE, list(result.table["scenario"].cat.categories)
            )
            writer.write(result.table)
            writer.close()
        elif result.table_file is not None:
            os.replace(result.table_file, staging / TABLE)
        result.summary.to_csv(staging / SUMMARY, index=False, float_format="%.6g")
        (staging / META).write_text(json.dumps(result.meta, indent=2, default=str) + "\n")
        for name, extra in result.tables.items():
            extra.to_csv(staging / f"{name}.csv", index=False, float_format="%.6g")
        put_in_place(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def load_results(folder: str | Path) -> tuple[pd.DataFrame, dict]:
    """The summary and ``meta.json`` of a results folder.

    Raises
    ------
    UserError : the folder lacks them.
    """
    folder = Path(folder)
    for name in (SUMMARY, META):
        if not (folder / name).is_file():
            raise UserError(f"{folder}: no {name} (run `lis1abm experiment` first)")
    return pd.read_csv(folder / SUMMARY, keep_default_na=True), json.loads(
        (folder / META).read_text()
    )


def figure_names(meta: dict) -> list[str]:
    """The figures of a results folder: the config's ``figures``, then those every
    experiment gets (:func:`lis1abm.plots.scenarios.generic_figures`)."""
    return list(dict.fromkeys([*meta.get("figures", []), *generic_figures(meta)]))


def draw_figures(folder: str | Path, phase: Callable[[str], None] | None = None) -> list[Path]:
    """Draw the figures of a results folder (:func:`figure_names`) from its saved results
    alone (the summary, ``meta.json`` and the config's tables), as PNG and PDF beside them. A
    figure function with a ``tables`` parameter gets the tables (name -> DataFrame). Returns
    the files written. ``phase(text)`` is called as each figure begins ("drawing the figures
    (3 of 12: effects)"): about half a second each, several seconds in all, which would
    otherwise pass in silence."""
    folder = Path(folder)
    summary, meta = load_results(folder)
    tables = {}
    for name in meta.get("tables", []):
        if not (folder / f"{name}.csv").is_file():
            raise UserError(f"{folder}: no {name}.csv (run `lis1abm experiment` first)")
        tables[name] = pd.read_csv(folder / f"{name}.csv")
    drawers = {**generic_figures(meta), **FIGURES}
    names = figure_names(meta)
    written = []
    for k, name in enumerate(names, start=1):
        if phase is not None:
            phase(f"drawing the figures ({k} of {len(names)}: {name})")
        draw = drawers[name]
        extra = {"tables": tables} if "tables" in inspect.signature(draw).parameters else {}
        figure = draw(summary, meta["scenarios"], **extra)
        written += save(figure, folder / name)
    return written
