"""The application round as data: ads, trusts, calendar and the report's figures.

:func:`load_round` reads a built-in round (``configs/rounds/<name>.toml``, shipped in the
package: :mod:`lis1abm.data.files`) or a round file given by path with the strict reader, and
checks that the report's totals add up, so a typo in the data is caught with the file and key
named.

Group labels (nationality and education country groups) are :data:`GROUPS`. Breakdowns whose
report figures are percentages carry both the percentage and the count derived from it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from lis1abm.data.files import builtin_round, known_rounds
from lis1abm.data.toml import Section, read_toml
from lis1abm.errors import ConfigError, UserError

GROUPS = ("Norway", "EEA+UK", "Outside EEA")
"""Nationality and education-country groups, in the report's order."""

REGIONS = ("Sør-Øst", "Vest", "Midt-Norge", "Nord")
"""The four regional health authorities (RHF)."""

STUDY_CITIES = ("Oslo", "Bergen", "Trondheim", "Tromsø")
"""The four Norwegian medical faculties' cities (general knowledge, not from the report)."""

MAX_AFTER_CALENDAR = 50
"""Most offer rounds after the calendar a round file may ask for: every replication's cascade
holds a row per round (and the summaries a histogram per round and field), and on the autumn
2024 market offers stop within a few rounds even at 130 % of the positions."""


@dataclass(frozen=True)
class OfferRound:
    """One offer round (tilbudsrunde): offers go out, replies are due, marking is due at 12:00."""

    number: int
    offer: dt.date
    reply_by: dt.date
    marking_by: dt.date

    @property
    def reply_window_days(self) -> int:
        """Days between the offer and the reply deadline (1-4 in 2024)."""
        return (self.reply_by - self.offer).days


@dataclass(frozen=True)
class Ad:
    """One job ad (stillingsannonse) with its positions and the applications it received."""

    id: str
    trust: str
    site: str
    region: str
    positions: int
    applications: int
    urban: bool

    @property
    def label(self) -> str:
        return f"{self.trust} - {self.site}" if self.site else self.trust


@dataclass(frozen=True)
class Trust:
    """A health trust (helseforetak): report appendix 1."""

    name: str
    ads: int
    positions: int
    applications: int
    unique_applicants: int
    hired: int


@dataclass(frozen=True)
class Faculty:
    """A Norwegian medical faculty: its city, the region (RHF) it lies in and the trusts of
    its university hospital(s), where its students do their clinical placements. General
    knowledge kept in the round file (trust names are the round's), not a report figure."""

    city: str
    region: str
    university_trusts: tuple[str, ...]


@dataclass(frozen=True)
class PairCount:
    """Applicants and hires of one nationality x education-country pair (appendix 4).

    ``added``: applicants of ``applicants`` added by an applicant-growth scenario (0 in a round
    file); the population gives them ids after every applicant of the round, so that the
    round's applicants keep their ids (and their random numbers)."""

    nationality: str
    education: str
    applicants: int
    hired: int
    added: int = 0


@dataclass(frozen=True)
class LongTermCell:
    """One cell of the report's table 2: not-hired applicants who had applied in four or more
    rounds, by education group, nationality group and age group (the report's label, e.g.
    "50-59")."""

    education: str
    nationality: str
    age_group: str
    count: int


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


def round_path(name_or_path: str | Path) -> Path:
    """The path itself when it ends in ``.toml`` or has a ``/``, else the built-in round of that
    name (``configs/rounds/<name>.toml``, shipped in the package)."""
    text = str(name_or_path)
    if text.endswith(".toml") or "/" in text:
        return Path(text)
    return builtin_round(text)


