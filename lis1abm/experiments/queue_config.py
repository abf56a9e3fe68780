"""The config of a queue experiment (``configs/experiments/queue.toml``): the queue's
settings, the scenarios of positions and inflow, and how many chains play each.

A queue experiment is told from a one-round experiment by its ``[queue]`` table. Unknown keys,
values out of range and unknown groups are errors naming the file and the key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from lis1abm.data.config import Document, read_toml, validate
from lis1abm.errors import ConfigError
from lis1abm.experiments.config import experiment_path
from lis1abm.params import with_overrides
from lis1abm.queue.schedule import CELLS
from lis1abm.queue.settings import QueueSettings
from lis1abm.simulation.prepare import resolve_inputs

CONSTANT_POOL = "constant_pool"
"""A scenario's ``positions``: the number the experiment finds that keeps the pool constant."""

Factor = Annotated[float, Field(ge=0.0, le=10.0)]


class _Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    positions: Annotated[int, Field(ge=29, le=100_000)] | Literal["constant_pool"] | None = None
    inflow_growth: dict[str, Factor] = Field(default_factory=dict)


class _ConstantPool(BaseModel):
    model_config = ConfigDict(extra="forbid")
    chains: int = Field(8, ge=1, le=10_000)
    low: int = Field(400, ge=29)
    high: int = Field(1200, ge=29)
    steps: int = Field(7, ge=1, le=30)
    last_rounds: int = Field(4, ge=1, le=50)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str
    seed: int = Field(2025, ge=0, lt=2**63)
    chains: int = Field(24, ge=1, le=1_000_000)
    engine: Literal["cpu", "mesa", "cuda"] = "cpu"
    params: str | None = None
    baseline: str
    cohort_years: tuple[int, int] = (2025, 2030)
    queue: QueueSettings
    constant_pool: _ConstantPool = Field(default_factory=_ConstantPool)
    scenarios: list[_Scenario] = Field(min_length=1)


@dataclass(frozen=True)
class QueueScenario:
    """A scenario: its positions per round (a number, :data:`CONSTANT_POOL` or None for the
    ``[queue]`` table's) and the factors on groups' inflow it adds."""

    name: str
    positions: int | str | None
    inflow_growth: dict[str, float]

    def settings(self, base: QueueSettings, positions: int | None = None) -> QueueSettings:
        """``base`` with this scenario's positions (or ``positions``, found by the experiment)
        and inflow factors."""
        update: dict = {"inflow_growth": {**base.inflow_growth, **self.inflow_growth}}
        chosen = positions if positions is not None else self.positions
        if isinstance(chosen, int):
            update["positions"] = chosen
        return base.model_copy(update=update)


@dataclass(frozen=True)
class QueueExperiment:
    """A queue experiment's config, checked."""

    name: str
    file: str
    sha256: str
    description: str
    seed: int
    chains: int
    engine: str
    params: str | None
    baseline: str
    cohort_years: tuple[int, int]
    settings: QueueSettings
    constant_pool: _ConstantPool
    scenarios: tuple[QueueScenario, ...]


def is_queue_config(doc: Document) -> bool:
    """Whether a config document is a queue experiment (it has a ``[queue]`` table)."""
    return "queue" in doc.data


def _check_ranking(top: _File, path: str) -> None:
    """Every path of ``[queue] ranking`` names a ranking weight of the parameters, in range."""
    _, params = resolve_inputs(top.queue.base_round, top.params)
    for name, value in top.queue.ranking.items():
        try:
            with_overrides(params, {f"ranking.{name}": value})
        except ConfigError as error:
            raise ConfigError(path, f'queue.ranking."{name}"', error.problem) from None


def load_queue_experiment(source: str | Path | Document) -> QueueExperiment:
    """Read and check a queue experiment (a built-in name, a path or a document read).

    Raises
    ------
    ConfigError : a bad value, an unknown key or group, a missing or repeated scenario name.
    """
    doc = source if isinstance(source, Document) else read_toml(experiment_path(source))
    path = doc.file
    top = validate(_File, doc.data, path)
    names = [s.name for s in top.scenarios]
    for k, name in enumerate(names):
        if names.index(name) != k:
            raise ConfigError(path, f"scenarios[{k}].name", f"repeated name {name!r}")
    if top.baseline not in names:
        raise ConfigError(path, "baseline", f"no scenario {top.baseline!r} (known: {names})")
    for k, s in enumerate(top.scenarios):
        for cell in s.inflow_growth:
            if cell not in CELLS:
                raise ConfigError(
                    path,
                    f"scenarios[{k}].inflow_growth",
                    f"unknown group {cell!r} (known: {CELLS})",
                )
    if top.constant_pool.low >= top.constant_pool.high:
        raise ConfigError(path, "constant_pool.low", "must be below constant_pool.high")
    _check_ranking(top, path)
    first, last = top.cohort_years
    if last < first:
        raise ConfigError(path, "cohort_years", f"{first} after {last}")
    return QueueExperiment(
        name=Path(path).stem,
        file=str(path),
        sha256=hashlib.sha256(doc.raw).hexdigest(),
        description=top.description,
        seed=top.seed,
        chains=top.chains,
        engine=top.engine,
        params=top.params,
        baseline=top.baseline,
        cohort_years=top.cohort_years,
        settings=top.queue,
        constant_pool=top.constant_pool,
        scenarios=tuple(QueueScenario(s.name, s.positions, s.inflow_growth) for s in top.scenarios),
    )
