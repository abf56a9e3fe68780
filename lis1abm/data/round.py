"""The application round as data: ads, trusts, calendar and the report's figures.

:func:`load_round` reads a built-in round (``configs/rounds/<name>.toml``, shipped in the
package: :mod:`lis1abm.data.files`) or a round file given by path, validates it with pydantic
(the dataclasses below declare what each key allows; :mod:`lis1abm.data.config` reads and
reports), and checks that the report's totals add up, so a typo in the data is caught with the
file and key named.

Group labels (nationality and education country groups) are :data:`GROUPS`. Breakdowns whose
report figures are percentages carry both the percentage and the count derived from it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator, with_config
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

from lis1abm.data.config import Document, config_error, invalid, read_toml, validate
from lis1abm.data.files import builtin_round, configs_dir, known_rounds
from lis1abm.errors import UserError

GROUPS = ("Norway", "EEA+UK", "Outside EEA")
"""Nationality and education-country groups, in the report's order."""

REGIONS = ("Sør-Øst", "Vest", "Midt-Norge", "Nord")
"""The four regional health authorities (RHF)."""

STUDY_CITIES = ("Oslo", "Bergen", "Trondheim", "Tromsø")
"""The four Norwegian medical faculties' cities (general knowledge, not from the report)."""

# What a round file's values may be: no figure of a round is negative or infinite, and a
# string or a boolean is never taken for a number (``Strict``).
_FILE = ConfigDict(extra="forbid", allow_inf_nan=False)
Count = Annotated[int, Strict(), Field(ge=0)]
Positive = Annotated[int, Strict(), Field(gt=0)]
Number = Annotated[float, Strict(), Field(ge=0)]
Share = Annotated[float, Strict(), Field(ge=0, le=1)]
Text = Annotated[str, Strict()]
Date = Annotated[dt.date, Strict()]
Flag = Annotated[bool, Strict()]
# Degrees: a float, as TOML writes 59.93; an int (60) is refused like every other Strict number.
Latitude = Annotated[float, Strict(), Field(ge=-90, le=90)]
Longitude = Annotated[float, Strict(), Field(ge=-180, le=180)]
Group = Literal[GROUPS]
Region = Literal[REGIONS]

MAX_AFTER_CALENDAR = 50
"""Most offer rounds after the calendar a round file may ask for: every replication's cascade
holds a row per round (and the summaries a histogram per round and field), and on the autumn
2024 market offers stop within a few rounds even at 130 % of the positions."""


@dataclass(frozen=True)
class OfferRound:
    """One offer round (tilbudsrunde): offers go out, replies are due, marking is due at 12:00.
    ``number`` is the file's ``round``."""

    __pydantic_config__ = _FILE
    number: Annotated[int, Strict(), Field(alias="round", gt=0)]
    offer: Date
    reply_by: Date
    marking_by: Date

    @property
    def reply_window_days(self) -> int:
        """Days between the offer and the reply deadline (1-4 in 2024)."""
        return (self.reply_by - self.offer).days


@dataclass(frozen=True)
class Ad:
    """One job ad (stillingsannonse) with its positions and the applications it received."""

    __pydantic_config__ = _FILE
    id: Text
    trust: Text
    site: Text
    region: Region
    positions: Positive
    applications: Positive
    urban: Flag
    # Where the ad's hospital is (decimal degrees, WGS84), for the map of ``lis1abm view``;
    # optional, since no engine reads it (an ad without them is left off the map).
    lat: Latitude | None = None
    lon: Longitude | None = None

    @property
    def label(self) -> str:
        return f"{self.trust} - {self.site}" if self.site else self.trust


@dataclass(frozen=True)
class Trust:
    """A health trust (helseforetak): report appendix 1."""

    __pydantic_config__ = _FILE
    name: Text
    ads: Positive
    positions: Positive
    applications: Positive
    unique_applicants: Positive
    hired: Count
    # Hires beyond the advertised positions in the report (hired - positions; negative where
    # positions were left unfilled). Kept apart from ``hired`` so that a round file whose
    # positions are edited keeps the report's extra hires: the capacity rule "report_hires"
    # gives a trust its positions plus these. Absent: hired - positions of this file.
    extra_hires: int | None = None

    @property
    def hires_beyond_positions(self) -> int:
        """``extra_hires``, or this file's hired - positions where it is absent."""
        return self.hired - self.positions if self.extra_hires is None else self.extra_hires