def load_round(name_or_path: str | Path) -> RoundData:
    """Read and check a round config.

    Raises
    ------
    ConfigError : the file is missing, malformed, has unknown keys, or its totals disagree.
    """
    path = round_path(name_or_path)
    if not path.exists() and not str(name_or_path).endswith(".toml"):
        raise UserError(f"unknown round {str(name_or_path)!r} (known: {', '.join(known_rounds())})")
    top = Section(path, read_toml(path))
    head = top.section("round")
    name = head.get("name", str)
    season = head.get("season", str, choices=("spring", "autumn"))
    year = head.get("year", int)
    start = head.get("start_date", dt.date)
    for key in ("ads_ready", "published_from", "published_to", "source"):
        head.get(key, str if key == "source" else dt.date, None)
    deadline = head.get("application_deadline", dt.date)
    after = head.get("after_calendar_rounds", int)
    if after > MAX_AFTER_CALENDAR:
        raise head.error(
            "after_calendar_rounds", f"must be at most {MAX_AFTER_CALENDAR}, got {after}"
        )
    head.done()

    calendar = tuple(_offer_round(s) for s in top.sections("calendar"))
    _check_calendar(path, calendar, deadline)

    kwargs: dict = {}
    if top.has("totals"):
        kwargs = _market(top, path)
    # Facts kept for reference and later checks (calibration targets). The ones the model
    # uses are read strictly here; the rest are kept as written.
    notes = {k: top.get(k, object) for k in ("not_hired", "positions_established") if top.has(k)}
    if top.has("long_term_not_hired"):
        cells = []
        for s in top.sections("long_term_not_hired"):
            cells.append(
                LongTermCell(
                    s.get("education", str, choices=GROUPS),
                    s.get("nationality", str, choices=GROUPS),
                    s.get("age_group", str),
                    s.get("count", int),
                )
            )
            s.done()
        notes["long_term_not_hired"] = tuple(cells)
    if top.has("rounds_applied"):
        s = top.section("rounds_applied")
        notes["rounds_applied"] = {
            "more_than_five_share": s.get("more_than_five_share", float, unit_interval=True)
        }
        s.done()
    if top.has("ages"):
        s = top.section("ages")
        notes["ages"] = {
            k: s.get(k, float)
            for k in ("applicants_mean", "hired_mean", "not_hired_mean_women", "not_hired_mean_men")
        }
        notes["ages"] |= {
            k: s.get(k, float, unit_interval=True)
            for k in (
                "under30_share_of_applicants",
                "under30_share_of_not_hired",
                "hired_23_29_share",
            )
        }
        notes["ages"]["not_hired_share"] = s.get("not_hired_share", dict)
        s.done()
    if top.has("breakdowns"):
        kwargs["breakdowns"] = _breakdowns(top.section("breakdowns"), kwargs.get("totals"))
    top.done()
    if top.has("totals") and "rounds_applied" not in notes:
        raise ConfigError(path, "rounds_applied", "missing (needed to build the applicants)")
    return RoundData(
        name=name,
        season=season,
        year=year,
        start_date=start,
        application_deadline=deadline,
        calendar=calendar,
        file=str(path),
        after_calendar_rounds=after,
        notes=notes,
        **kwargs,
    )


def _offer_round(s: Section) -> OfferRound:
    r = OfferRound(
        s.get("round", int, positive=True),
        s.get("offer", dt.date),
        s.get("reply_by", dt.date),
        s.get("marking_by", dt.date),
    )
    s.done()
    if not r.offer <= r.reply_by < r.marking_by:
        raise s.error("reply_by", "dates must satisfy offer <= reply_by < marking_by")
    return r


def _check_calendar(path: Path, calendar: tuple[OfferRound, ...], deadline: dt.date) -> None:
    if not calendar:
        raise ConfigError(path, "calendar", "needs at least one offer round")
    for i, r in enumerate(calendar):
        if r.number != i + 1:
            raise ConfigError(path, f"calendar[{i}].round", f"expected {i + 1}, got {r.number}")
        if i and r.offer <= calendar[i - 1].marking_by - dt.timedelta(days=1):
            raise ConfigError(
                path,
                f"calendar[{i}].offer",
                "offers must come after the previous round's reply deadline",
            )
    if calendar[0].offer <= deadline:
        raise ConfigError(
            path, "calendar[0].offer", "offers must come after the application deadline"
        )


def _market(top: Section, path: Path) -> dict:
    tot = top.section("totals")
    totals = {
        k: tot.get(k, int, positive=True)
        for k in ("applicants", "positions", "ads", "trusts", "applications", "hired")
    }
    tot.done()

    ads = []
    for s in top.sections("ads"):
        ads.append(
            Ad(
                s.get("id", str),
                s.get("trust", str),
                s.get("site", str),
                s.get("region", str, choices=REGIONS),
                s.get("positions", int, positive=True),
                s.get("applications", int, positive=True),
                s.get("urban", bool),
            )
        )
        s.done()
    trusts = []
    for s in top.sections("trusts"):
        trusts.append(
            Trust(
                s.get("name", str),
                s.get("ads", int, positive=True),
                s.get("positions", int, positive=True),
                s.get("applications", int, positive=True),
                s.get("unique_applicants", int, positive=True),
                s.get("hired", int),
            )
        )
        s.done()
    countries = {}
    csec = top.section("countries")
    for country in list(csec.data):
        entry = csec.section(country)
        countries[country] = entry.get("group", str, choices=GROUPS)
        entry.get("report_name", str)
        entry.done()
    csec.done()
    pairs = []
    for s in top.sections("appendix4"):
        pair = PairCount(
            s.get("nationality", str),
            s.get("education", str),
            s.get("applicants", int, positive=True),
            s.get("hired", int),
        )
        for key in ("nationality", "education"):
            if getattr(pair, key) not in countries:
                raise s.error(key, f"country {getattr(pair, key)!r} is not in [countries]")
        if pair.hired > pair.applicants:
            raise s.error("hired", f"{pair.hired} hired exceeds {pair.applicants} applicants")
        pairs.append(pair)
        s.done()
    groups = _groups(top.section("groups"))
    faculties = _faculties(top, names=[t.name for t in trusts])

    _check_market(path, totals, ads, trusts, countries, pairs, groups)
    return dict(
        totals=totals,
        ads=tuple(ads),
        trusts=tuple(trusts),
        countries=countries,
        appendix4=tuple(pairs),
        faculties=faculties,
        groups=groups,
    )


