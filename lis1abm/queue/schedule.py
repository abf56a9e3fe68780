"""The rounds a queue plays: their names, seasons, positions and inflow of new applicants.

Two schedules:

* :func:`projection`: the base round (autumn 2024, as calibrated) and then spring and autumn
  rounds with the settings' positions; new applicants as many as the base round's first-time
  applicants, times the spring factor in spring, times a scenario's growth per group;
* :func:`backcast`: the rounds of the report's history (``configs/history/lis1.toml``) with
  their established positions, from an empty queue after ``burn_in`` rounds played at the
  first round's positions; each education group's inflow moves linearly in time from its
  level at the first round to the base round's (``settings.inflow_then``).
"""

from __future__ import annotations

from dataclasses import dataclass

from lis1abm.data.history import History, next_round, parse_round, previous_round, start_date
from lis1abm.data.round import GROUPS
from lis1abm.queue.settings import QueueSettings

CELLS = tuple(f"{n} x {e}" for n in GROUPS for e in GROUPS)
"""The "nationality x education" groups inflow factors are given for."""


@dataclass(frozen=True)
class RoundSpec:
    """One round of a schedule.

    Attributes
    ----------
    label : e.g. "spring2025"; the base round's own name for the base round.
    season : "spring" or "autumn".
    positions : positions to fill (the base round: None, its own ads and capacity).
    inflow : factor on each group's new applicants (:data:`CELLS`), 1 = the base round's.
    counted : False for the burn-in rounds before a back-cast's first reported round.
    """

    label: str
    season: str
    positions: int | None
    inflow: dict[str, float]
    counted: bool = True

    @classmethod
    def of(cls, label: str, positions: int | None, inflow: dict[str, float], counted=True):
        """The round called ``label`` ("spring2025"), its season read from the name."""
        return cls(label, parse_round(label)[0], positions, inflow, counted)

    @property
    def year(self) -> int:
        return parse_round(self.label)[1]

    @property
    def starts(self) -> float:
        """When its positions start, in years (a spring round of year Y on 1 September Y, an
        autumn round on 1 March Y + 1)."""
        day = start_date(*parse_round(self.label))
        return day.year + (day.month - 1) / 12


def projection(settings: QueueSettings) -> tuple[RoundSpec, ...]:
    """The base round, then the ``settings.rounds`` rounds after it with
    ``settings.positions``."""
    out = [RoundSpec.of(settings.base_round, None, dict.fromkeys(CELLS, 1.0))]
    for _ in range(settings.rounds):
        label = next_round(out[-1].label)
        spring = parse_round(label)[0] == "spring"
        factor = settings.spring_inflow_factor if spring else 1.0
        inflow = {c: factor * settings.inflow_growth.get(c, 1.0) for c in CELLS}
        out.append(RoundSpec.of(label, settings.positions, inflow))
    return tuple(out)


def backcast(settings: QueueSettings, history: History) -> tuple[RoundSpec, ...]:
    """The history's rounds up to the base round, after ``settings.burn_in`` uncounted rounds
    at the first round's positions and inflow level."""
    names = history.rounds()
    names = names[: names.index(settings.base_round) + 1]
    first_year, last_year = parse_round(names[0])[1], parse_round(names[-1])[1]

    def inflow(year: int, season: str) -> dict[str, float]:
        # Each education group's level moves linearly in time from its first-round level to
        # the base round's (factor 1); spring rounds have the season's factor on top.
        w = min(max((year - first_year) / max(last_year - first_year, 1), 0.0), 1.0)
        factor = settings.spring_inflow_factor if season == "spring" else 1.0
        level = {g: settings.inflow_then[g] * (1 - w) + w for g in GROUPS}
        return {c: factor * level[c.split(" x ")[1]] for c in CELLS}

    # Burn-in: the rounds before the first, at its positions and inflow level, uncounted.
    before = [names[0]]
    for _ in range(settings.burn_in):
        before.insert(0, previous_round(before[0]))
    specs = []
    for name in before[:-1]:
        season = parse_round(name)[0]
        spec = RoundSpec.of(name, history.positions(names[0]), inflow(first_year, season), False)
        specs.append(spec)
    for name in names:
        season, year = parse_round(name)
        specs.append(RoundSpec.of(name, history.positions(name), inflow(year, season)))
    return tuple(specs)