@dataclass(frozen=True)
class Faculty:
    """A Norwegian medical faculty: its city, the region (RHF) it lies in and the trusts of
    its university hospital(s), where its students do their clinical placements. General
    knowledge kept in the round file (trust names are the round's), not a report figure."""

    __pydantic_config__ = _FILE
    city: Literal[STUDY_CITIES]
    region: Region
    university_trusts: tuple[Text, ...]


@dataclass(frozen=True)
class PairCount:
    """Applicants and hires of one nationality x education-country pair (appendix 4).

    ``added``: applicants of ``applicants`` added by an applicant-growth scenario (0 in a round
    file); the population gives them ids after every applicant of the round, so that the
    round's applicants keep their ids (and their random numbers)."""

    __pydantic_config__ = _FILE
    nationality: Text
    education: Text
    applicants: Positive
    hired: Count
    added: int = 0


@dataclass(frozen=True)
class LongTermCell:
    """One cell of the report's table 2: not-hired applicants who had applied in four or more
    rounds, by education group, nationality group and age group (the report's label, e.g.
    "50-59")."""

    __pydantic_config__ = _FILE
    education: Group
    nationality: Group
    age_group: Text
    count: Count


@dataclass(frozen=True)
class GroupFigure:
    """Applicants and hires of one group of a breakdown; ``hired`` is None where unknown.

    ``derived`` says the figures are worked out from the report's percentages (see the config's
    comments for the arithmetic) rather than printed as counts in the report.
    """

    group: str
    applicants: int
    hired: int | None
    derived: bool = False


@dataclass(frozen=True)
class RoundData:
    """Everything known about one application round. Market fields are empty for rounds whose
    sources give only the calendar (spring 2024).

    ``after_calendar_rounds``: the most offer rounds an ad with open positions plays after the
    calendar's last (the web page: offers go out "in several rounds, until all positions are
    filled"), each with the last calendar round's reply window; they stop early once a round
    makes no offers."""

    name: str
    season: str
    year: int
    start_date: dt.date
    application_deadline: dt.date
    calendar: tuple[OfferRound, ...]
    file: str
    after_calendar_rounds: int = 0
    params: str | None = None  # the parameter file named by the round file (a path), if any
    totals: dict[str, int] = field(default_factory=dict)
    ads: tuple[Ad, ...] = ()
    trusts: tuple[Trust, ...] = ()
    countries: dict[str, str] = field(default_factory=dict)  # country -> group
    appendix4: tuple[PairCount, ...] = ()
    faculties: tuple[Faculty, ...] = ()  # one per STUDY_CITIES, in that order
    groups: dict[str, dict] = field(default_factory=dict)  # the report's grouped totals
    breakdowns: dict[str, tuple] = field(default_factory=dict)  # name -> GroupFigures
    notes: dict[str, object] = field(default_factory=dict)

    @property
    def has_market(self) -> bool:
        """True when the round has the ads and applicants needed to simulate it."""
        return bool(self.ads) and bool(self.appendix4)

    def trust(self, name: str) -> Trust:
        return next(t for t in self.trusts if t.name == name)

    def faculty(self, city: str) -> Faculty:
        return next(f for f in self.faculties if f.city == city)

    @property
    def education_countries(self) -> tuple[str, ...]:
        """Education countries of appendix 4, in order of first appearance."""
        return tuple(dict.fromkeys(p.education for p in self.appendix4))

    @property
    def long_term_not_hired(self) -> tuple[LongTermCell, ...]:
        """Table 2: not-hired applicants with four or more rounds applied, per cell."""
        return self.notes.get("long_term_not_hired", ())

    def require_market(self) -> None:
        if not self.has_market:
            raise UserError(
                f"{self.file}: round {self.name!r} has no ads or applicant data "
                "in its sources, so it cannot be simulated"
            )


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class _Head(_Table):
    name: str
    season: Literal["spring", "autumn"]
    year: Count
    start_date: dt.date
    ads_ready: dt.date | None = None
    published_from: dt.date | None = None
    published_to: dt.date | None = None
    source: str | None = None
    application_deadline: dt.date
    after_calendar_rounds: Annotated[int, Field(ge=0, le=MAX_AFTER_CALENDAR)]
    params: str | None = None  # the round's parameter file: a path from this file, or a name