def _faculties(top: Section, names: list[str]) -> tuple[Faculty, ...]:
    """The ``[[faculties]]``: each of :data:`STUDY_CITIES` exactly once, its region an RHF and
    its university trusts trusts of the round; returned in :data:`STUDY_CITIES` order."""
    found: dict[str, Faculty] = {}
    for s in top.sections("faculties"):
        city = s.get("city", str, choices=STUDY_CITIES)
        if city in found:
            raise s.error("city", f"faculty {city!r} is listed twice")
        trusts = s.get("university_trusts", list)
        for k, name in enumerate(trusts):
            if name not in names:
                raise s.error(f"university_trusts[{k}]", f"trust {name!r} is not in [[trusts]]")
        found[city] = Faculty(city, s.get("region", str, choices=REGIONS), tuple(trusts))
        s.done()
    for city in STUDY_CITIES:
        if city not in found:
            raise top.error("faculties", f"faculty {city!r} is missing")
    return tuple(found[c] for c in STUDY_CITIES)


def _groups(s: Section) -> dict[str, dict]:
    """The report's grouped totals: {'nationality': {g: (n, h)}, 'education': ..., 'cross':
    {(nat, edu): (n, h)}}."""
    out: dict[str, dict] = {}
    for kind in ("nationality", "education"):
        sub = s.section(kind)
        out[kind] = {}
        for g in GROUPS:
            entry = sub.section(g)
            out[kind][g] = (entry.get("applicants", int), entry.get("hired", int))
            entry.done()
        sub.done()
    out["cross"] = {}
    for c in s.sections("cross"):
        key = (c.get("nationality", str, choices=GROUPS), c.get("education", str, choices=GROUPS))
        out["cross"][key] = (c.get("applicants", int), c.get("hired", int))
        c.done()
    if len(out["cross"]) != 9:
        raise s.error(
            "cross", f"needs the 9 nationality x education cells, got {len(out['cross'])}"
        )
    s.done()
    return out


