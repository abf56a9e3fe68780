"""An experiment's config: ``configs/experiments/<name>.toml``, read and validated.

An experiment is a list of scenarios of one round, each a set of overrides of the round
(total positions, the offer calendar) and of the parameters (by dotted path), run with the same
seed and replication indices so that scenarios share every random draw they have in common.
A file holds::

    description = "one line, shown by `lis1abm experiment --list`"
    replications = 200            # per scenario
    seed = 2024
    populations = 64              # optional: population draws (default: simulate's)
    parameter_uncertainty = false # optional: each population draw with its own parameter
                                  # set, drawn from the covariance beside the parameter file
                                  # (lis1abm.simulation.uncertainty); a scenario's params win
    backend = "auto"              # optional
    round = "autumn2024"          # optional: a built-in round or a path
    params = "my.toml"            # optional: default the round's parameters (simulate's)
    breakdowns = ["total", ...]   # optional: the breakdowns kept in the results table
                                  # ("stability", "preference_rank", "proposing_side" too)
    figures = ["capacity_hire_rate"]   # optional: lis1abm.plots.experiments.FIGURES
    tables = ["report"]           # optional: lis1abm.experiments.tables.TABLES, one CSV each
    baseline = "601 positions"    # optional: the scenario the others are compared with,
                                  # replication by replication (default: the first)

    [base]                        # optional: overrides of every scenario
    after_calendar_rounds = 0

    [[scenarios]]                 # one scenario
    name = "601 positions"
    total_positions = 601         # or, by place (not both; see Scenario):
                                  # trust_positions = { "Universitetssykehuset Nord-Norge" = 64 }
                                  # region_positions = { "Nord" = 150 }
    params = { "behaviour.late_marking_probability" = 0.1 }
    allocation = "deferred_acceptance"   # optional: default "cascade" (the offer rounds)

    [[sweeps]]                    # one scenario per value
    name = "{value} positions"    # {value} is replaced by the value
    series = "positions"          # optional: the line in the figures (default: from name)
    vary = "total_positions"      # an override key, "allocation" or "params.<dotted path>"
    values = [450, 500, 550]
    set = { reply_window_days = 2 }   # optional: more overrides of these scenarios

Every scenario is checked when the file is read, against the round and the parameters it will
run on, so a bad override is one line naming the file, the scenario and the key.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from lis1abm.data.config import Document, invalid, read_toml, validate
from lis1abm.data.files import experiments_dir, known_experiments
from lis1abm.data.round import MAX_AFTER_CALENDAR
from lis1abm.engine.backends import BACKENDS
from lis1abm.errors import ConfigError, UserError
from lis1abm.experiments.tables import TABLES
from lis1abm.outcomes.tally import BREAKDOWNS
from lis1abm.plots.experiments import FIGURES
from lis1abm.simulation.allocation import ALLOCATIONS, MATCH_BREAKDOWNS
from lis1abm.simulation.uncertainty import load_draws

MAX_CALENDAR_ROUNDS = 20
"""Most calendar offer rounds a scenario may ask for (the real calendars have five)."""
MAX_REPLY_WINDOW_DAYS = 14
"""Longest reply window a scenario may ask for, days (the real ones are 1-4)."""
DEFAULT_BREAKDOWNS = ("total", "nationality", "education", "nationality_x_education", "cascade")
"""Breakdowns kept in the results table unless the config says otherwise: the ones the
experiments' measures need (about 70 values per replication, against about 670 in all)."""
MAX_GROWTH = 1.0
"""Largest applicant growth a scenario may ask for (1.0: twice the group's applicants)."""
ROUND_KEYS = (
    "total_positions",
    "calendar_rounds",
    "reply_window_days",
    "after_calendar_rounds",
    "growth_educated_abroad",
    "growth_educated_in_norway",
)
"""The round overrides a scenario may set (see :class:`Scenario`)."""
PLACE_KEYS = ("trust_positions", "region_positions")
"""Positions set by trust or region, ``{name = total}``; a sweep varies one place's total
with ``vary = "trust_positions.<trust>"`` (or ``region_positions.<region>``)."""


