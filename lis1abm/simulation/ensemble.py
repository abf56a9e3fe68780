"""A population ensemble: K synthetic populations of one round, the replications spread over
them.

One market is one draw of the synthetic population (gender, age, graduation period, home
region, study city, rounds applied, applications, the hospitals' scores), and a group's mean
hires move by several points from one draw to the next. Replications on one market only show
the offer cascade's noise; spread over K draws, their means and 5-95 % bands include the
population's uncertainty too.

* Draw d (0 <= d < K) is the market whose population is drawn with
  :func:`lis1abm.rng.population_seed` (root seed, d), draw 0 with the root seed itself; the
  offer cascade of every draw is keyed by the root seed.
* Replication r plays on draw ``r % K`` (:func:`lis1abm.rng.population_of`) with the cascade
  draws keyed by (root seed, r), as on one population. Any replication can be recomputed alone
  from (root seed, K, r), on any engine, and an ensemble of one population is the run on the
  market of the root seed, bit for bit.
* Every draw has the same tally layout (its groups come from the round's definitions); values
  that are constant on one market (a group's applicants) differ between draws, so one
  :class:`~lis1abm.outcomes.aggregate.Summary` with bounds covering every draw
  (:func:`~lis1abm.outcomes.aggregate.bounds_over`) counts the replications of all of them.
* Two scenarios or calibration candidates with the same root seed and K play on the same K
  population draws (common random numbers).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lis1abm.data.round import RoundData
from lis1abm.errors import UserError
from lis1abm.market.ranking import same_draws
from lis1abm.outcomes.aggregate import Summary, bounds_over
from lis1abm.outcomes.tally import Tally
from lis1abm.params import Params, with_overrides
from lis1abm.rng import population_of
from lis1abm.simulation import replications
from lis1abm.simulation.prepare import (
    PreparedRun,
    check_seed,
    prepare,
    prepare_again,
    resolve_inputs,
)
from lis1abm.simulation.replications import replication_ids, run_replications
from lis1abm.simulation.sink import ResultSink
from lis1abm.simulation.uncertainty import ParameterDraws

DEFAULT_POPULATIONS = 64
"""Population draws of a run unless asked otherwise (at most one per replication). Chosen
from the spread of group means between root seeds (docs/ensemble.md, 2026-12-04): with 64
draws and 2,000 replications, the mean hires of each education and nationality group differed
by at most 0.7 between five root seeds (32 draws: 1.7; one population: 8.6)."""
POPULATION_RULE = "replication % populations"
"""How replications map to draws (:func:`lis1abm.rng.population_of`), as recorded in meta."""


def check_populations(populations: int | None, reps: int, flag: str = "--populations") -> int:
    """The number of population draws of a run of ``reps`` replications: ``populations``, or
    :data:`DEFAULT_POPULATIONS` (at most ``reps``) when None.

    Raises
    ------
    UserError : not an integer, below 1, or more than ``reps`` (a draw without a replication
        would be built and never played, and the run would not be the ensemble asked for).
    """
    if populations is None:
        return max(1, min(DEFAULT_POPULATIONS, int(reps)))
    if isinstance(populations, bool) or not isinstance(populations, int | np.integer):
        raise UserError(f"{flag} must be an integer, got {populations!r}")
    if populations < 1:
        raise UserError(f"{flag} must be at least 1, got {populations}")
    if populations > reps:
        raise UserError(
            f"{flag} {populations} is more than the {reps} replications: each population "
            "needs at least one replication"
        )
    return int(populations)


@dataclass(frozen=True)
class Ensemble:
    """A round's markets, one per population draw, built once for a run.

    Attributes
    ----------
    seed : the root seed.
    draws : draw d's prepared market (:func:`lis1abm.simulation.prepare.prepare` with
        ``draw=d``), K of them.
    parameter_sets : with parameter uncertainty, draw d's free parameters
        (:mod:`lis1abm.simulation.uncertainty`); None when every draw has the same parameters.
    """

    seed: int
    draws: tuple[PreparedRun, ...]
    parameter_sets: tuple[dict[str, float], ...] | None = None

    @property
    def populations(self) -> int:
        """K, the number of draws."""
        return len(self.draws)

    @property
    def first(self) -> PreparedRun:
        """Draw 0: the market of the root seed (its round, parameters and layout are every
        draw's)."""
        return self.draws[0]

    @property
    def data(self) -> RoundData:
        return self.first.data

    @property
    def params(self) -> Params:
        return self.first.params

    @property
    def tally(self) -> Tally:
        """Draw 0's tally: the layout of every draw, and the report figures' market."""
        return self.first.tally

    @cached_property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi), int64 (K values,) each: bounds holding every draw's values."""
        return bounds_over(run.tally for run in self.draws)

    def summary(self, draw: int | None = None) -> Summary:
        """An empty summary with bounds covering every draw, of ``draw``'s recipe (what an
        engine counts that draw's replications into) or of draw 0's (the ensemble's)."""
        run = self.first if draw is None else self.draws[draw]
        return Summary(run.tally, self.bounds)

    def meta(self) -> dict:
        """What a result records of the ensemble: K, how replications map to draws, and each
        draw's population seed and market digest."""
        return {
            "populations": self.populations,
            "population_of_replication": POPULATION_RULE,
            "population_seeds": [int(run.market.population_seed) for run in self.draws],
            "market_sha256": [run.market_sha256 for run in self.draws],
            "parameter_sets": None if self.parameter_sets is None else list(self.parameter_sets),
        }


