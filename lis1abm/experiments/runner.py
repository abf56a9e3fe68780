"""Run an experiment's scenarios, write the results atomically, draw the figures.

Every scenario's market is built with the experiment's seed and runs replications
``0 .. reps - 1``: the random numbers are keyed by (seed, replication, purpose, ids), so two
scenarios share every draw they have in common (common random numbers) and their difference
is far less noisy than that of two independent runs.

A results folder ``<out>/<name>/`` holds ``replications.parquet`` (the tidy table),
``summary.csv`` (means and 5-95 % bands), the config's tables (``<table>.csv``) and
``meta.json`` (the config and its SHA-256, seed, version, git commit, backend, device, and per
scenario its overrides, settings and market digest), then the figures (``<figure>.png`` and
``.pdf``).
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lis1abm.atomic import as_new
from lis1abm.engine.backends import resolve_backend
from lis1abm.engine.layout import flatten
from lis1abm.errors import UserError
from lis1abm.experiments.config import ExperimentConfig
from lis1abm.experiments.overrides import resolve, settings
from lis1abm.experiments.tables import TABLES
from lis1abm.experiments.tidy import categorical, summarise, tidy_table
from lis1abm.market.ranking import build_market
from lis1abm.plots.experiments import FIGURES
from lis1abm.plots.theme import save
from lis1abm.results.provenance import describe, file_digest
from lis1abm.results.tally import Tally
from lis1abm.simulation.allocation import match_layout, run_allocation
from lis1abm.simulation.simulate import check_out, market_digest

TABLE, SUMMARY, META = "replications.parquet", "summary.csv", "meta.json"


@dataclass
class ExperimentResult:
    """An experiment's run: the tidy table (every replication of every scenario), its summary,
    the provenance (``meta``) and the config's ``tables`` (name -> table, every scenario)."""

    config: ExperimentConfig
    table: pd.DataFrame
    summary: pd.DataFrame
    meta: dict
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


def run_experiment(
    config: ExperimentConfig,
    *,
    reps: int | None = None,
    seed: int | None = None,
    backend: str | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> ExperimentResult:
    """Run every scenario of ``config`` (``reps``, ``seed``, ``backend``: the config's unless
    given); ``progress(scenario, k)`` is called as replications finish.

    Raises
    ------
    UserError : bad ``reps``, ``seed`` or ``backend``.
    """
    reps = config.replications if reps is None else reps
    seed = config.seed if seed is None else seed
    backend = config.backend if backend is None else backend
    if not 1 <= reps <= 2**32:
        raise UserError(f"--reps must be in [1, 2**32], got {reps}")
    if not 0 <= seed < 2**63:
        raise UserError(f"--seed must be an integer in [0, 2**63), got {seed}")
    engine_name, device = resolve_backend(backend, reps)
    tables, scenarios = [], []
    extra: dict[str, list[pd.DataFrame]] = {name: [] for name in config.tables}
    for scenario in config.scenarios:
        data, params = resolve(config, scenario)
        market = build_market(data, params, seed)
        tally = Tally(market)
        arrays = flatten(market, tally)
        step = None if progress is None else (lambda k, name=scenario.name: progress(name, k))
        run = run_allocation(
            scenario.allocation, engine_name, market, tally, arrays, reps, config.breakdowns, step
        )
        tables.append(
            tidy_table(
                scenario.name, tally, range(reps), run.values, config.breakdowns, run.meaningful
            )
        )
        if run.match is not None:
            tables.append(
                tidy_table(scenario.name, match_layout(), range(reps), run.match, config.breakdowns)
            )
        for name, parts in extra.items():
            parts.append(TABLES[name](tally, run.values).assign(scenario=scenario.name))
        scenarios.append(
            {
                "name": scenario.name,
                "series": scenario.series,
                "vary": scenario.vary,
                "value": scenario.value,
                "overrides": scenario.overrides(),
                "allocation": scenario.allocation,
                "settings": settings(data, params),
                "params_sha256": file_digest(params.file),
                "market_sha256": market_digest(arrays),
            }
        )
    names = [s["name"] for s in scenarios]
    table = categorical(pd.concat(tables, ignore_index=True), names)
    calendar = {s["name"]: s["settings"]["calendar_rounds"] for s in scenarios}
    meta = describe(
        experiment=config.name,
        description=config.description,
        config_file=config.file,
        config_sha256=config.sha256,
        config=config.text,
        round=config.round,
        seed=seed,
        replications=reps,
        backend=engine_name,
        backend_asked=backend,
        device=device,
        breakdowns=list(config.breakdowns),
        figures=list(config.figures),
        tables=list(config.tables),
        scenarios=scenarios,
    )
    extra_tables = {
        name: _scenario_first(pd.concat(parts, ignore_index=True)) for name, parts in extra.items()
    }
    return ExperimentResult(config, table, summarise(table, calendar), meta, extra_tables)


def _scenario_first(table: pd.DataFrame) -> pd.DataFrame:
    return table[["scenario", *(c for c in table.columns if c != "scenario")]]


def write_results(result: ExperimentResult, out: str | Path = "results") -> Path:
    """Write ``<out>/<name>/`` (the table, the summary, ``meta.json``): into a staging folder
    beside it first, renamed into place only when complete, so that a failure leaves the
    previous results (or nothing) and no half-written folder. Returns the folder."""
    out = check_out(out)
    out.mkdir(exist_ok=True)
    target = out / result.config.name
    staging = as_new(tempfile.mkdtemp(prefix=f".{target.name}.", dir=out))
    try:
        result.table.to_parquet(staging / TABLE, index=False)
        result.summary.to_csv(staging / SUMMARY, index=False, float_format="%.6g")
        (staging / META).write_text(json.dumps(result.meta, indent=2, default=str) + "\n")
        for name, extra in result.tables.items():
            extra.to_csv(staging / f"{name}.csv", index=False, float_format="%.6g")
        _swap_in(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _swap_in(staging: Path, target: Path) -> None:
    """Put ``staging`` in ``target``'s place; an earlier ``target`` is removed after."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
        os.replace(target, old / target.name)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


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


def draw_figures(folder: str | Path) -> list[Path]:
    """Draw the figures of a results folder from its saved results alone (the summary,
    ``meta.json`` and the config's tables), as PNG and PDF beside them. A figure function
    with a ``tables`` parameter gets the tables (name -> DataFrame). Returns the files
    written."""
    folder = Path(folder)
    summary, meta = load_results(folder)
    tables = {}
    for name in meta.get("tables", []):
        if not (folder / f"{name}.csv").is_file():
            raise UserError(f"{folder}: no {name}.csv (run `lis1abm experiment` first)")
        tables[name] = pd.read_csv(folder / f"{name}.csv")
    written = []
    for name in meta.get("figures", []):
        draw = FIGURES[name]
        extra = {"tables": tables} if "tables" in inspect.signature(draw).parameters else {}
        figure = draw(summary, meta["scenarios"], **extra)
        written += save(figure, folder / name)
    return written