def _place_total(value: Any) -> Any:
    """A place's positions as written: any number above 0 passes here, so that a factor
    (``1.10``) reaches :func:`lis1abm.experiments.overrides.set_positions`, which knows the
    place's positions and can say what the factor would be as a total."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise invalid("a place's total positions, a whole number >= 1")
    return value


PlaceTotal = Annotated[int | float, BeforeValidator(_place_total)]
"""A value of ``trust_positions`` or ``region_positions`` (a whole number once resolved)."""

_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)


class Scenario(BaseModel):
    """One scenario: overrides of the round and of the parameters (None: as the round has it).

    Attributes
    ----------
    name : the scenario's name in the results.
    total_positions : every ad's positions scaled to this total by largest remainder; the
        capacity rule becomes ``"positions"`` (hires are bounded by the positions advertised).
    calendar_rounds : offer rounds of the calendar: the round's first ones, or its rounds and
        more a week apart with the last round's reply window.
    reply_window_days : the reply window of every calendar round, days.
    after_calendar_rounds : the most rounds an ad with open positions goes on offering after
        the calendar (0: the calendar alone).
    trust_positions : positions of some trusts, by name: each trust's total, spread over its
        ads in proportion to the round's (largest remainder, at least one an ad); the other
        trusts keep theirs, and the round's total follows. The capacity rule stays the
        round's (``report_hires``: a trust's positions plus its extra hires in the report).
        A total, not a factor: a budget names positions, and a total reads the same in a
        sweep's values and the results; a factor (``1.10``) is refused with the total it
        would make.
    region_positions : the same by health region (``Nord``, ``Midt-Norge``, ``Vest``,
        ``Sør-Øst``): the region's total spread over its ads. Neither can be combined with
        ``total_positions``, and a trust and its region cannot both be set.
    growth_educated_abroad, growth_educated_in_norway : more applicants educated abroad (EEA+UK
        and outside the EEA) or in Norway, as a fraction of the group (0.2: 20 % more); the
        ads, positions and hires stay (:mod:`lis1abm.experiments.growth`).
    params : parameter values by dotted path, ``"behaviour.late_marking_probability" = 0.1``.
    allocation : ``"cascade"`` (the offer rounds) or ``"deferred_acceptance"`` (a central
        match on the same preferences and ranked lists; see
        :mod:`lis1abm.simulation.allocation`).
    series, vary, value : set by a sweep: its series label (the figures draw one line per
        series), the key it varies and this scenario's value of it.
    """

    model_config = _STRICT

    name: str = Field(min_length=1)
    total_positions: int | None = Field(None, ge=1)
    calendar_rounds: int | None = Field(None, ge=1, le=MAX_CALENDAR_ROUNDS)
    reply_window_days: int | None = Field(None, ge=1, le=MAX_REPLY_WINDOW_DAYS)
    after_calendar_rounds: int | None = Field(None, ge=0, le=MAX_AFTER_CALENDAR)
    growth_educated_abroad: float | None = Field(None, ge=0, le=MAX_GROWTH)
    growth_educated_in_norway: float | None = Field(None, ge=0, le=MAX_GROWTH)
    trust_positions: dict[str, PlaceTotal] = Field(default_factory=dict)
    region_positions: dict[str, PlaceTotal] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    allocation: Literal["cascade", "deferred_acceptance"] = "cascade"  # ALLOCATIONS
    series: str | None = None
    vary: str | None = None
    value: Any = None

    def overrides(self) -> dict[str, Any]:
        """The overrides set, as written (round keys, then ``params``)."""
        out: dict[str, Any] = {
            k: getattr(self, k) for k in ROUND_KEYS if getattr(self, k) is not None
        }
        for key in PLACE_KEYS:
            if getattr(self, key):
                out[key] = dict(getattr(self, key))
        if self.params:
            out["params"] = dict(self.params)
        if self.allocation != ALLOCATIONS[0]:
            out["allocation"] = self.allocation
        return out


class _Sweep(BaseModel):
    model_config = _STRICT

    name: str = Field(min_length=1)
    vary: str = Field(min_length=1)
    values: list[Any] = Field(min_length=1)
    series: str | None = None
    set: dict[str, Any] = Field(default_factory=dict)


class _File(BaseModel):
    model_config = _STRICT

    description: str = Field(min_length=1)
    replications: int = Field(ge=1, le=2**32)
    seed: int = Field(ge=0, lt=2**63)
    populations: int | None = Field(default=None, ge=1, le=2**32)
    parameter_uncertainty: bool = False
    backend: str = "auto"
    round: str = "autumn2024"
    params: str | None = None
    breakdowns: list[str] = Field(default_factory=lambda: list(DEFAULT_BREAKDOWNS))
    figures: list[str] = Field(default_factory=list)
    tables: list[str] = Field(default_factory=list)
    baseline: str | None = None
    base: dict[str, Any] = Field(default_factory=dict)
    scenarios: list[dict[str, Any]] = Field(default_factory=list)
    sweeps: list[_Sweep] = Field(default_factory=list)


@dataclass(frozen=True)
class ExperimentConfig:
    """A validated experiment config.

    Attributes
    ----------
    name : the file's stem (the results go to ``<out>/<name>/``).
    file : the config file; ``sha256`` its SHA-256; ``text`` its content.
    description, replications, seed, backend, round, params, breakdowns, figures, tables : as
        in the file (``params`` resolved against the file's folder, None for the round's default).
    populations : population draws (:mod:`lis1abm.simulation.ensemble`), None for the default;
        at most ``replications`` (checked when run, as ``--reps`` may change them).
    parameter_uncertainty : draw d of every scenario plays with its own parameter set
        (:mod:`lis1abm.simulation.uncertainty`), the same for every scenario; a scenario's
        own ``params`` are applied after it.
    scenarios : the scenarios in order: the ``[[scenarios]]``, then each sweep's values.
    baseline : the scenario the others are compared with, replication by replication (the
        summary's paired effects): the file's ``baseline``, else the first scenario.
    inputs : each scenario's round and parameters with its overrides applied
        (:func:`lis1abm.experiments.overrides.resolve`), resolved once, when the file is read
        (the round and parameter files read once for all scenarios).
    """

    name: str
    file: str
    sha256: str
    text: str
    description: str
    replications: int
    seed: int
    backend: str
    round: str
    params: str | None
    breakdowns: tuple[str, ...]
    figures: tuple[str, ...]
    scenarios: tuple[Scenario, ...]
    tables: tuple[str, ...] = ()
    populations: int | None = None
    parameter_uncertainty: bool = False
    baseline: str = ""
    inputs: tuple = field(default=(), repr=False, compare=False)


def experiment_path(name_or_path: str | Path) -> Path:
    """The path itself when it ends in ``.toml`` or has a ``/``, else the built-in experiment
    of that name.

    Raises
    ------
    UserError : no built-in experiment has that name.
    """
    text = str(name_or_path)
    if text.endswith(".toml") or "/" in text:
        return Path(text)
    if text not in known_experiments():
        known = ", ".join(known_experiments())
        raise UserError(f"unknown experiment {text!r} (known: {known}; or a path to a .toml)")
    return experiments_dir() / f"{text}.toml"


def load_experiment(source: str | Path | Document | ExperimentConfig) -> ExperimentConfig:
    """Read an experiment config (a built-in name, a path, or a :class:`Document` already read;
    an :class:`ExperimentConfig` is returned as it is) and check every scenario against its
    round and parameters.

    Raises
    ------
    ConfigError : a missing or malformed file, an unknown key, a value out of range, or an
        override the round or the parameters reject: one line naming the file, the scenario
        (``scenarios[<name>]``) and the key.
    """
    # overrides import this module
    from lis1abm.experiments.overrides import base_inputs, resolve

    if isinstance(source, ExperimentConfig):
        return source
    doc = read_toml(source if isinstance(source, Document) else experiment_path(source))
    path = doc.file
    if "queue" in doc.data:
        raise ConfigError(
            path, "queue", "a queue experiment: read it with load_queue_experiment "
            "(lis1abm experiment runs both kinds)"
        )  # fmt: skip
    top = validate(_File, doc.data, path)
    if top.backend not in BACKENDS:
        raise ConfigError(path, "backend", f"unknown backend {top.backend!r} (known: {BACKENDS})")
    for k, b in enumerate(top.breakdowns):
        if b not in (*BREAKDOWNS, "cascade", *MATCH_BREAKDOWNS):
            raise ConfigError(path, f"breakdowns[{k}]", f"unknown breakdown {b!r}")
    for k, f in enumerate(top.figures):
        if f not in FIGURES:
            raise ConfigError(
                path, f"figures[{k}]", f"unknown figure {f!r} (known: {', '.join(FIGURES)})"
            )
    for k, t in enumerate(top.tables):
        if t not in TABLES:
            raise ConfigError(
                path, f"tables[{k}]", f"unknown table {t!r} (known: {', '.join(TABLES)})"
            )
    params = None
    if top.params is not None:
        params = str(
            (path.parent / top.params) if not Path(top.params).is_absolute() else top.params
        )
    scenarios = _scenarios(path, top)
    baseline = scenarios[0].name if top.baseline is None else top.baseline
    if baseline not in [s.name for s in scenarios]:
        raise ConfigError(path, "baseline", f"no scenario is named {baseline!r}")
    config = ExperimentConfig(
        name=path.stem,
        file=str(path),
        sha256=hashlib.sha256(doc.raw).hexdigest(),
        text=doc.text,
        description=top.description,
        replications=top.replications,
        seed=top.seed,
        backend=top.backend,
        round=top.round,
        params=params,
        breakdowns=tuple(dict.fromkeys(top.breakdowns)),
        figures=tuple(top.figures),
        scenarios=scenarios,
        tables=tuple(top.tables),
        populations=top.populations,
        parameter_uncertainty=top.parameter_uncertainty,
        baseline=baseline,
    )
    base = base_inputs(config)
    inputs = tuple(resolve(config, scenario, base) for scenario in scenarios)
    if config.parameter_uncertainty:
        try:
            check_parameter_draws(inputs)
        except UserError as error:
            raise ConfigError(path, "parameter_uncertainty", str(error)) from None
    return dataclasses.replace(config, inputs=inputs)


def check_parameter_draws(inputs) -> None:
    """Every scenario's parameter file (``inputs``: (round, parameters) each) has a readable
    covariance file beside it, for parameter uncertainty.

    Raises
    ------
    UserError : one that has none, or one that cannot be read.
    """
    for _, params in inputs:
        load_draws(params.file)


def _scenarios(path: Path, top: _File) -> tuple[Scenario, ...]:
    """The scenarios: the explicit ones, then one per sweep value, each over ``base``."""
    raw: list[tuple[str, dict]] = []
    for k, s in enumerate(top.scenarios):
        raw.append((f"scenarios[{s.get('name', k)}]", s))
    for k, sweep in enumerate(top.sweeps):
        key = f"sweeps[{k}].vary"
        place = sweep.vary.partition(".")[0] in PLACE_KEYS and "." in sweep.vary
        if not (
            sweep.vary in (*ROUND_KEYS, "allocation") or sweep.vary.startswith("params.") or place
        ):
            raise ConfigError(
                path,
                key,
                f"expected one of {', '.join(ROUND_KEYS)}, allocation, params.<key>, "
                "trust_positions.<trust> or region_positions.<region>",
            )
        for value in sweep.values:
            name = sweep.name.format(value=value)
            series = sweep.series or sweep.name.replace("{value}", "").strip(" ,")
            s = dict(sweep.set, name=name, series=series, vary=sweep.vary, value=value)
            if sweep.vary in (*ROUND_KEYS, "allocation"):
                s[sweep.vary] = value
            elif place:
                table, _, where_ = sweep.vary.partition(".")
                s[table] = dict(s.get(table, {}), **{where_: value})
            else:
                s["params"] = dict(
                    s.get("params", {}), **{sweep.vary.removeprefix("params."): value}
                )
            raw.append((f"scenarios[{name}]", s))
    if not raw:
        raise ConfigError(path, "scenarios", "needs at least one scenario (or sweep)")
    out = []
    for where, s in raw:
        merged = dict(top.base, **s)
        tables = (top.base.get("params", {}), s.get("params", {}))
        if all(isinstance(t, dict) for t in tables):  # else the Scenario's check names it
            merged["params"] = {**tables[0], **tables[1]}
        out.append(validate(Scenario, merged, path, where))
    names = [s.name for s in out]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(path, f"scenarios[{name}]", "two scenarios have this name")
    return tuple(out)