def _check_market(path, totals, ads, trusts, countries, pairs, groups) -> None:
    def fail(key: str, problem: str):
        raise ConfigError(path, key, problem)

    if len({a.id for a in ads}) != len(ads):
        fail("ads", "ad ids must be unique")
    names = [t.name for t in trusts]
    if len(set(names)) != len(names):
        fail("trusts", "trust names must be unique")
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
            fail("totals", f"{what} is {value}, but totals say {want}")
    for i, a in enumerate(ads):
        if a.trust not in names:
            fail(f"ads[{i}].trust", f"trust {a.trust!r} is not in [[trusts]]")
    for i, t in enumerate(trusts):
        mine = [a for a in ads if a.trust == t.name]
        for key, value in (
            ("ads", len(mine)),
            ("positions", sum(a.positions for a in mine)),
            ("applications", sum(a.applications for a in mine)),
        ):
            if value != getattr(t, key):
                fail(f"trusts[{i}].{key}", f"is {getattr(t, key)}, but its ads add up to {value}")
        if not max(a.applications for a in mine) <= t.unique_applicants <= t.applications:
            fail(
                f"trusts[{i}].unique_applicants",
                "must lie between its largest ad's applications and its applications",
            )
        if len(mine) > 1 and t.unique_applicants == t.applications:
            fail(
                f"trusts[{i}].unique_applicants",
                "a trust with several ads must have fewer unique applicants than applications",
            )
    for kind, pick in (
        ("nationality", lambda p: countries[p.nationality]),
        ("education", lambda p: countries[p.education]),
    ):
        for g in GROUPS:
            n = sum(p.applicants for p in pairs if pick(p) == g)
            h = sum(p.hired for p in pairs if pick(p) == g)
            if (n, h) != groups[kind][g]:
                fail(
                    f"groups.{kind}.{g}",
                    f"report says {groups[kind][g]} (applicants, hired) "
                    f"but appendix 4 adds up to {(n, h)}",
                )
    for (ng, eg), want in groups["cross"].items():
        n = sum(
            p.applicants
            for p in pairs
            if countries[p.nationality] == ng and countries[p.education] == eg
        )
        h = sum(
            p.hired
            for p in pairs
            if countries[p.nationality] == ng and countries[p.education] == eg
        )
        if (n, h) != want:
            fail(
                "groups.cross",
                f"cell {ng} x {eg}: report says {want} but appendix 4 adds up to {(n, h)}",
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


def _breakdowns(s: Section, totals: dict | None) -> dict[str, tuple[GroupFigure, ...]]:
    """Read the marginal breakdowns; percentages become counts that add up to the totals."""
    n_app = totals["applicants"] if totals else None
    n_hired = totals["hired"] if totals else None
    out: dict[str, tuple] = {}

    if s.has("gender"):
        rows = []
        for e in s.sections("gender"):
            rows.append(
                GroupFigure(e.get("group", str), e.get("applicants", int), e.get("hired", int))
            )
            e.done()
        out["gender"] = tuple(rows)

    if s.has("age_group"):
        rows = []
        for e in s.sections("age_group"):
            rows.append(
                GroupFigure(
                    e.get("group", str),
                    e.get("applicants", int),
                    e.get("hired", int),
                    e.get("derived", bool, False),
                )
            )
            e.get("note", str, None)
            e.done()
        out["age_group"] = tuple(rows)

    if s.has("graduation_period"):
        rows = []
        for e in s.sections("graduation_period"):
            n = e.get("applicants", int)
            share = e.get("hired_share", float, unit_interval=True)
            e.get("share_of_hired", float, None, unit_interval=True)
            rows.append(GroupFigure(e.get("group", str), n, round(share * n), derived=True))
            e.done()
        out["graduation_period"] = tuple(rows)

    if s.has("graduation_by_education"):
        cells = []
        for e in s.sections("graduation_by_education"):
            cells.append(
                (
                    e.get("group", str),
                    e.get("education", str, choices=GROUPS),
                    e.get("share", float, unit_interval=True),
                )
            )
            e.get("note", str, None)
            e.done()
        periods = {g.group for g in out.get("graduation_period", ())}
        for i, (period, _, _) in enumerate(cells):
            if period not in periods:
                raise ConfigError(
                    s.file,
                    f"breakdowns.graduation_by_education[{i}].group",
                    f"unknown graduation period {period!r}",
                )
        out["graduation_by_education"] = tuple(cells)

    if s.has("wanted_job"):
        entries = s.sections("wanted_job")
        groups = [e.get("group", str) for e in entries]
        app_share = [e.get("applicants_share", float, unit_interval=True) for e in entries]
        hired_share = [e.get("hired_share", float, unit_interval=True) for e in entries]
        for e in entries:
            e.done()
        if n_app is None:
            out["wanted_job_shares"] = tuple(zip(groups, app_share, hired_share, strict=True))
        else:
            apps = largest_remainder(app_share, n_app)
            hires = largest_remainder(hired_share, n_hired)
            out["wanted_job"] = tuple(
                GroupFigure(g, a, h, True) for g, a, h in zip(groups, apps, hires, strict=True)
            )

    if s.has("residence") and n_app is not None:
        entries = s.sections("residence")
        groups = [e.get("group", str) for e in entries]
        shares = [e.get("applicants_share", float, None, unit_interval=True) for e in entries]
        not_hired = [e.get("not_hired", int) for e in entries]
        for e in entries:
            e.done()
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

    s.done()
    if totals:
        _check_breakdowns(s.file, out, totals)
    return out


def _check_breakdowns(path, breakdowns: dict[str, tuple], totals: dict[str, int]) -> None:
    """Every marginal breakdown's applicants add up to the applicants, and its hires (when
    counted, not derived from percentages) to the hired."""
    for name, rows in breakdowns.items():
        if name in ("graduation_by_education", "wanted_job_shares"):
            continue
        total_app = sum(r.applicants for r in rows)
        if total_app != totals["applicants"]:
            raise ConfigError(
                path,
                f"breakdowns.{name}",
                f"applicants add up to {total_app}, expected {totals['applicants']}",
            )
        if all(r.hired is not None for r in rows) and not any(r.derived for r in rows):
            total_hired = sum(r.hired for r in rows)
            if total_hired != totals["hired"]:
                raise ConfigError(
                    path,
                    f"breakdowns.{name}",
                    f"hired add up to {total_hired}, expected {totals['hired']}",
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
    _check_market(
        Path(data.file),
        data.totals,
        list(data.ads),
        list(data.trusts),
        data.countries,
        list(data.appendix4),
        data.groups,
    )
    for i, p in enumerate(data.appendix4):
        if not 0 <= p.added <= p.applicants or p.hired > p.applicants:
            raise ConfigError(data.file, f"appendix4[{i}]", f"inconsistent counts {p}")
    _check_breakdowns(data.file, data.breakdowns, data.totals)