_TOTALS = ("applicants", "positions", "ads", "trusts", "applications", "hired")
_Totals = with_config(_Table.model_config)(TypedDict("_Totals", dict.fromkeys(_TOTALS, Positive)))


class _Country(_Table):
    group: Group
    report_name: str


class _Figures(_Table):
    applicants: Count
    hired: Count

    def pair(self) -> tuple[int, int]:
        return self.applicants, self.hired


class _Cell(_Figures):
    nationality: Group
    education: Group


_ByGroup = with_config(_Table.model_config)(TypedDict("_ByGroup", dict.fromkeys(GROUPS, _Figures)))


class _Groups(_Table):
    """The report's grouped totals (table 1): by nationality, by education, and the cells."""

    nationality: _ByGroup
    education: _ByGroup
    cross: list[_Cell]


class _RoundsApplied(_Table):
    more_than_five_share: Share


class _Ages(_Table):
    applicants_mean: Number
    hired_mean: Number
    not_hired_mean_women: Number
    not_hired_mean_men: Number
    under30_share_of_applicants: Share
    under30_share_of_not_hired: Share
    hired_23_29_share: Share
    not_hired_share: dict[str, Any]


class _Gender(_Figures):
    group: str


class _AgeGroup(_Gender):
    derived: bool = False
    note: str | None = None


class _Period(_Table):
    group: str
    applicants: Count
    hired_share: Share
    share_of_hired: Share | None = None


class _PeriodEducation(_Table):
    group: str
    education: Group
    share: Share
    note: str | None = None


class _WantedJob(_Table):
    group: str
    applicants_share: Share
    hired_share: Share


class _Residence(_Table):
    group: str
    applicants_share: Share | None = None
    not_hired: Count


class _Breakdowns(_Table):
    """The marginal breakdowns as the report gives them (counts or percentages)."""

    gender: list[_Gender] | None = None
    age_group: list[_AgeGroup] | None = None
    graduation_period: list[_Period] | None = None
    graduation_by_education: list[_PeriodEducation] | None = None
    wanted_job: list[_WantedJob] | None = None
    residence: list[_Residence] | None = None


_MARKET = ("ads", "trusts", "countries", "appendix4", "groups", "faculties")
"""The tables a round with ``[totals]`` must have (and one without must not)."""


