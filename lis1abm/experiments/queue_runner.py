"""Run a queue experiment: every scenario's chains of rounds, the tables per round and per
cohort, written all or nothing, then the figures.

Every scenario plays chains ``0 .. chains - 1`` of the experiment's seed: chain c starts from
the base round's replication c on population draw c in every scenario, and its new applicants
are drawn from the same population draws, so two scenarios differ by their positions and
inflow, not by their draws (common random numbers), and their paired difference chain by
chain is far less noisy than that of two independent runs.

A results folder ``<out>/<name>/`` holds

* ``replications.parquet``: one row per scenario, chain, round and group ("all" and each
  education group) with the counts of :data:`lis1abm.queue.sequence.ROUND_COUNTS` and the pool
  ``waiting`` after the round (the not hired who apply again in the next round);
* ``summary.csv``: per scenario, round, group and measure, the mean over chains, its 5-95 %
  band and the paired difference against the baseline (mean and band);
* ``cohorts.csv``: per scenario, year of entry and education group, among the applicants who
  first applied in a round of that year: rounds to a position (median and 90th percentile
  among those hired), and the shares hired, leaving without a position and still waiting at
  the horizon (means and bands over chains);
* ``graduation_cohorts.csv``: the same by year of graduation (those graduating 2025-2030 who
  applied after the base round);
* ``meta.json``: the config and its SHA-256, the seed, chains, engine, each scenario's
  settings (the positions found for the constant pool among them), version and git commit;
* the figures (``lis1abm.plots.queue``).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from lis1abm.atomic import as_new
from lis1abm.distributed.executor import Executor, Task, TasksFailed
from lis1abm.experiments.folder import META, SUMMARY, TABLE, check_folder, put_in_place
from lis1abm.experiments.queue_config import CONSTANT_POOL, QueueExperiment
from lis1abm.plots.queue import QUEUE_FIGURES
from lis1abm.plots.theme import save
from lis1abm.queue.sequence import ChainResult, Sequence, play_chain
from lis1abm.queue.settings import QueueSettings
from lis1abm.report.provenance import describe
from lis1abm.simulation.sink import check_out

COHORTS = "cohorts"
GRADUATES = "graduation_cohorts"
MEASURES = ("applicants", "new", "returning", "hired", "leaving", "waiting")


def chain_task(sequence: Sequence, seed: int, chain: int, engine_name: str) -> ChainResult:
    """One chain of one scenario (a task of the distributed layer)."""
    return play_chain(sequence, seed, chain, engine_name)


def play_scenarios(
    sequences: dict[str, Sequence],
    seed: int,
    chains: int,
    engine_name: str,
    executor: Executor,
    progress: Callable[[int], None] | None = None,
) -> dict[str, list[ChainResult]]:
    """Chains 0 .. ``chains`` - 1 of every scenario, as tasks on ``executor``."""
    tasks = [
        Task(f"queue-{name}-{c}", chain_task, name, (seed, c, engine_name))
        for name in sequences
        for c in range(chains)
    ]
    results: dict[str, list] = {name: [None] * chains for name in sequences}

    def done(task: Task, result: ChainResult) -> None:
        results[task.payload][task.args[1]] = result

    failures = executor.map(tasks, sequences, done, progress)
    if failures:
        raise TasksFailed(failures, len(tasks))
    return results


def pool_change(results: list[ChainResult], last_rounds: int) -> float:
    """Mean pool waiting over the last ``last_rounds`` rounds minus the pool after the base
    round (mean over chains): > 0 the queue grows."""
    rounds = pd.concat([with_waiting(r.rounds) for r in results])
    waiting = rounds[rounds["group"] == "all"].groupby("round")["waiting"].mean()
    return float(waiting.iloc[-last_rounds:].mean() - waiting.iloc[0])


def constant_pool_positions(
    config: QueueExperiment, settings: QueueSettings, executor: Executor, seed: int
) -> tuple[int, list[dict]]:
    """The positions per round that keep the pool waiting about constant: bisection on
    ``constant_pool`` (low, high, steps) with its chains (common random numbers, so that the
    pool's change falls as positions rise but for chance). Returns the positions and the
    search's steps."""
    search = config.constant_pool
    low, high = search.low, search.high
    steps = []
    for _ in range(search.steps):
        mid = (low + high) // 2
        sequence = Sequence.of(settings.model_copy(update={"positions": mid}), params=config.params)
        name = f"search-{mid}"  # a task key of its own at each step (Dask keys must differ)
        results = play_scenarios({name: sequence}, seed, search.chains, config.engine, executor)
        change = pool_change(results[name], search.last_rounds)
        steps.append({"positions": mid, "pool_change": change})
        low, high = (mid, high) if change > 0 else (low, mid)
    return (low + high) // 2, steps


def with_waiting(rounds: pd.DataFrame) -> pd.DataFrame:
    """The round table with ``waiting``: the not hired who apply again in the next round."""
    return rounds.assign(waiting=rounds["not_hired"] - rounds["leaving"])


def round_table(results: dict[str, list[ChainResult]]) -> pd.DataFrame:
    """Every scenario's and chain's rounds, one table."""
    parts = [
        with_waiting(r.rounds).assign(scenario=name, chain=c)
        for name, chains in results.items()
        for c, r in enumerate(chains)
    ]
    table = pd.concat(parts, ignore_index=True)
    first = ["scenario", "chain", "round", "label", "season", "positions", "group"]
    return table[first + [c for c in table.columns if c not in first]]


def summarise(table: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Per scenario, round, group and measure: mean over chains and 5-95 % band, and the
    paired difference against ``baseline`` chain by chain."""
    keys = ["scenario", "round", "label", "group"]
    long = table.melt(id_vars=[*keys, "chain"], value_vars=list(MEASURES), var_name="measure")
    base = long[long["scenario"] == baseline].drop(columns=["scenario", "label"])
    merged = long.merge(base, on=["round", "group", "chain", "measure"], suffixes=("", "_base"))
    merged["difference"] = merged["value"] - merged["value_base"]
    by = [*keys, "measure"]
    grouped = merged.groupby(by, sort=False)
    out = grouped["value"].agg(mean="mean", p05=_q05, p95=_q95)
    diff = grouped["difference"].agg(difference="mean", difference_p05=_q05, difference_p95=_q95)
    return out.join(diff).reset_index()


def cohort_table(
    results: dict[str, list[ChainResult]],
    labels: dict[int, str],
    years: tuple[int, int],
    by: str = "entry",
) -> pd.DataFrame:
    """Per scenario, year and education group (and "all"), among those who first applied in
    a round after the base round and entered (``by="entry"``) or graduated
    (``by="graduation"``) in the year: rounds to a position (median and 90th percentile among
    the hired), the shares hired, leaving without a position and waiting at the horizon;
    means and 5-95 % bands over chains."""
    rows = []
    for name, chains in results.items():
        for c, result in enumerate(chains):
            people = result.people
            if by == "entry":
                year = people["entered"].map(lambda t: int(labels[t][-4:]))
            else:
                year = people["graduated"]
            mine = people[(people["entered"] > 0) & year.between(*years)]
            mine = mine.assign(year=year[mine.index])
            both = pd.concat([mine, mine.assign(education_group="all")])
            for (y, group), who in both.groupby(["year", "education_group"]):
                hired = who[who["outcome"] == "hired"]
                waited = hired["ended"] - hired["entered"] + 1
                rows.append(
                    {
                        "scenario": name,
                        "chain": c,
                        "year": y,
                        "group": group,
                        "entrants": len(who),
                        "rounds_median": waited.median() if len(hired) else np.nan,
                        "rounds_p90": waited.quantile(0.9) if len(hired) else np.nan,
                        "share_hired": len(hired) / len(who),
                        "share_left": float((who["outcome"] == "left").mean()),
                        "share_waiting": float((who["outcome"] == "waiting").mean()),
                    }
                )
    per_chain = pd.DataFrame(rows)
    measures = ["entrants", "rounds_median", "rounds_p90", "share_hired", "share_left",
                "share_waiting"]  # fmt: skip
    long = per_chain.melt(["scenario", "chain", "year", "group"], measures, var_name="measure")
    grouped = long.groupby(["scenario", "year", "group", "measure"], sort=False)["value"]
    return grouped.agg(mean="mean", p05=_q05, p95=_q95).reset_index()


def _q05(x: pd.Series) -> float:
    return float(x.quantile(0.05))


def _q95(x: pd.Series) -> float:
    return float(x.quantile(0.95))


def run_queue_experiment(
    config: QueueExperiment,
    executor: Executor,
    out: str | Path = "results",
    *,
    chains: int | None = None,
    seed: int | None = None,
    overwrite: bool = False,
    phase: Callable[[str], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Run every scenario, write ``<out>/<name>/`` and draw the figures; returns the folder.

    Raises
    ------
    UserError : the folder holds results of another configuration and not ``overwrite``.
    """
    out = check_out(out)
    chains = config.chains if chains is None else chains
    seed = config.seed if seed is None else seed
    target = out / config.name
    identity = {
        "experiment": config.name,
        "config_sha256": config.sha256,
        "seed": seed,
        "replications": chains,
        "populations": chains,
        "parameter_uncertainty": False,
        "replications_table": True,
    }
    check_folder(target, identity, overwrite)
    say = phase or (lambda text: None)
    settings: dict[str, QueueSettings] = {}
    search: list[dict] = []
    for scenario in config.scenarios:
        if scenario.positions == CONSTANT_POOL:
            say(f"finding the positions that keep the pool constant ({scenario.name})")
            base = scenario.settings(config.settings)
            found, search = constant_pool_positions(config, base, executor, seed)
            settings[scenario.name] = scenario.settings(config.settings, found)
        else:
            settings[scenario.name] = scenario.settings(config.settings)
    sequences = {n: Sequence.of(s, params=config.params) for n, s in settings.items()}
    say(f"playing {chains} chains of {len(sequences)} scenarios")
    results = play_scenarios(sequences, seed, chains, config.engine, executor, progress)
    say("writing the tables")
    table = round_table(results)
    labels = {t: spec.label for t, spec in enumerate(next(iter(sequences.values())).schedule)}
    summary = summarise(table, config.baseline)
    cohorts = cohort_table(results, labels, config.cohort_years)
    graduates = cohort_table(results, labels, config.cohort_years, by="graduation")
    meta = {
        **identity,
        **describe(config_file=config.file),
        "kind": "queue",
        "description": config.description,
        "engine": config.engine,
        "baseline": config.baseline,
        "cohort_years": list(config.cohort_years),
        "scenarios": {n: s.model_dump() for n, s in settings.items()},
        "constant_pool_search": search,
        "tables": [COHORTS, GRADUATES],
        "figure_files": list(QUEUE_FIGURES),
    }
    _write(target, table, summary, {COHORTS: cohorts, GRADUATES: graduates}, meta, out)
    say("drawing the figures")
    draw_queue_figures(target)
    return target


def _write(target, table, summary, tables: dict[str, pd.DataFrame], meta, out) -> None:
    """The tables and meta into a staging folder, then moved into place together."""
    out.mkdir(parents=True, exist_ok=True)
    staging = as_new(Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=out)))
    try:
        table.to_parquet(staging / TABLE, index=False)
        summary.to_csv(staging / SUMMARY, index=False, float_format="%.6g")
        for name, extra in tables.items():
            extra.to_csv(staging / f"{name}.csv", index=False, float_format="%.6g")
        (staging / META).write_text(json.dumps(meta, indent=2, default=str) + "\n")
        put_in_place(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def draw_queue_figures(folder: str | Path) -> list[Path]:
    """The queue's figures from its saved summary and cohort table."""
    folder = Path(folder)
    summary = pd.read_csv(folder / SUMMARY)
    cohorts = pd.read_csv(folder / f"{COHORTS}.csv")
    meta = json.loads((folder / META).read_text())
    written = []
    for name, draw in QUEUE_FIGURES.items():
        written += save(draw(summary, cohorts, meta), folder / name)
    return written
