"""The calibration config (``configs/calibration/<round>.toml``): what is fitted, to what, how.

Tables, all validated as every config is (:mod:`lis1abm.data.config`: unknown keys, wrong
types, bad bounds and unknown parameter paths are one-line :class:`~lis1abm.errors.ConfigError`
naming the file and the key):

- ``[calibration]``: ``params`` (the base parameter file: a built-in name or a path relative to
  the config), ``seed``, ``replications`` per candidate, ``populations`` (population draws
  every candidate is evaluated on, :mod:`lis1abm.simulation.ensemble`; default: simulate's,
  at most the replications), ``crn_first`` (the first replication
  index of the fixed block every candidate is evaluated on: common random numbers),
  ``fresh_first`` (first index of the fresh block the best point is re-checked on; it must not
  overlap the fixed block), and ``budget`` (completed trials).
- ``[fixed]``: ``"<dotted path>" = value``: parameters set on the base parameter file and not
  searched (values fitted earlier, or fixed by choice: the config says why). A fixed
  parameter cannot also be free, and its value must lie in the parameter's range.
- ``[parameters]``: ``"<dotted path>" = { lower = .., upper = .. }``: the free parameters
  (see :mod:`lis1abm.calibration.paths`), each with its search bounds, inside the range the
  parameter file allows.
- ``[pooled.<name>]``: ``parameters`` (free ones), ``tau`` and ``center``: each gets the prior
  N(center, tau^2) in the objective (partial pooling: a deviation the data say little about
  stays near the group value). ``center`` is a number or the path of another parameter (its
  candidate value if free, else its base value).
- ``[targets.<breakdown>]``: ``likelihood`` (``binomial`` or ``poisson``), ``observed``
  (``hired`` or ``not_hired``) and ``weight`` (multiplies the breakdown's log-likelihood;
  overlapping breakdowns count the same applicants twice, a weight below 1 tempers that).
- ``[held_out]``: ``breakdowns`` never in the objective, only reported, and ``statements``
  (the report's figure 4.3 statements, :mod:`lis1abm.report.statements`).
- ``[checks]``: ``seeds`` (root seeds the acceptance is judged on after the search, never
  the fitting seed: their population draws are others than the fit's), ``replications``
  and ``populations`` of each of those runs (default: simulate's). See
  :mod:`lis1abm.calibration.acceptance`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from lis1abm.calibration.paths import PathError, range_problem, resolve, tree_of, value_at
from lis1abm.data.config import Document, read_toml, validate
from lis1abm.data.files import configs_dir
from lis1abm.errors import ConfigError
from lis1abm.outcomes.tally import BREAKDOWNS
from lis1abm.params import DEFAULT_PARAMS, Params, load_params, with_overrides

_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)
Number = Annotated[float, Field(allow_inf_nan=False)]


class Settings(BaseModel):
    """The ``[calibration]`` table: base parameters, seed, replication blocks, budget."""

    model_config = _STRICT
    params: str = "default"
    seed: Annotated[int, Field(ge=0, lt=2**63)] = 2024
    replications: Annotated[int, Field(ge=1, le=1_000_000)] = 400
    populations: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    crn_first: Annotated[int, Field(ge=0, lt=2**31)] = 0
    fresh_first: Annotated[int, Field(ge=0, lt=2**31)] = 1_000_000
    budget: Annotated[int, Field(ge=1, le=1_000_000)] = 300


class Bounds(BaseModel):
    """A free parameter's search bounds, in its own unit."""

    model_config = _STRICT
    lower: Number
    upper: Number


class Pooled(BaseModel):
    """A ``[pooled.<name>]`` prior: N(center, tau^2) on each listed parameter."""

    model_config = _STRICT
    parameters: Annotated[list[str], Field(min_length=1)]
    tau: Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
    center: Number | str = 0.0


class Target(BaseModel):
    """A ``[targets.<breakdown>]`` table: the likelihood of a breakdown's figures."""

    model_config = _STRICT
    likelihood: Literal["binomial", "poisson"]
    observed: Literal["hired", "not_hired"] = "hired"
    weight: Annotated[float, Field(gt=0.0, le=100.0)] = 1.0


class HeldOut(BaseModel):
    """The ``[held_out]`` table: what is reported but never fitted."""

    model_config = _STRICT
    breakdowns: list[str] = []
    statements: bool = True


class Checks(BaseModel):
    """The ``[checks]`` table: the root seeds and runs the acceptance is judged on."""

    model_config = _STRICT
    seeds: list[Annotated[int, Field(ge=0, lt=2**63)]] = []
    replications: Annotated[int, Field(ge=1, le=1_000_000)] = 2000
    populations: Annotated[int, Field(ge=1, le=1_000_000)] | None = None


class CalibrationFile(BaseModel):
    """A calibration config file as read, before its paths are checked."""

    model_config = _STRICT
    calibration: Settings = Settings()
    fixed: dict[str, Number] = {}
    parameters: Annotated[dict[str, Bounds], Field(min_length=1)]
    pooled: dict[str, Pooled] = {}
    targets: Annotated[dict[str, Target], Field(min_length=1)]
    held_out: HeldOut = HeldOut()
    checks: Checks = Checks()