class RoundFile(_Table):
    """A round file's tables, validated; :meth:`round_data` gives the :class:`RoundData`.

    Every value's type and range is declared here or in the dataclasses above; the checks
    that tie the tables together (totals that add up, names that refer to other tables) are
    the model's validator, each naming the key that is wrong."""

    round: _Head
    calendar: list[OfferRound]
    totals: _Totals | None = None
    ads: list[Ad] | None = None
    trusts: list[Trust] | None = None
    countries: dict[str, _Country] | None = None
    appendix4: list[PairCount] | None = None
    groups: _Groups | None = None
    faculties: list[Faculty] | None = None
    # Facts kept for reference and later checks (calibration targets). The ones the model
    # uses are declared; these two are kept as written.
    not_hired: Any = None
    positions_established: Any = None
    long_term_not_hired: list[LongTermCell] | None = None
    rounds_applied: _RoundsApplied | None = None
    ages: _Ages | None = None
    breakdowns: _Breakdowns | None = None

    @model_validator(mode="after")
    def _consistent(self) -> RoundFile:
        _check_calendar(self.calendar, self.round.application_deadline)
        for key in _MARKET:
            if (getattr(self, key) is None) != (self.totals is None):
                raise invalid("missing" if self.totals else "needs [totals]", key)
        if self.totals is not None:
            if self.rounds_applied is None:
                raise invalid("missing (needed to build the applicants)", "rounds_applied")
            self._check_names()
            data = self.round_data("")
            _check_market(data)
            _check_breakdowns(data.breakdowns, data.totals)
        periods = [p.group for p in (self.breakdowns and self.breakdowns.graduation_period) or ()]
        for i, cell in enumerate(
            (self.breakdowns and self.breakdowns.graduation_by_education) or ()
        ):
            if cell.group not in periods:
                raise invalid(
                    f"unknown graduation period {cell.group!r}",
                    *("breakdowns", "graduation_by_education", i, "group"),
                )
        return self

    def _check_names(self) -> None:
        """Appendix 4's countries, the faculties' trusts and cities, table 1's cells."""
        for i, pair in enumerate(self.appendix4):
            for key in ("nationality", "education"):
                if getattr(pair, key) not in self.countries:
                    raise invalid(
                        f"country {getattr(pair, key)!r} is not in [countries]",
                        *("appendix4", i, key),
                    )
            if pair.hired > pair.applicants:
                raise invalid(
                    f"{pair.hired} hired exceeds {pair.applicants} applicants",
                    *("appendix4", i, "hired"),
                )
            if pair.added:
                raise invalid("unknown key", "appendix4", i, "added")
        names = [t.name for t in self.trusts]
        cities: list[str] = []
        for i, faculty in enumerate(self.faculties):
            if faculty.city in cities:
                raise invalid(f"faculty {faculty.city!r} is listed twice", "faculties", i, "city")
            cities.append(faculty.city)
            for k, name in enumerate(faculty.university_trusts):
                if name not in names:
                    raise invalid(
                        f"trust {name!r} is not in [[trusts]]",
                        *("faculties", i, "university_trusts", k),
                    )
        for city in STUDY_CITIES:
            if city not in cities:
                raise invalid(f"faculty {city!r} is missing", "faculties")
        cells = {(c.nationality, c.education) for c in self.groups.cross}
        if len(cells) != 9:
            raise invalid(
                f"needs the 9 nationality x education cells, got {len(cells)}", "groups", "cross"
            )

    def round_data(self, file: str) -> RoundData:
        """The round as the model uses it, read from ``file``."""
        head = self.round
        notes: dict[str, object] = {
            k: getattr(self, k)
            for k in ("not_hired", "positions_established")
            if getattr(self, k) is not None
        }
        if self.long_term_not_hired is not None:
            notes["long_term_not_hired"] = tuple(self.long_term_not_hired)
        if self.rounds_applied is not None:
            notes["rounds_applied"] = self.rounds_applied.model_dump()
        if self.ages is not None:
            notes["ages"] = self.ages.model_dump()
        market: dict = {}
        if self.totals is not None:
            faculties = {f.city: f for f in self.faculties}
            market = dict(
                totals=dict(self.totals),
                ads=tuple(self.ads),
                trusts=tuple(self.trusts),
                countries={name: c.group for name, c in self.countries.items()},
                appendix4=tuple(self.appendix4),
                faculties=tuple(faculties[c] for c in STUDY_CITIES),
                groups={
                    "nationality": {g: self.groups.nationality[g].pair() for g in GROUPS},
                    "education": {g: self.groups.education[g].pair() for g in GROUPS},
                    "cross": {(c.nationality, c.education): c.pair() for c in self.groups.cross},
                },
            )
        if self.breakdowns is not None:
            market["breakdowns"] = _breakdowns(self.breakdowns, market.get("totals"))
        return RoundData(
            name=head.name,
            season=head.season,
            year=head.year,
            start_date=head.start_date,
            application_deadline=head.application_deadline,
            calendar=tuple(self.calendar),
            file=file,
            after_calendar_rounds=head.after_calendar_rounds,
            params=None if head.params is None else str(params_path(head.params, file)),
            notes=notes,
            **market,
        )


def params_path(name_or_path: str, round_file: str) -> Path:
    """The parameter file a round file names (``[round] params``): a path, relative to the
    round file's folder, when it ends in ``.toml`` or has a ``/``; else a built-in parameter
    file's name (``configs/params/<name>.toml``)."""
    if name_or_path.endswith(".toml") or "/" in name_or_path:
        return Path(round_file).parent / name_or_path
    return configs_dir() / "params" / f"{name_or_path}.toml"


def round_path(name_or_path: str | Path) -> Path:
    """The path itself when it ends in ``.toml`` or has a ``/``, else the built-in round of that
    name (``configs/rounds/<name>.toml``, shipped in the package)."""
    text = str(name_or_path)
    if text.endswith(".toml") or "/" in text:
        return Path(text)
    return builtin_round(text)


def load_round(source: str | Path | Document | RoundData) -> RoundData:
    """Read and check a round config: a built-in round's name, a path, or a
    :class:`~lis1abm.data.config.Document` already read (a :class:`RoundData` is returned as
    it is).

    Raises
    ------
    ConfigError : the file is missing, malformed, has unknown keys, or its totals disagree.
    """
    if isinstance(source, RoundData):
        return source
    if not isinstance(source, Document):
        path = round_path(source)
        if not path.exists() and not str(source).endswith(".toml"):
            known = ", ".join(known_rounds())
            raise UserError(f"unknown round {str(source)!r} (known: {known})")
        source = read_toml(path)
    return validate(RoundFile, source.data, source.file).round_data(str(source.file))


