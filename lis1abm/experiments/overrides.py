"""A scenario's overrides applied to the round (:class:`RoundData`) and the parameters.

The round's data are frozen dataclasses; a scenario gets a changed copy
(:func:`dataclasses.replace`), never a changed original. What the engine reads of the calendar
is the number of rounds and each round's reply window (the chance of missing the deadline is
the one-day chance divided by the window's days, :func:`lis1abm.market.ranking.build_market`);
the dates are labels, kept consistent (offers a week apart, marking the day after the reply
deadline) so that the changed round still passes the round file's checks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib

from lis1abm.data.round import OfferRound, RoundData
from lis1abm.data.scaling import scale_positions, spread, with_ad_positions
from lis1abm.errors import ConfigError
from lis1abm.experiments.config import PLACE_KEYS, ExperimentConfig, Scenario
from lis1abm.experiments.growth import grow_applicants
from lis1abm.market.inputs import resolve_inputs
from lis1abm.params import Params, with_overrides
from lis1abm.report.provenance import recorded_path

__all__ = ["resolve", "scale_positions", "settings", "spread", "with_ad_positions", "with_calendar"]

WEEK = dt.timedelta(days=7)
DAY = dt.timedelta(days=1)


def base_inputs(config: ExperimentConfig) -> tuple[RoundData, Params]:
    """The experiment's round and parameters before any scenario's overrides, each file read
    once (:func:`lis1abm.market.inputs.resolve_inputs`).

    Raises
    ------
    ConfigError : a bad round or parameter file.
    """
    data, params = resolve_inputs(config.round, config.params)
    data.require_market()
    return data, params


def resolve(
    config: ExperimentConfig,
    scenario: Scenario,
    base: tuple[RoundData, Params] | None = None,
) -> tuple[RoundData, Params]:
    """The round and the parameters a scenario runs on: ``base`` (default:
    :func:`base_inputs`) with the scenario's overrides.

    Raises
    ------
    ConfigError : an override the round or the parameters reject, naming the experiment file,
        the scenario and the key.
    """
    data, params = base if base is not None else base_inputs(config)
    where = f"scenarios[{scenario.name}]"
    try:
        data = scale_positions(data, scenario.total_positions)
    except ValueError as error:
        raise ConfigError(config.file, f"{where}.total_positions", str(error)) from None
    for key in PLACE_KEYS:
        places = getattr(scenario, key)
        if places and scenario.total_positions is not None:
            raise ConfigError(
                config.file, f"{where}.{key}", "cannot be combined with total_positions (set "
                "the places' totals, or scale every ad with total_positions)",
            )  # fmt: skip
        try:
            data = set_positions(data, places, by_region=key == "region_positions")
        except ValueError as error:
            raise ConfigError(config.file, f"{where}.{key}", str(error)) from None
    if scenario.trust_positions and scenario.region_positions:
        regions = {region_of(data, t) for t in scenario.trust_positions}
        both = regions & set(scenario.region_positions)
        if both:
            raise ConfigError(
                config.file, f"{where}.region_positions", f"sets {sorted(both)[0]!r}, a region "
                "whose trust trust_positions sets too: set one or the other",
            )  # fmt: skip
    data = with_calendar(
        data, scenario.calendar_rounds, scenario.reply_window_days, scenario.after_calendar_rounds
    )
    values = dict(scenario.params)
    if scenario.total_positions is not None:
        rule = values.setdefault("capacity.rule", "positions")
        if rule != "positions":
            raise ConfigError(
                config.file,
                f'{where}.params."capacity.rule"',
                f'total_positions needs the capacity rule "positions", got {rule!r}',
            )
    try:
        params = with_overrides(params, values)
        params.check_round(data)
    except ConfigError as error:
        raise ConfigError(config.file, f'{where}.params."{error.key}"', error.problem) from None
    # Growth last: the added applicants' graduation periods follow the parameters' table.
    abroad, norway = scenario.growth_educated_abroad, scenario.growth_educated_in_norway
    try:
        data = grow_applicants(data, params, abroad=abroad or 0.0, norway=norway or 0.0)
    except (ValueError, ConfigError) as error:
        key = "growth_educated_abroad" if abroad else "growth_educated_in_norway"
        raise ConfigError(config.file, f"{where}.{key}", str(error)) from None
    return data, params


def set_positions(data: RoundData, totals: dict[str, int], by_region: bool = False) -> RoundData:
    """The round with some trusts' (or, ``by_region``, health regions') positions set to a
    total each, spread over the place's ads in proportion to the round's (largest remainder,
    at least one an ad); the trusts' positions and the round's total follow. The capacity
    rule is the parameters' (``report_hires`` adds each trust's extra hires in the report to
    its positions, so positions added are hires allowed).

    Raises
    ------
    ValueError : an unknown trust or region (naming the closest), a total that is not a
        whole number (a factor: saying the total it would make), or a total below the
        place's number of ads.
    """
    if not totals:
        return data
    place = [a.region if by_region else a.trust for a in data.ads]
    known = list(dict.fromkeys(place))
    counts = [a.positions for a in data.ads]
    kind = "region" if by_region else "trust"
    for name, total in totals.items():
        if name not in known:
            raise ValueError(unknown_place(name, known, kind))
        ads = [j for j, p in enumerate(place) if p == name]
        if not isinstance(total, int):
            raise ValueError(not_a_total(name, total, sum(counts[j] for j in ads), kind))
        if total < len(ads):
            raise ValueError(f"{name!r}: {total} positions for {len(ads)} ads (at least 1 each)")
        for j, n in zip(ads, spread([counts[j] for j in ads], total), strict=True):
            counts[j] = n
    return with_ad_positions(data, counts)


def unknown_place(name: str, known: list[str], kind: str) -> str:
    """The problem of an unknown trust or region: the three closest names (many trusts share
    a word, "Helse ..."), else every name ``known``."""
    close = [repr(c) for c in difflib.get_close_matches(name, known, n=3, cutoff=0.4)]
    if not close:
        return f"unknown {kind} {name!r} (known: {', '.join(known)})"
    choices = close[0] if len(close) == 1 else f"{', '.join(close[:-1])} or {close[-1]}"
    return f"unknown {kind} {name!r}; did you mean {choices}?"


def not_a_total(name: str, total: float, now: int, kind: str) -> str:
    """The problem of a place's positions that are not a whole number. A value below 10 reads
    as a factor (1.10: 10 % more), so the message gives the total it would make of the
    place's ``now`` positions."""
    factor = f"; a factor of {total} would make {round(total * now)}" if total < 10 else ""
    return f"{name!r} = {total}: a whole number, the {kind}'s total positions ({now} now{factor})"