class CalibrationConfig:
    """A validated calibration config, its base parameters and the file it came from.

    Attributes
    ----------
    file : the config's path.
    spec : the tables as read (:class:`CalibrationFile`).
    base : the base parameters with the ``[fixed]`` values in place (every candidate overrides
        only the free ones).
    base_file : the base parameter file's path.
    names : the free parameters' paths, in the file's order (the candidate vector's order).
    lower, upper : their bounds, lists of floats aligned with ``names``.
    """

    def __init__(self, file: Path, spec: CalibrationFile, base: Params, base_file: Path):
        self.file = file
        self.spec = spec
        self.base = base
        self.base_file = base_file
        self.names = list(spec.parameters)
        self.lower = [spec.parameters[n].lower for n in self.names]
        self.upper = [spec.parameters[n].upper for n in self.names]

    @property
    def settings(self) -> Settings:
        return self.spec.calibration

    def base_point(self) -> list[float]:
        """The base parameters' values of the free parameters, clipped into their bounds."""
        return [
            min(max(value_at(self.base, n), lo), hi)
            for n, lo, hi in zip(self.names, self.lower, self.upper, strict=True)
        ]


def default_config(round_name: str) -> Path:
    """The built-in calibration config of a round, ``calibration/<round>.toml``."""
    return configs_dir() / "calibration" / f"{Path(round_name).stem}.toml"


def load_config(source: str | Path | Document | CalibrationConfig) -> CalibrationConfig:
    """Read and check a calibration config (a path, or a :class:`Document` already read; a
    :class:`CalibrationConfig` is returned as it is) and its base parameter file.

    Raises
    ------
    ConfigError : a missing file, invalid TOML, an unknown key, a value of the wrong type, an
        unknown parameter path, bounds not ordered or outside the parameter's range, a pooled
        parameter that is not free, an unknown or doubly used breakdown (one line).
    """
    if isinstance(source, CalibrationConfig):
        return source
    path, raw, _ = read_toml(source)
    spec = validate(CalibrationFile, raw, path)
    base_file = _base_file(path, spec.calibration.params)
    base = load_params(base_file)
    tree = tree_of(base)
    for name, value in spec.fixed.items():
        key = f'fixed."{name}"'
        _check_path(tree, name, path, key)
        if name in spec.parameters:
            raise ConfigError(path, key, "is also a free parameter ([parameters])")
        problem = range_problem(base, name, value)
        if problem:
            raise ConfigError(path, key, f"out of range: {problem}")
    if spec.fixed:
        base = with_overrides(base, dict(spec.fixed))
    for name, b in spec.parameters.items():
        key = f'parameters."{name}"'
        _check_path(tree, name, path, key)
        if not b.lower < b.upper:
            raise ConfigError(path, key, f"lower {b.lower:g} must be below upper {b.upper:g}")
        for side, value in (("lower", b.lower), ("upper", b.upper)):
            problem = range_problem(base, name, value)
            if problem:
                raise ConfigError(path, f"{key}.{side}", f"out of range: {problem}")
    seen: dict[str, str] = {}
    for group, pooled in spec.pooled.items():
        for i, name in enumerate(pooled.parameters):
            key = f"pooled.{group}.parameters[{i}]"
            if name not in spec.parameters:
                raise ConfigError(path, key, f"{name!r} is not a free parameter ([parameters])")
            if name in seen:
                raise ConfigError(path, key, f"{name!r} is already pooled in {seen[name]!r}")
            seen[name] = group
        if isinstance(pooled.center, str):
            _check_path(tree, pooled.center, path, f"pooled.{group}.center")
    known = ", ".join(BREAKDOWNS)
    for name in spec.targets:
        if name not in BREAKDOWNS:
            raise ConfigError(path, f"targets.{name}", f"unknown breakdown (known: {known})")
    for i, name in enumerate(spec.held_out.breakdowns):
        key = f"held_out.breakdowns[{i}]"
        if name not in BREAKDOWNS:
            raise ConfigError(path, key, f"unknown breakdown {name!r} (known: {known})")
        if name in spec.targets:
            raise ConfigError(path, key, f"{name!r} is fitted ([targets]); it cannot be held out")
    checks = spec.checks
    if spec.calibration.seed in checks.seeds:
        raise ConfigError(
            path, "checks.seeds", f"holds the fitting seed {spec.calibration.seed}: the "
            "acceptance is judged on root seeds the calibration was not fitted on",
        )  # fmt: skip
    if len(set(checks.seeds)) != len(checks.seeds):
        raise ConfigError(path, "checks.seeds", "a seed is listed twice")
    if checks.populations is not None and checks.populations > checks.replications:
        raise ConfigError(
            path, "checks.populations", f"{checks.populations} is more than the "
            f"{checks.replications} replications",
        )  # fmt: skip
    return CalibrationConfig(path, spec, base, base_file)


def _check_path(tree: dict, name: str, file: Path, key: str) -> None:
    """A parameter's dotted path names a parameter of the file, else one line at ``key``."""
    try:
        resolve(tree, name)
    except PathError as error:
        raise ConfigError(file, key, str(error)) from None


def _base_file(config: Path, name: str) -> Path:
    """The base parameter file: a built-in name (``default``) or a path relative to the
    config's folder."""
    if "/" not in name and not name.endswith(".toml"):
        builtin = DEFAULT_PARAMS.parent / f"{name}.toml"
        if builtin.exists():
            return builtin
    candidate = Path(name)
    return candidate if candidate.is_absolute() else config.parent / candidate