def prepare_ensemble(
    round_: str | Path | RoundData = "autumn2024",
    params: str | Path | Params | None = None,
    overrides: Mapping[str, Any] | None = None,
    seed: int = 2024,
    populations: int = 1,
    parameter_draws: ParameterDraws | None = None,
) -> Ensemble:
    """Build the ``populations`` draws of a round's market (the inputs resolved once; see
    :func:`lis1abm.simulation.prepare.prepare` for the arguments). ``populations`` must
    already be checked (:func:`check_populations`). With ``parameter_draws``, draw d plays
    with its own parameter set (:meth:`ParameterDraws.draw` of (seed, d)), the
    ``overrides`` applied after it.

    Raises
    ------
    UserError : a bad seed, config or override, or a round without a market (no ads).
    """
    seed = check_seed(seed)
    data, base = resolve_inputs(round_, params, overrides)
    if parameter_draws is None:
        draws = tuple(prepare(data, base, seed=seed, draw=d) for d in range(populations))
        return Ensemble(seed, draws)
    sets = tuple(parameter_draws.draw(seed, d) for d in range(populations))
    # The overrides again after each drawn set: they win over it.
    draws = tuple(
        prepare(data, with_overrides(base, {**sets[d], **(overrides or {})}), seed=seed, draw=d)
        for d in range(populations)
    )
    return Ensemble(seed, draws, sets)


def ensemble_with(ensemble: Ensemble, params: Params) -> Ensemble:
    """The ensemble's draws under other parameters: what :func:`prepare_ensemble` with
    ``params`` and the same seed and K gives. When ``params`` draws the same populations and
    applications (only ranking or behaviour parameters differ, as for most calibration
    candidates) they are kept and only rescored; else every draw is built anew. Not for an
    ensemble with parameter uncertainty (its draws have parameters of their own)."""
    if ensemble.parameter_sets is not None:
        raise ValueError("ensemble_with: the ensemble's draws have parameters of their own")
    if same_draws(ensemble.params, params):
        return Ensemble(ensemble.seed, tuple(prepare_again(run, params) for run in ensemble.draws))
    return prepare_ensemble(
        ensemble.data, params, seed=ensemble.seed, populations=ensemble.populations
    )


def run_ensemble(
    engine_name: str,
    ensemble: Ensemble,
    reps: int,
    sink: ResultSink | None = None,
    progress: Callable[[int], None] | None = None,
    *,
    first: int = 0,
) -> Summary:
    """Replications ``first .. first + reps - 1`` of an ensemble on an engine, each on its
    draw, summarised over all draws; every engine is called once per draw (per batch, when
    ``sink`` keeps values or offers) with that draw's market and its replication indices.

    Kept values and offers go to ``sink`` in replication order, each row naming its draw
    (column ``population``: the sink must have been made with ``populations=K``); applicant
    and application ids in the offers are those of the replication's draw.
    """
    every = replication_ids(first, reps)
    total = ensemble.summary()
    k = ensemble.populations
    keep = sink is not None and (sink.per_replication or sink.log_events)
    if not keep:
        for d, run in enumerate(ensemble.draws):
            ids = every[population_of(every, k) == d]
            if len(ids):
                part = run_replications(
                    engine_name, run.market, run.tally, run.arrays, len(ids), None, progress,
                    ids=ids, summary=ensemble.summary(d),
                )  # fmt: skip
                total.add_histogram(part.hist, part.replications)
        return total
    # The engines' batch sizes, read at call time (a test may shrink them).
    sizes = {"mesa": replications.MESA_BATCH, "cuda": replications.CUDA_BATCH}
    batch = sizes.get(engine_name, replications.BATCH)
    for start in range(0, len(every), batch):
        block = every[start : start + batch]
        draw = population_of(block, k)
        values = np.empty((len(block), len(total.lo)), dtype=np.int64)
        events = []
        for d, run in enumerate(ensemble.draws):
            ids = block[draw == d]
            if not len(ids):
                continue
            inner = ResultSink(run.tally, {}, None, sink.per_replication, sink.log_events)
            part = run_replications(
                engine_name, run.market, run.tally, run.arrays, len(ids), inner, progress,
                ids=ids, summary=ensemble.summary(d),
            )  # fmt: skip
            total.add_histogram(part.hist, part.replications)
            if sink.per_replication:
                values[draw == d] = inner.values()
            if sink.log_events:
                events.append(inner.kept_events())
        sink.add_values(block, values)
        if events:
            merged = pd.concat(events, ignore_index=True)
            sink.add_events(merged.sort_values("replication", kind="stable", ignore_index=True))
    return total
