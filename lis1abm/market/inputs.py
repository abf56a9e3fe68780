"""A market's inputs: the round, the parameters, their overrides and the root seed.

The one place where a round's name or file and a parameter file become the validated objects
a market is built from (:func:`resolve_inputs`: each file read once, the default parameter
file chosen, overrides applied, parameters checked against the round), and where the root
seed is checked (:func:`check_seed`). The Mesa model standing alone
(:class:`lis1abm.abm.model.LIS1Model`) and every run of the engines
(:func:`lis1abm.simulation.prepare.prepare`) build their market through
:func:`build_market_for`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from lis1abm.data.files import round_params_path
from lis1abm.data.round import RoundData, load_round
from lis1abm.errors import UserError
from lis1abm.market.ranking import Market, build_market
from lis1abm.params import Params, load_params, with_overrides

MAX_SEED = 2**63  # seeds are non-negative int64: they key the Philox stream (lis1abm.rng)


def check_seed(seed: int) -> int:
    """``seed`` if it is a valid root seed (an integer in [0, 2**63)).

    Raises
    ------
    UserError : any other value.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < MAX_SEED:
        raise UserError(f"--seed must be an integer in [0, 2**63), got {seed}")
    return int(seed)


def resolve_inputs(
    round_: str | Path | RoundData,
    params: str | Path | Params | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> tuple[RoundData, Params]:
    """The round and the parameters of a run, each read once.

    Parameters
    ----------
    round_ : a built-in round's name, a round file's path, or a loaded round.
    params : a parameter file's path or loaded parameters; default: the file the round file
        names (``[round] params``), else the calibrated file of the round's name when one
        ships (:func:`lis1abm.data.files.round_params_path`; a round file of one's own named
        ``autumn2024`` gets autumn 2024's calibration too), else the default file.
    overrides : dotted parameter paths and values (``{"behaviour.withdrawal_probability":
        0.1}``), applied and validated after loading.

    Raises
    ------
    ConfigError : a bad file or override, or parameters that do not fit the round.
    """
    data = load_round(round_)  # a loaded round is returned as it is
    if params is None:
        # By the round's name (in the file), not by how it was given: a copy of a built-in
        # round given by path keeps its calibration.
        params = data.params or round_params_path(data.name)
    params = load_params(params)  # loaded parameters are returned as they are
    if overrides:
        params = with_overrides(params, dict(overrides))
    if data.has_market:
        params.check_round(data)
    return data, params


def params_choice(given: bool, data: RoundData, params: Params) -> str:
    """Why a run uses its parameter file, in words (for the printout and ``meta.json``):
    given, named by the round file, the round's calibrated file, or the default."""
    if given:
        return "given"
    if data.params:
        return "named by the round file"
    if Path(params.file).name == f"{data.name}_calibrated.toml":
        return f"calibrated for round {data.name}"
    return f"the default: no calibrated file ships for round {data.name}"


def build_market_for(
    round_: str | Path | RoundData = "autumn2024",
    params: str | Path | Params | None = None,
    overrides: Mapping[str, Any] | None = None,
    seed: int = 2024,
    population_seed: int | None = None,
) -> Market:
    """The market of a round (see :func:`resolve_inputs` for the arguments) drawn with the
    root ``seed``, or its population drawn with ``population_seed`` and its cascade keyed by
    ``seed`` (see :func:`lis1abm.market.ranking.build_market`).

    Raises
    ------
    UserError : a bad seed, config or override, or a round without a market (no ads).
    """
    seed = check_seed(seed)
    data, params = resolve_inputs(round_, params, overrides)
    return build_market(data, params, seed, population_seed)
