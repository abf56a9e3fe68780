"""One way to prepare a run: (round, parameters, overrides, seed) to what the engines need.

Every command that plays replications (``simulate``, the experiments, the calibration, the
benchmark, the scripts) prepares its market here, so that the order "build the market, lay
out its values, flatten it, derive the parameter rows" and the check of the number of
replications are written once. The market's inputs (the files read once, the default
parameter file, the overrides, the parameters checked against the round) and the seed's check
come from :mod:`lis1abm.market.inputs`, which the Mesa model standing alone uses too; they are
re-exported here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from lis1abm.data.round import RoundData
from lis1abm.engine.layout import EngineArrays, flatten, param_rows
from lis1abm.errors import UserError
from lis1abm.market.inputs import build_market_for, check_seed, params_choice, resolve_inputs
from lis1abm.market.population import InfeasiblePopulation
from lis1abm.market.ranking import Market, rescore
from lis1abm.outcomes.tally import Tally
from lis1abm.params import Params
from lis1abm.rng import population_seed

__all__ = [
    "PreparedRun",
    "check_reps",
    "check_seed",
    "market_digest",
    "params_choice",
    "prepare",
    "prepare_again",
    "resolve_inputs",
]

ATTEMPTS = 8  # population seeds tried per draw (about 1 in 200 fails; eight in a row, never)
MAX_REPLICATIONS = 2**32  # replication indices are uint32 coordinates of every draw


def check_reps(reps: int) -> int:
    """``reps`` if it is a valid number of replications (in [1, 2**32]).

    Raises
    ------
    UserError : any other value.
    """
    if isinstance(reps, bool) or not isinstance(reps, int | np.integer):
        raise UserError(f"--reps must be an integer, got {reps!r}")
    if reps < 1:
        raise UserError(f"--reps must be at least 1, got {reps}")
    if reps > MAX_REPLICATIONS:
        raise UserError(f"--reps must be at most 2**32, got {reps}")
    return int(reps)


@dataclass(frozen=True)
class PreparedRun:
    """A round's market built with one set of parameters and one seed, in every form the
    engines read.

    Attributes
    ----------
    data : the round.
    params : the parameters (``params.file`` names their file).
    seed : the root seed (it keys the cascade's draws).
    market : the built market (population, applications, ranking scores).
    tally : the layout of a replication's K values.
    arrays : the market flattened for the compiled engines.
    rows : int64 (1, 3 + R): the parameter row of every replication
        (:func:`lis1abm.engine.layout.param_rows`).
    """

    data: RoundData
    params: Params
    seed: int
    market: Market
    tally: Tally
    arrays: EngineArrays
    rows: np.ndarray

    @cached_property
    def market_sha256(self) -> str:
        """:func:`market_digest` of the arrays."""
        return market_digest(self.arrays)


def prepare(
    round_: str | Path | RoundData = "autumn2024",
    params: str | Path | Params | None = None,
    overrides: Mapping[str, Any] | None = None,
    seed: int = 2024,
    draw: int = 0,
) -> PreparedRun:
    """Build, lay out and flatten a round's market: what every engine needs to play its
    replications (see :func:`lis1abm.market.inputs.resolve_inputs` for the arguments).
    ``draw``: the population draw of a population ensemble
    (:mod:`lis1abm.simulation.ensemble`), its population drawn with
    :func:`lis1abm.rng.population_seed` and its cascade keyed by ``seed``; draw 0 is the
    market of ``seed``. A population that cannot meet the round's table 2
    (:class:`~lis1abm.market.population.InfeasiblePopulation`, rare) is drawn again with the
    next ``attempt`` of the population seed, up to :data:`ATTEMPTS` times
    (``market.population_seed`` records the seed used).

    Raises
    ------
    UserError : a bad seed, config or override, or a round without a market (no ads).
    """
    seed = check_seed(seed)
    for attempt in range(ATTEMPTS):
        try:
            drawn = population_seed(seed, draw, attempt)
            market = build_market_for(round_, params, overrides, seed, drawn)
            break
        except InfeasiblePopulation as error:
            if attempt == ATTEMPTS - 1:
                raise UserError(f"population draw {draw} of seed {seed}: {error}") from error
    return _laid_out(market)


def prepare_again(run: PreparedRun, params: Params) -> PreparedRun:
    """``run``'s draw with other ranking or behaviour parameters: what :func:`prepare` with
    ``params`` and the same seed and draw gives, without drawing the population and
    applications again (about a third of the time).

    Raises
    ------
    ValueError : ``params`` would draw another population or applications
        (:func:`lis1abm.market.ranking.same_draws` is false): use :func:`prepare`.
    """
    market = rescore(run.market, params)
    return _laid_out(market, run.tally.for_market(market))


def _laid_out(market: Market, tally: Tally | None = None) -> PreparedRun:
    """A built market with its tally (made here unless given), flattened arrays and parameter
    rows."""
    tally = Tally(market) if tally is None else tally
    arrays = flatten(market, tally)
    return PreparedRun(
        market.data, market.params, market.seed, market, tally, arrays, param_rows(market)
    )


def market_digest(arrays: EngineArrays) -> str:
    """SHA-256 of the market as the engines see it: every field of :class:`EngineArrays`, in
    order, as little-endian int64 with its name and shape.

    The market is built with floating point (logarithms, Newton iterations), so two machines
    could in principle build different markets from the same seed; equal digests show they
    did not. Every backend records the digest of the same flattened arrays.
    """
    digest = hashlib.sha256()
    for name, field in arrays._asdict().items():
        value = np.ascontiguousarray(field, dtype="<i8")
        digest.update(f"{name}{value.shape}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()
