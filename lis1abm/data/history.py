"""The history of the LIS1 application rounds: positions per round and the report's trend figures.

:func:`load_history` reads the built-in file ``configs/history/lis1.toml`` (shipped in the
package: :mod:`lis1abm.data.files`) or a file given by path, validates it with pydantic (the
models below declare what each key allows; :mod:`lis1abm.data.config` reads and reports) and
checks that the rounds follow each other without a gap, so a mistake is reported on one line
naming the file and the key.

Rounds are named ``"<season><year>"``: the spring round of year Y (``"spring2024"``) hires for
a start on 1 September Y, the autumn round of year Y (``"autumn2024"``) for a start on
1 March Y+1. :meth:`History.rounds` lists them in order, spring before autumn within a year.

Units: positions and applicants are counts of people; a figure's ``unit`` is ``"count"``,
``"share"`` (a fraction in [0, 1]) or ``"change"`` (relative, (later - earlier) / earlier).

Sources: the status report on the autumn 2024 round (Helsedirektoratet): positions from its
appendix 5 (established, funded positions per start date, which can differ from the positions
advertised), figures from its chapter 6 (trends from spring 2013 to autumn 2024). Figures the
file derives from the report's say ``derived = true``, with the arithmetic in the file.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator

from lis1abm.data.config import Document, invalid, read_toml, validate
from lis1abm.data.files import builtin_history
from lis1abm.data.round import GROUPS

SEASONS = ("spring", "autumn")
"""The two rounds of a year, in order."""

Season = Literal[SEASONS]
Unit = Literal["count", "share", "change"]

Text = Annotated[str, Strict()]
Flag = Annotated[bool, Strict()]
Number = Annotated[float, Strict()]
Positive = Annotated[int, Strict(), Field(gt=0, description="Positions (positions)")]
Year = Annotated[int, Strict(), Field(ge=1900, le=2200)]
RoundName = Text  # "spring<year>" or "autumn<year>", checked by HistoryFile

_NAME = re.compile(r"^(spring|autumn)(\d{4})$")


def parse_round(name: str) -> tuple[str, int]:
    """A round's season and year: ``"autumn2024"`` -> ``("autumn", 2024)``.

    Raises
    ------
    ValueError : ``name`` is not ``"spring<year>"`` or ``"autumn<year>"``.
    """
    match = _NAME.match(name)
    if match is None:
        raise ValueError(f"not a round name: {name!r} (expected e.g. 'spring2024', 'autumn2024')")
    return match[1], int(match[2])


def round_name(season: str, year: int) -> str:
    """The name of the round of ``season`` and ``year``."""
    return f"{season}{year}"


def start_date(season: str, year: int) -> dt.date:
    """When the positions of a round start: 1 September of its year for spring, 1 March of the
    next year for autumn."""
    return dt.date(year, 9, 1) if season == "spring" else dt.date(year + 1, 3, 1)


def next_round(name: str) -> str:
    """The round after ``name``: spring Y -> autumn Y -> spring Y+1."""
    season, year = parse_round(name)
    return round_name("autumn", year) if season == "spring" else round_name("spring", year + 1)


def previous_round(name: str) -> str:
    """The round before ``name``: autumn Y -> spring Y -> autumn Y-1."""
    season, year = parse_round(name)
    return round_name("spring", year) if season == "autumn" else round_name("autumn", year - 1)


def _index(name: str) -> int:
    """A round's place in time: consecutive rounds differ by 1."""
    season, year = parse_round(name)
    return 2 * year + SEASONS.index(season)


class _Table(BaseModel):
    # Scalars are Strict field by field (a string or a boolean is never taken for a number);
    # lists in the file become tuples.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class RoundPositions(_Table):
    """The positions established (funded) for one round's start date (report appendix 5).

    ``temporary``: how many of ``positions`` are temporary positions hired for in this round
    only (the 100 18-month positions started 1 September 2020). ``derived``: the count is
    summed from the appendix's additions rather than printed in the report."""

    round: RoundName
    season: Season
    year: Year
    start_date: Annotated[dt.date, Strict()]
    positions: Positive
    temporary: Annotated[int, Strict(), Field(ge=0)] = 0
    derived: Flag = False


class Advertised(_Table):
    """The positions a round advertised, where the report gives them."""

    round: RoundName
    positions: Positive
    source: Text


class Projection(_Table):
    """Positions per round after the last round of the file (the report's figure from 2025)."""

    positions_per_round: Positive
    source: Text


