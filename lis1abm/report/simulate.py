"""A round simulated and compared with its report, with provenance: :func:`simulate`.

:func:`simulate` is the programmatic entry point behind ``lis1abm simulate``. It prepares the
run's population draws (:func:`lis1abm.simulation.ensemble.prepare_ensemble`), plays the
replications spread over them (:func:`lis1abm.simulation.ensemble.run_ensemble`: summarised as
they come, so memory does not grow with their number), compares the summary with the round's report
(:func:`lis1abm.report.compare.compare`) and records where every input came from. Every
replication's values and every offer are kept only when asked for, and then streamed to
Parquet batch by batch when the run writes its results to a folder.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lis1abm.data.round import RoundData
from lis1abm.engine.backends import compile_notice, resolve_backend
from lis1abm.errors import UserError
from lis1abm.market.ranking import Market
from lis1abm.outcomes.aggregate import Summary
from lis1abm.outcomes.events import ad_table, applicant_table
from lis1abm.outcomes.tally import Tally
from lis1abm.params import Params
from lis1abm.report.compare import cascade_summary, compare
from lis1abm.report.provenance import describe, file_digest
from lis1abm.simulation.ensemble import check_populations, prepare_ensemble, run_ensemble
from lis1abm.simulation.prepare import check_reps, params_choice, resolve_inputs
from lis1abm.simulation.sink import ResultSink, check_out, replication_table, with_provenance
from lis1abm.simulation.uncertainty import load_draws

# Replications by default: 20 gave 5-95 % bands that moved by several hires from seed to
# seed (two education countries fell outside theirs at 20 and inside at 2,000); 2,000 take
# about 2 s on 2 cores once the engine is compiled.
DEFAULT_REPS = 2000


@dataclass
class SimulationResult:
    """Replications of one round.

    Attributes
    ----------
    market : the market of population draw 0 (the market of the seed).
    tally : the layout of a replication's values (draw 0's; every draw has its rows).
    summary : exact histograms of every value over the replications of every draw.
    values : int64 (R, K): every replication's values (see :class:`lis1abm.outcomes.tally.Tally`),
        only when asked for (``per_replication``) and not written to a folder; else None.
    events : every offer of every replication, when asked for and not written to a folder.
    rows : the comparison with the report (see :func:`lis1abm.report.compare.compare`).
    cascade : mean cascade figures (see :func:`lis1abm.report.compare.cascade_summary`).
    meta : provenance: round, params, seed, replications, backend, device, version, commit,
        scenario, ``market_sha256`` (draw 0's, see :func:`market_digest`), and the ensemble:
        ``populations`` (K), ``population_of_replication`` (replication r plays on draw
        r % K), ``population_seeds`` and ``population_market_sha256`` (per draw).
    provenance : the values of :data:`PROVENANCE_COLUMNS`.
    written : the files written (with ``out``), else an empty list.
    markets : every population draw's market, draw 0 first (what ``population.parquet``
        describes).
    """

    market: Market
    tally: Tally
    summary: Summary
    values: np.ndarray | None
    events: pd.DataFrame | None
    rows: list[dict]
    cascade: dict
    meta: dict
    provenance: dict
    written: list[Path] = dataclasses.field(default_factory=list)
    markets: tuple[Market, ...] = ()

    @property
    def replications(self) -> pd.DataFrame | None:
        """The long table of every replication, with provenance columns (None unless the
        values were kept)."""
        if self.values is None:
            return None
        replications = np.arange(len(self.values))
        k = self.meta["populations"]
        return replication_table(self.tally, replications, self.values, self.provenance, k)

    def comparison(self) -> pd.DataFrame:
        """The comparison rows as a table, with provenance columns."""
        return with_provenance(pd.DataFrame(self.rows), self.provenance)

    def to_json(self) -> dict:
        return {
            "round": self.meta["round"],
            "seed": self.meta["seed"],
            "replications": self.meta["replications"],
            "populations": self.meta["populations"],
            "backend": self.meta["backend"],
            "rows": self.rows,
            "cascade": self.cascade,
            "meta": self.meta,
        }


def simulate(
    round_name: str | Path | RoundData = "autumn2024",
    reps: int = DEFAULT_REPS,
    seed: int = 2024,
    backend: str = "auto",
    params_path: str | Path | Params | None = None,
    *,
    populations: int | None = None,
    parameter_uncertainty: bool = False,
    overrides: Mapping[str, Any] | None = None,
    scenario: str = "default",
    per_replication: bool = False,
    log_events: bool = False,
    out: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
    notice: Callable[[str], None] | None = None,
) -> SimulationResult:
    """Simulate ``reps`` replications of a round.

    Parameters
    ----------
    round_name : a built-in round's name (``configs/rounds/<name>.toml``), a round file's
        path, or a loaded round (:func:`lis1abm.data.round.load_round`).
    reps : number of replications (>= 1); replication r uses the draws keyed by (seed, r).
    seed : the root seed, in [0, 2**63).
    populations : synthetic populations drawn (K, in [1, reps]; default
        :data:`~lis1abm.simulation.ensemble.DEFAULT_POPULATIONS`, at most ``reps``):
        replication r plays on draw r % K, so means and bands include the population's
        uncertainty; 1 plays every replication on the market of ``seed``
        (:mod:`lis1abm.simulation.ensemble`).
    parameter_uncertainty : each population draw plays with its own parameter set, drawn
        from the covariance the calibration wrote beside the parameter file
        (:mod:`lis1abm.simulation.uncertainty`), so the bands include the calibration's
        uncertainty too; ``overrides`` apply after the draw.
    backend : one of :data:`lis1abm.engine.backends.BACKENDS`; every engine gives the same outcome.
    params_path : parameter file or loaded parameters; default: the round's calibrated file
        when one ships (``configs/params/<round>_calibrated.toml``), else
        ``configs/params/default.toml``.
    overrides : dotted parameter paths and their values, applied to the parameters
        (``{"behaviour.withdrawal_probability": 0.1}``) and recorded in ``meta``.
    scenario : a name recorded in every table and in ``meta`` (tables of many runs can then be
        concatenated).
    per_replication : keep every replication's values (K per replication).
    log_events : keep every offer (about 1,100 per replication).
    out : write ``comparison.parquet`` and ``meta.json`` into this folder, and
        ``replications.parquet`` / ``events.parquet`` when kept, streamed batch by batch
        (never the whole table in memory); written beside it and moved into place only when
        complete. Then ``values`` and ``events`` of the result are None.
    progress : called with the number of replications done, after each batch.
    notice : called with a line to show the user before a run that first compiles the
        engine (a pause of 20-40 s that would otherwise look like a hang), after the configs
        are read, so that a mistake in them is the only line a user sees.

    Raises
    ------
    UserError : bad arguments or config, an ``out`` that cannot be written, or a backend that
        cannot run here.
    """
    engine_name, device = resolve_backend(backend, reps)
    check_reps(reps)
    populations = check_populations(populations, reps)
    if not isinstance(scenario, str) or not scenario:
        raise UserError(f"scenario must be a non-empty name, got {scenario!r}")
    if out is not None:
        check_out(out)  # before the run, which may be long
    # The parameters asked for (with parameter uncertainty, every draw has a drawn set).
    data, params = resolve_inputs(round_name, params_path, overrides)
    draws = load_draws(params.file) if parameter_uncertainty else None
    # The overrides are in ``params``; with drawn sets, they are applied again after each.
    again = None if draws is None else overrides
    ensemble = prepare_ensemble(data, params, again, seed, populations, draws)
    run = ensemble.first
    if notice is not None and (text := compile_notice(engine_name)):
        notice(text)
    params_file = Path(params.file)
    params_sha256 = file_digest(params_file)
    provenance = {
        "seed": run.seed,
        "round": run.data.name,
        "params_name": params_file.stem,
        "params_sha256": params_sha256,
        "scenario": scenario,
    }
    drawn = ensemble.meta()
    meta = describe(
        round=run.data.name,
        round_file=run.data.file,
        round_sha256=file_digest(run.data.file),
        params_file=str(params_file),
        params_sha256=params_sha256,
        params=params.to_dict(),
        overrides=dict(overrides or {}),
        seed=run.seed,
        replications=reps,
        backend=engine_name,
        backend_asked=backend,
        device=device,
        scenario=scenario,
        market_sha256=run.market_sha256,
        params_chosen=params_choice(params_path is not None, run.data, params),
        capacity={
            "rule": params.capacity.rule,
            "positions": sum(ad.positions for ad in run.data.ads),
            "capacity": int(run.market.capacity.sum()),
        },
        populations=populations,
        population_of_replication=drawn["population_of_replication"],
        population_seeds=drawn["population_seeds"],
        population_market_sha256=drawn["market_sha256"],
        parameter_uncertainty=None
        if draws is None
        else {
            "covariance_file": draws.file.name,
            "parameters": list(draws.names),
            "rule": "draw d plays with best + L z (L L' = the covariance, z keyed by (seed, d, "
            "parameter)), clipped to the bounds; overrides after it",
            "parameter_sets": drawn["parameter_sets"],
        },
    )
    kept = (per_replication, log_events, populations)
    with ResultSink(run.tally, provenance, out, *kept) as sink:
        summary = run_ensemble(engine_name, ensemble, reps, sink, progress)
        result = SimulationResult(
            run.market,
            run.tally,
            summary,
            sink.values(),
            sink.events(),
            compare(run.tally, summary),
            cascade_summary(run.tally, summary),
            meta,
            provenance,
            markets=tuple(draw.market for draw in ensemble.draws),
        )
        if out is not None:
            result.written = _commit(sink, result)
    return result


def _commit(sink: ResultSink, result: SimulationResult) -> list[Path]:
    """The comparison and ``meta.json`` (with the mean cascade) into the sink's folder; with
    the event log, the applicants and ads its ids refer to."""
    tables = {"comparison.parquet": result.comparison()}
    if sink.log_events:
        tables["population.parquet"] = applicant_table(result.markets or (result.market,))
        tables["ads.parquet"] = ad_table(result.market)
    return sink.commit(tables, result.meta | {"cascade": result.cascade})


def write_results(result: SimulationResult, out_dir: str | Path) -> list[Path]:
    """Write a result held in memory into ``out_dir``: ``comparison.parquet``, ``meta.json``,
    and ``replications.parquet`` / ``events.parquet`` if the result kept them.

    Files are written into a temporary folder beside ``out_dir`` and moved into place only
    when all are complete, so a failure leaves nothing half-written.
    """
    keep_values, keep_events = result.values is not None, result.events is not None
    kept = (keep_values, keep_events, result.meta["populations"])
    with ResultSink(result.tally, result.provenance, out_dir, *kept) as sink:
        if keep_values:
            sink.add_values(np.arange(len(result.values)), result.values)
        if keep_events:
            sink.add_events(result.events)
        return _commit(sink, result)