def _check_calendar(calendar: list[OfferRound], deadline: dt.date) -> None:
    if not calendar:
        raise invalid("needs at least one offer round", "calendar")
    for i, r in enumerate(calendar):
        if not r.offer <= r.reply_by < r.marking_by:
            raise invalid(
                "dates must satisfy offer <= reply_by < marking_by", "calendar", i, "reply_by"
            )
        if r.number != i + 1:
            raise invalid(f"expected {i + 1}, got {r.number}", "calendar", i, "round")
        if i and r.offer <= calendar[i - 1].marking_by - dt.timedelta(days=1):
            raise invalid(
                "offers must come after the previous round's reply deadline",
                *("calendar", i, "offer"),
            )
    if calendar[0].offer <= deadline:
        raise invalid("offers must come after the application deadline", "calendar", 0, "offer")


def _check_market(data: RoundData) -> None:
    """The ads, trusts and appendix 4 add up to the totals and to the report's table 1."""
    totals, ads, trusts, groups = data.totals, data.ads, data.trusts, data.groups
    countries, pairs = data.countries, data.appendix4
    if len({a.id for a in ads}) != len(ads):
        raise invalid("ad ids must be unique", "ads")
    names = [t.name for t in trusts]
    if len(set(names)) != len(names):
        raise invalid("trust names must be unique", "trusts")
    for what, value, want in (
        ("number of [[ads]]", len(ads), totals["ads"]),
        ("number of [[trusts]]", len(trusts), totals["trusts"]),
        ("sum of ads.positions", sum(a.positions for a in ads), totals["positions"]),
        ("sum of ads.applications", sum(a.applications for a in ads), totals["applications"]),
        ("sum of trusts.hired", sum(t.hired for t in trusts), totals["hired"]),
        ("sum of appendix4.applicants", sum(p.applicants for p in pairs), totals["applicants"]),
        ("sum of appendix4.hired", sum(p.hired for p in pairs), totals["hired"]),
    ):
        if value != want:
            raise invalid(f"{what} is {value}, but totals say {want}", "totals")
    for i, a in enumerate(ads):
        if a.trust not in names:
            raise invalid(f"trust {a.trust!r} is not in [[trusts]]", "ads", i, "trust")
    for i, t in enumerate(trusts):
        mine = [a for a in ads if a.trust == t.name]
        for key, value in (
            ("ads", len(mine)),
            ("positions", sum(a.positions for a in mine)),
            ("applications", sum(a.applications for a in mine)),
        ):
            if value != getattr(t, key):
                problem = f"is {getattr(t, key)}, but its ads add up to {value}"
                raise invalid(problem, "trusts", i, key)
        if not max(a.applications for a in mine) <= t.unique_applicants <= t.applications:
            raise invalid(
                "must lie between its largest ad's applications and its applications",
                *("trusts", i, "unique_applicants"),
            )
        if len(mine) > 1 and t.unique_applicants == t.applications:
            raise invalid(
                "a trust with several ads must have fewer unique applicants than applications",
                *("trusts", i, "unique_applicants"),
            )
    for kind, pick in (
        ("nationality", lambda p: countries[p.nationality]),
        ("education", lambda p: countries[p.education]),
    ):
        for g in GROUPS:
            n = sum(p.applicants for p in pairs if pick(p) == g)
            h = sum(p.hired for p in pairs if pick(p) == g)
            if (n, h) != groups[kind][g]:
                raise invalid(
                    f"report says {groups[kind][g]} (applicants, hired) "
                    f"but appendix 4 adds up to {(n, h)}",
                    *("groups", kind, g),
                )
    for (ng, eg), want in groups["cross"].items():
        cell = [p for p in pairs if countries[p.nationality] == ng and countries[p.education] == eg]
        got = (sum(p.applicants for p in cell), sum(p.hired for p in cell))
        if got != want:
            raise invalid(
                f"cell {ng} x {eg}: report says {want} but appendix 4 adds up to {got}",
                *("groups", "cross"),
            )