class Figure(_Table):
    """One figure of the report on the trend across rounds.

    A figure is about one ``round``, or covers ``rounds``: with ``value``, each of them has that
    value, or their mean has when ``mean``; with ``low`` and ``high``, each round's value lies in
    [low, high]. A change (``unit = "change"``) is from the round ``since`` to ``round``.
    ``group``: an education-country group (:data:`~lis1abm.data.round.GROUPS`), or None for
    all applicants. ``approximate``: the report says "about" or "the same level".
    """

    name: Text
    unit: Unit
    source: Text
    round: RoundName | None = None
    rounds: tuple[RoundName, ...] | None = None
    since: RoundName | None = None
    group: Literal[GROUPS] | None = None
    value: Number | None = None
    low: Number | None = None
    high: Number | None = None
    mean: Flag = False
    approximate: Flag = False
    derived: Flag = False

    @property
    def covers(self) -> tuple[str, ...]:
        """The rounds the figure is about: ``(round,)`` or ``rounds``."""
        return (self.round,) if self.round is not None else tuple(self.rounds or ())

    @model_validator(mode="after")
    def _consistent(self) -> Figure:
        if (self.round is None) == (self.rounds is None):
            raise invalid("give either round or rounds", "round")
        if self.rounds is not None and not self.rounds:
            raise invalid("needs at least one round", "rounds")
        if (self.value is None) == (self.low is None and self.high is None):
            raise invalid("give either value or low and high", "value")
        if self.value is None and (self.low is None or self.high is None):
            raise invalid("missing", "high" if self.high is None else "low")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise invalid(f"got {self.low:g}; must not exceed high ({self.high:g})", "low")
        if self.mean and (self.rounds is None or self.value is None):
            raise invalid("mean needs rounds and a value", "mean")
        if (self.since is not None) != (self.unit == "change"):
            raise invalid("a change needs since, and only a change has it", "since")
        if self.since is not None and self.round is None:
            raise invalid("a change is from since to one round", "round")
        for key in ("value", "low", "high"):
            x = getattr(self, key)
            if x is None:
                continue
            if self.unit == "share" and not 0 <= x <= 1:
                raise invalid(f"got {x:g}; a share must lie in [0, 1]", key)
            if self.unit == "count" and (x < 0 or x != int(x)):
                raise invalid(f"got {x:g}; a count must be a whole number >= 0", key)
            if self.unit == "change" and x <= -1:
                raise invalid(f"got {x:g}; a change must be > -1", key)
        return self


class Statement(_Table):
    """A statement of the report without a number (``text`` in English; ``source`` quotes)."""

    name: Text
    text: Text
    source: Text


class _Checks(_Table):
    figures: tuple[Figure, ...] = ()
    statements: tuple[Statement, ...] = ()


class _Head(_Table):
    name: Text
    source: Text


class HistoryFile(_Table):
    """A history file's tables, validated; :meth:`history` gives the :class:`History`.

    The validator ties the tables together: the rounds follow each other from the first to
    the last without a gap or a repeat, each round's season, year and start date agree with
    its name, and every round a table names is one of them."""

    history: _Head
    positions: Annotated[tuple[RoundPositions, ...], Field(min_length=1)]
    projection: Projection
    advertised: tuple[Advertised, ...] = ()
    checks: _Checks = _Checks()

    @model_validator(mode="after")
    def _consistent(self) -> HistoryFile:
        for i, entry in enumerate(self.positions):
            if not _NAME.match(entry.round):
                problem = f"got {entry.round!r}; expected 'spring<year>' or 'autumn<year>'"
                raise invalid(problem, "positions", i, "round")
            season, year = parse_round(entry.round)
            if (season, year) != (entry.season, entry.year):
                raise invalid(
                    f"got {entry.season!r} {entry.year}; round {entry.round!r} needs "
                    f"season {season!r} and year {year}",
                    *("positions", i, "season" if season != entry.season else "year"),
                )
            if entry.start_date != start_date(season, year):
                raise invalid(
                    f"got {entry.start_date.isoformat()}; {entry.round} starts "
                    f"{start_date(season, year).isoformat()}",
                    *("positions", i, "start_date"),
                )
            if entry.temporary > entry.positions:
                raise invalid(
                    f"got {entry.temporary}; more than the round's {entry.positions} positions",
                    *("positions", i, "temporary"),
                )
            if i:
                previous = self.positions[i - 1].round
                if _index(entry.round) <= _index(previous):
                    raise invalid(
                        f"got {entry.round!r} after {previous!r}; rounds must be listed once, "
                        "in order",
                        *("positions", i, "round"),
                    )
                if entry.round != next_round(previous):
                    raise invalid(
                        f"got {entry.round!r}; expected {next_round(previous)!r} after "
                        f"{previous!r} (no gaps)",
                        *("positions", i, "round"),
                    )
        known = {entry.round for entry in self.positions}
        for i, ad in enumerate(self.advertised):
            if ad.round not in known:
                raise invalid(f"unknown round {ad.round!r}", "advertised", i, "round")
        for i, figure in enumerate(self.checks.figures):
            for k, name in enumerate(figure.covers):
                if name not in known:
                    loc = ("round",) if figure.round is not None else ("rounds", k)
                    raise invalid(f"unknown round {name!r}", "checks", "figures", i, *loc)
            if figure.since is not None:
                if figure.since not in known:
                    problem = f"unknown round {figure.since!r}"
                    raise invalid(problem, "checks", "figures", i, "since")
                if _index(figure.since) >= _index(figure.round):
                    problem = f"got {figure.since!r}; must come before {figure.round!r}"
                    raise invalid(problem, "checks", "figures", i, "since")
        return self

    def history_data(self, file: str) -> History:
        """The history as the model uses it, read from ``file``."""
        return History(
            name=self.history.name,
            source=self.history.source,
            file=file,
            entries=self.positions,
            projection=self.projection,
            advertised_positions=self.advertised,
            figures=self.checks.figures,
            statements=self.checks.statements,
        )