def region_of(data: RoundData, trust: str) -> str | None:
    """The health region of a trust's ads (None for a trust the round lacks)."""
    return next((a.region for a in data.ads if a.trust == trust), None)


def with_calendar(
    data: RoundData,
    rounds: int | None = None,
    reply_window_days: int | None = None,
    after_calendar_rounds: int | None = None,
) -> RoundData:
    """The round with another offer calendar: its first ``rounds`` rounds, or its rounds and
    more (a week apart, the last round's reply window); every round's reply window set to
    ``reply_window_days``; at most ``after_calendar_rounds`` rounds after the calendar. None
    keeps what the round has. An offer day that would fall before the previous round's
    reply deadline (a longer window) moves to the day after it."""
    if rounds is None and reply_window_days is None:
        calendar = data.calendar
    else:
        old = data.calendar
        calendar_list: list[OfferRound] = []
        for i in range(rounds or len(old)):
            previous = calendar_list[-1] if calendar_list else None
            offer = old[i].offer if i < len(old) else previous.offer + WEEK
            if previous is not None and offer <= previous.reply_by:
                offer = previous.reply_by + DAY
            window = reply_window_days or old[min(i, len(old) - 1)].reply_window_days
            reply_by = offer + window * DAY
            calendar_list.append(OfferRound(i + 1, offer, reply_by, reply_by + DAY))
        calendar = tuple(calendar_list)
    after = data.after_calendar_rounds if after_calendar_rounds is None else after_calendar_rounds
    return dataclasses.replace(data, calendar=calendar, after_calendar_rounds=after)


def settings(data: RoundData, params: Params) -> dict:
    """What a scenario runs with, as plain data for ``meta.json`` and the figures' axes."""
    return {
        "applicants": sum(p.applicants for p in data.appendix4),
        "total_positions": sum(a.positions for a in data.ads),
        "capacity_rule": params.capacity.rule,
        "calendar_rounds": len(data.calendar),
        "reply_window_days": [r.reply_window_days for r in data.calendar],
        "offer_days": [(r.offer - data.calendar[0].offer).days for r in data.calendar],
        "after_calendar_rounds": data.after_calendar_rounds,
        "late_marking_probability": params.behaviour.late_marking_probability,
        "params_file": recorded_path(params.file),
    }