def largest_remainder(shares, total: int) -> list[int]:
    """Integers proportional to ``shares`` that add up to ``total`` exactly (Hamilton's method;
    ties go to the earlier entry)."""
    weight = sum(shares)
    exact = [s * total / weight for s in shares]
    counts = [int(x) for x in exact]
    order = sorted(range(len(shares)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _breakdowns(b: _Breakdowns, totals: dict | None) -> dict[str, tuple]:
    """The marginal breakdowns; percentages become counts that add up to the totals."""
    n_app = totals["applicants"] if totals else None
    n_hired = totals["hired"] if totals else None
    out: dict[str, tuple] = {}
    if b.gender is not None:
        out["gender"] = tuple(GroupFigure(e.group, e.applicants, e.hired) for e in b.gender)
    if b.age_group is not None:
        out["age_group"] = tuple(
            GroupFigure(e.group, e.applicants, e.hired, e.derived) for e in b.age_group
        )
    if b.graduation_period is not None:
        out["graduation_period"] = tuple(
            GroupFigure(e.group, e.applicants, round(e.hired_share * e.applicants), derived=True)
            for e in b.graduation_period
        )
    if b.graduation_by_education is not None:
        out["graduation_by_education"] = tuple(
            (e.group, e.education, e.share) for e in b.graduation_by_education
        )
    if b.wanted_job is not None:
        groups = [e.group for e in b.wanted_job]
        app_share = [e.applicants_share for e in b.wanted_job]
        hired_share = [e.hired_share for e in b.wanted_job]
        if n_app is None:
            out["wanted_job_shares"] = tuple(zip(groups, app_share, hired_share, strict=True))
        else:
            apps = largest_remainder(app_share, n_app)
            hires = largest_remainder(hired_share, n_hired)
            out["wanted_job"] = tuple(
                GroupFigure(g, a, h, True) for g, a, h in zip(groups, apps, hires, strict=True)
            )
    if b.residence is not None and n_app is not None:
        groups = [e.group for e in b.residence]
        shares = [e.applicants_share for e in b.residence]
        not_hired = [e.not_hired for e in b.residence]
        # The report gives applicant shares for some groups only; the rest of the applicants
        # are split between the other groups in proportion to their not-hired counts.
        known = [i for i, x in enumerate(shares) if x is not None]
        counts = [0] * len(groups)
        for i, c in zip(
            known,
            largest_remainder(
                [shares[i] for i in known], round(sum(shares[i] for i in known) * n_app)
            ),
            strict=True,
        ):
            counts[i] = c
        rest = [i for i in range(len(groups)) if i not in known]
        if rest:
            for i, c in zip(
                rest,
                largest_remainder([not_hired[i] for i in rest], n_app - sum(counts)),
                strict=True,
            ):
                counts[i] = c
        out["residence"] = tuple(
            GroupFigure(g, c, c - nh, True)
            for g, c, nh in zip(groups, counts, not_hired, strict=True)
        )
    return out


def _check_breakdowns(breakdowns: dict[str, tuple], totals: dict[str, int]) -> None:
    """Every marginal breakdown's applicants add up to the applicants, and its hires (when
    counted, not derived from percentages) to the hired."""
    for name, rows in breakdowns.items():
        if name in ("graduation_by_education", "wanted_job_shares"):
            continue
        total_app = sum(r.applicants for r in rows)
        if total_app != totals["applicants"]:
            raise invalid(
                f"applicants add up to {total_app}, expected {totals['applicants']}",
                *("breakdowns", name),
            )
        if all(r.hired is not None for r in rows) and not any(r.derived for r in rows):
            total_hired = sum(r.hired for r in rows)
            if total_hired != totals["hired"]:
                raise invalid(
                    f"hired add up to {total_hired}, expected {totals['hired']}",
                    *("breakdowns", name),
                )


def check_totals(data: RoundData) -> None:
    """Run the loader's checks that tie the round's totals together (ads and trusts to the
    totals, appendix 4 to the totals and the grouped tables, every marginal breakdown to the
    applicants and hires) on a round made in code, such as a scenario's changed copy.

    Raises
    ------
    ConfigError : the first total that does not add up, naming the round's file and key.
    """
    data.require_market()
    try:
        _check_market(data)
        for i, p in enumerate(data.appendix4):
            if not 0 <= p.added <= p.applicants or p.hired > p.applicants:
                raise invalid(f"inconsistent counts {p}", "appendix4", i)
        _check_breakdowns(data.breakdowns, data.totals)
    except PydanticCustomError as error:
        raise config_error(data.file, error) from None