@dataclass(frozen=True)
class History:
    """The application rounds in order with their positions, and the report's figures.

    ``entries``: one :class:`RoundPositions` per round, in order. ``projection``: positions
    per round after the last entry. ``advertised_positions``: rounds whose advertised
    positions the report gives. ``figures`` and ``statements``: the report's trend figures
    (chapter 6). ``file``: the file read."""

    name: str
    source: str
    file: str
    entries: tuple[RoundPositions, ...]
    projection: Projection
    advertised_positions: tuple[Advertised, ...] = ()
    figures: tuple[Figure, ...] = ()
    statements: tuple[Statement, ...] = ()

    def rounds(self) -> list[str]:
        """The round names in order, spring before autumn within a year."""
        return [entry.round for entry in self.entries]

    def entry(self, round_name: str) -> RoundPositions:
        """The positions entry of ``round_name``.

        Raises
        ------
        KeyError : the round is not in the file.
        """
        for entry in self.entries:
            if entry.round == round_name:
                return entry
        first, last = self.entries[0].round, self.entries[-1].round
        raise KeyError(f"round {round_name!r} is not in {self.file} ({first} to {last})")

    def positions(self, round_name: str, *, project: bool = False) -> int:
        """Positions established for ``round_name`` (temporary ones included).

        Parameters
        ----------
        round_name : a round's name, ``"autumn2024"``.
        project : for a round after the last in the file, give the projection's
            positions per round instead of raising KeyError.
        """
        last = self.entries[-1].round
        if project and _index(round_name) > _index(last):
            return self.projection.positions_per_round
        return self.entry(round_name).positions

    def start_date(self, round_name: str) -> dt.date:
        """When the positions of ``round_name`` start."""
        return self.entry(round_name).start_date

    def advertised(self, round_name: str) -> int | None:
        """Positions advertised in ``round_name``, or None where the file does not give them."""
        return next((a.positions for a in self.advertised_positions if a.round == round_name), None)

    def find(
        self, name: str, *, round: str | None = None, group: str | None = None
    ) -> tuple[Figure, ...]:
        """The figures called ``name``, of the groups ``group`` (None: all applicants), about
        ``round`` when given (figures covering several rounds included)."""
        return tuple(
            f
            for f in self.figures
            if f.name == name and f.group == group and (round is None or round in f.covers)
        )

    def figure(
        self, name: str, round: str, *, group: str | None = None, since: str | None = None
    ) -> Figure:
        """The one figure called ``name`` about ``round`` alone (not a figure covering several
        rounds), of ``group`` (None: all applicants), and for a change, from ``since``.

        Raises
        ------
        KeyError : no such figure, or several.
        """
        found = [
            f
            for f in self.figures
            if (f.name, f.round, f.group, f.since) == (name, round, group, since)
        ]
        if len(found) != 1:
            what = f"{name} of {round}, group {group}, since {since}"
            raise KeyError(f"{len(found)} figures {what} in {self.file}, expected 1")
        return found[0]

    def statement(self, name: str) -> Statement:
        """The statement called ``name``."""
        return next(s for s in self.statements if s.name == name)


def load_history(path: str | Path | Document | None = None) -> History:
    """Read and check a history file: the built-in ``configs/history/lis1.toml`` by default,
    or a path, or a :class:`~lis1abm.data.config.Document` already read.

    Raises
    ------
    ConfigError : the file is missing, malformed, has unknown keys or out-of-range values, or
        its rounds are not consecutive.
    """
    document = read_toml(builtin_history() if path is None else path)
    return validate(HistoryFile, document.data, document.file).history_data(str(document.file))
