"""Synthetic applicants: one per applicant of the report, matching its counts exactly.

Appendix 4 fixes each applicant's nationality and education country. The attributes the report
gives only as marginals are drawn so that the marginal counts are met exactly, with the
dependencies below (each an assumption, documented where it is made):

* graduation period x education group: the two newest periods follow the report's text
  (3.1.3); the older periods are an IPF fit of a prior (params) to the report's totals;
* age follows from the age at graduation plus the time since graduation; the report's age
  groups are then met exactly by rank, so older goes with earlier graduation;
* rounds applied follow from the time since graduation and a repeat probability, with exactly
  the report's 6 % having applied more than five times, chosen among the longest persisters;
  every cell of the report's table 2 (not hired with four or more rounds) is then given enough
  applicants with four or more rounds (``long_term_hire_ratio``), again the longest persisters;
* the Norway-educated studied in one of the four faculty cities, with exactly the configured
  shares; a share of those living in Norway have the study city's region as home region;
* men are the older applicants to the degree ``men_age_link`` says (the report gives the not
  hired's mean age by gender, 5.1); wanted job is independent of the rest (no joint figure);
* residence abroad goes first to foreign Nordic nationals (other Nordic), then to other foreign
  nationals; home region (for residents of Norway) is drawn from population shares;
* a latent Norwegian proficiency follows nationality, education in Norway and residence.

All draws come from :mod:`lis1abm.rng` with replication 0: the population is a function of the
round data, the parameters and the seed.
"""

from __future__ import annotations

import datetime as dt
import math
import re

import numpy as np
import pandas as pd

from lis1abm.data.round import GROUPS, REGIONS, STUDY_CITIES, RoundData, largest_remainder
from lis1abm.params import Params
from lis1abm.rng import Stream, normal, uniform

NORDIC = ("Denmark", "Sweden", "Finland", "Iceland")
"""Nordic countries other than Norway (for residence and proficiency)."""

COLUMNS = (
    "id",
    "nationality",
    "education_country",
    "nationality_group",
    "education_group",
    "gender",
    "graduation_period",
    "period_index",
    "years_since_graduation",
    "age",
    "age_group",
    "rounds_applied",
    "wanted_job",
    "residence",
    "home_region",
    "study_city",
    "study_region",
    "proficiency",
)


def build_population(data: RoundData, params: Params, seed: int) -> pd.DataFrame:
    """One row per applicant, ids 0..N-1 in appendix 4's order (then the applicants a
    growth scenario added, :attr:`PairCount.added`, in the same order).

    Columns (units): ``nationality``, ``education_country`` (English country names; education
    outside the EU/EEA is one category), their groups (:data:`GROUPS`), ``gender``,
    ``graduation_period`` (report label) and ``period_index`` (0 = newest),
    ``years_since_graduation`` (years before the round's start date), ``age`` (whole years),
    ``age_group``, ``rounds_applied`` (this one included), ``wanted_job``, ``residence``,
    ``home_region`` (RHF, or "" for residents abroad), ``study_city`` (one of
    :data:`STUDY_CITIES` for the Norway-educated, else ""), ``study_region`` (its faculty's
    RHF, or ""), ``proficiency`` (0..1).
    """
    data.require_market()
    pop = _from_appendix4(data)
    n = len(pop)
    ids = np.arange(n)
    pp = params.population

    periods = data.breakdowns["graduation_period"]
    table = graduation_table(data, params)
    pop["period_index"] = _assign_by_group(
        pop["education_group"].to_numpy(), table, uniform(seed, 0, Stream.GRADUATION, ids)
    )
    pop["graduation_period"] = [periods[k].group for k in pop["period_index"]]

    # Time since graduation: uniform inside the period; the open-ended oldest period gets an
    # exponential tail beyond its end.
    bounds = [_period_bounds(p.group, data.start_date) for p in periods]
    u = uniform(seed, 0, Stream.AGE, ids, 1)
    lo = np.array([bounds[k][0] for k in pop["period_index"]])
    hi = np.array([bounds[k][1] for k in pop["period_index"]])
    years = np.where(
        np.isinf(hi),
        lo - pp.years_before_2020_mean * np.log1p(-u),
        lo + u * (np.where(np.isinf(hi), lo, hi) - lo),
    )
    pop["years_since_graduation"] = years

    age_at_grad = np.array([pp.age_at_graduation_mean[g] for g in pop["education_group"]])
    latent_age = age_at_grad + pp.age_at_graduation_sd * normal(seed, 0, Stream.AGE, ids, 2) + years
    pop["age"], pop["age_group"] = _ages(latent_age, data.breakdowns["age_group"])

    pop["rounds_applied"] = _rounds_applied(pop, data, pp.repeat_probability, pp, seed)
    pop["gender"] = _gender(data.breakdowns["gender"], latent_age, pp.men_age_link, seed)
    pop["wanted_job"] = _exact_labels(
        data.breakdowns["wanted_job"], uniform(seed, 0, Stream.WANTED_JOB, ids)
    )
    pop["residence"] = _residence(pop, data, uniform(seed, 0, Stream.RESIDENCE, ids))

    shares = np.array([pp.home_region_shares[r] for r in REGIONS])
    cum = np.cumsum(shares / shares.sum())
    region = np.minimum(
        np.searchsorted(cum, uniform(seed, 0, Stream.HOME_REGION, ids), side="right"),
        len(REGIONS) - 1,
    )
    home = np.array(REGIONS, dtype=object)[region]
    pop["study_city"] = _study_city(pop, params, uniform(seed, 0, Stream.STUDY_CITY, ids))
    faculty_region = {f.city: f.region for f in data.faculties}
    pop["study_region"] = [faculty_region.get(c, "") for c in pop["study_city"]]
    # Many of the Norway-educated stay in (or came from) their study city's region.
    stay = (pop["study_city"] != "").to_numpy() & (
        uniform(seed, 0, Stream.STUDY_CITY, ids, 1) < pp.stay_in_study_region
    )
    home = np.where(stay, pop["study_region"].to_numpy(), home)
    pop["home_region"] = np.where(pop["residence"] == "Norway", home, "")

    pop["proficiency"] = _proficiency(pop, params, normal(seed, 0, Stream.PROFICIENCY, ids))
    return pop[list(COLUMNS)]


def _from_appendix4(data: RoundData) -> pd.DataFrame:
    # The round's applicants in appendix 4's order, then those an applicant-growth scenario
    # added (``PairCount.added``), so that the round's applicants keep their ids.
    rows = [
        (p.nationality, p.education) for p in data.appendix4 for _ in range(p.applicants - p.added)
    ]
    rows += [(p.nationality, p.education) for p in data.appendix4 for _ in range(p.added)]
    pop = pd.DataFrame(rows, columns=["nationality", "education_country"])
    pop.insert(0, "id", np.arange(len(pop)))
    pop["nationality_group"] = pop["nationality"].map(data.countries)
    pop["education_group"] = pop["education_country"].map(data.countries)
    return pop


def graduation_table(data: RoundData, params: Params) -> np.ndarray:
    """Applicants by education group (rows, :data:`GROUPS`) and graduation period (columns,
    newest first), with the report's row and column totals exactly. Integer array (3, P)."""
    periods = [p.group for p in data.breakdowns["graduation_period"]]
    col_tot = np.array([p.applicants for p in data.breakdowns["graduation_period"]])
    row_tot = np.array([data.groups["education"][g][0] for g in GROUPS])
    table = np.zeros((len(GROUPS), len(periods)), dtype=np.int64)
    fixed = set()
    for period in periods:
        cells = [
            (e, s) for p, e, s in data.breakdowns.get("graduation_by_education", ()) if p == period
        ]
        if cells:
            j = periods.index(period)
            counts = largest_remainder([s for _, s in cells], int(col_tot[j]))
            for (edu, _), c in zip(cells, counts, strict=True):
                table[GROUPS.index(edu), j] = c
            fixed.add(j)
    free = [j for j in range(len(periods)) if j not in fixed]
    prior = np.array([params.population.graduation_prior[g] for g in GROUPS])
    if prior.shape[1] != len(free):
        raise ValueError(
            f"graduation_prior has {prior.shape[1]} weights but the round has "
            f"{len(free)} periods without a split by education"
        )
    rows_left = row_tot - table.sum(axis=1)
    table[:, free] = round_table(ipf(prior, rows_left, col_tot[free]), rows_left, col_tot[free])
    return table


def ipf(prior: np.ndarray, rows: np.ndarray, cols: np.ndarray, iters: int = 500) -> np.ndarray:
    """Iterative proportional fitting of a non-negative matrix to row and column totals."""
    m = prior.astype(float) + 1e-12
    for _ in range(iters):
        m *= _ratio(rows, m.sum(axis=1))[:, None]
        m *= _ratio(cols, m.sum(axis=0))[None, :]
    return m


def _ratio(want: np.ndarray, have: np.ndarray) -> np.ndarray:
    # A row or column whose total is zero stays zero (0 / 0 would be NaN).
    return np.divide(want, have, out=np.zeros_like(have), where=have > 0)


def round_table(m: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Round a real matrix to integers with exactly the given row and column totals.

    Floors every cell, hands out the missing units to the cells with the largest fractional
    parts while their row and column still miss units, then fills what is left by the
    north-west corner rule (always feasible when the totals agree).
    """
    out = np.floor(m).astype(np.int64)
    need_r = rows - out.sum(axis=1)
    need_c = cols - out.sum(axis=0)
    frac = m - out
    for flat in np.argsort(-frac, axis=None, kind="stable"):
        i, j = divmod(int(flat), m.shape[1])
        if need_r[i] > 0 and need_c[j] > 0:
            out[i, j] += 1
            need_r[i] -= 1
            need_c[j] -= 1
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            k = min(need_r[i], need_c[j])
            if k > 0:
                out[i, j] += k
                need_r[i] -= k
                need_c[j] -= k
    assert not need_r.any() and not need_c.any(), "row and column totals disagree"
    return out


def _assign_by_group(groups: np.ndarray, table: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Give each member of each row group one column index, meeting the table's counts; who
    gets which column is random (order of ``u``)."""
    out = np.empty(len(groups), dtype=np.int64)
    for i, g in enumerate(GROUPS):
        members = np.flatnonzero(groups == g)
        members = members[np.argsort(u[members], kind="stable")]
        out[members] = np.repeat(np.arange(table.shape[1]), table[i])
    return out


_PERIOD = re.compile(r"^(\d{4})-(\d{2})\.\.(\d{4})-(\d{2})$")
_BEFORE = re.compile(r"^(\d{4}) or earlier$")


def _period_bounds(label: str, start: dt.date) -> tuple[float, float]:
    """Years before ``start`` at which a graduation period ends and begins (lo, hi);
    hi is infinite for 'YYYY or earlier'."""

    def years_before(day: dt.date) -> float:
        return max((start - day).days / 365.25, 0.0)

    if m := _PERIOD.match(label):
        y0, m0, y1, m1 = map(int, m.groups())
        end = dt.date(y1 + m1 // 12, m1 % 12 + 1, 1)
        return years_before(end), years_before(dt.date(y0, m0, 1))
    if m := _BEFORE.match(label):
        return years_before(dt.date(int(m.group(1)) + 1, 1, 1)), np.inf
    raise ValueError(f"cannot read graduation period {label!r}")


def period_index_of(years: np.ndarray, data: RoundData) -> np.ndarray:
    """The graduation period (index into the round's periods, 0 = newest) of each time since
    graduation ``years`` (years before the round's start date, float (N,)). int64 (N,)."""
    periods = data.breakdowns["graduation_period"]
    newest_first = np.array([_period_bounds(p.group, data.start_date)[0] for p in periods])
    k = np.searchsorted(newest_first, years, side="right") - 1
    return np.clip(k, 0, len(periods) - 1).astype(np.int64)


def age_group_of(age: np.ndarray, data: RoundData) -> np.ndarray:
    """The round's age group label of each age (years, (N,)); an age below the youngest group
    counts in it, above the oldest in it. object (N,)."""
    labels = [g.group for g in data.breakdowns["age_group"]]
    lows = np.array([_age_range(g)[0] for g in labels])
    k = np.clip(np.searchsorted(lows, np.floor(age), side="right") - 1, 0, len(labels) - 1)
    return np.array(labels, dtype=object)[k]


def _age_range(label: str) -> tuple[int, int]:
    if label.endswith("+"):
        return int(label[:-1]), 69  # oldest age drawn: an assumption
    lo, hi = label.split("-")
    return int(lo), int(hi)


def _ages(latent: np.ndarray, groups) -> tuple[np.ndarray, np.ndarray]:
    """Exact age-group counts by rank of the latent age; whole-year ages clamped to each
    group's range (so the order of latent ages is kept)."""
    order = np.argsort(latent, kind="stable")
    age = np.empty(len(latent), dtype=np.int64)
    label = np.empty(len(latent), dtype=object)
    start = 0
    for g in groups:
        lo, hi = _age_range(g.group)
        idx = order[start : start + g.applicants]
        age[idx] = np.clip(np.floor(latent[idx]), lo, hi)
        label[idx] = g.group
        start += g.applicants
    return age, label


class InfeasiblePopulation(ValueError):
    """A population draw that cannot meet the round's table 2 (too few applicants of a row or
    age group could have applied four times). Rare (5 of the first 1,000 draws of seed 1 with the
    calibrated parameters, 2026-12-04); a population ensemble then draws that population again
    (:func:`lis1abm.simulation.prepare.prepare`)."""


def _rounds_applied(pop: pd.DataFrame, data: RoundData, repeat: float, pp, seed: int) -> np.ndarray:
    """Rounds applied, this one included (int64 (N,)).

    1. Earlier rounds possible: two a year since graduation. The number of earlier rounds is
       geometric (applying again after each round without a job with probability ``repeat``),
       capped by the rounds possible; the draw's latent persistence orders the applicants.
    2. Exactly the report's share with more than five rounds: the longest persisters among
       those who could have applied six times or more (the rest are capped at five).
    3. Table 2 (not hired with four or more rounds, by education x nationality x age group):
       each cell gets at least :func:`long_term_minimum` applicants with four or more rounds,
       topping up with the cell's longest persisters who could have applied four times (to
       four or five rounds, so step 2's count is kept).
    """
    years = pop["years_since_graduation"].to_numpy()
    n = len(years)
    possible = np.floor(2 * years).astype(np.int64)
    u = uniform(seed, 0, Stream.ROUNDS_APPLIED, np.arange(n))
    persistence = np.log1p(-u) / np.log(repeat) if 0 < repeat < 1 else np.zeros(n)
    earlier = np.minimum(np.floor(persistence).astype(np.int64), possible)
    rounds = 1 + earlier
    want = round(data.notes["rounds_applied"]["more_than_five_share"] * n)
    eligible = np.flatnonzero(possible >= 5)
    # The longest persisters among those who could have applied six times or more.
    chosen = eligible[np.lexsort((eligible, -persistence[eligible]))][:want]
    rounds = np.minimum(rounds, 5)
    rounds[chosen] = np.clip(1 + earlier[chosen], 6, 1 + possible[chosen])

    edu = pop["education_group"].to_numpy()
    nat = pop["nationality_group"].to_numpy()
    age = pop["age_group"].to_numpy()
    can = possible >= 3  # could have applied four times

    def top_up(mask: np.ndarray, need: int, strict: bool, what: str) -> None:
        # Raise the longest persisters in ``mask`` to four or five rounds until ``need`` of
        # them have applied four times or more.
        members = np.flatnonzero(mask & can)
        short = need - int((rounds[members] >= 4).sum())
        cand = members[rounds[members] < 4]
        cand = cand[np.lexsort((cand, -persistence[cand]))][: max(short, 0)]
        if strict and len(cand) < short:
            raise InfeasiblePopulation(
                f"table 2 {what}: {need} applicants with 4+ rounds needed, only "
                f"{len(members)} could have applied four times"
            )
        rounds[cand] = np.clip(1 + earlier[cand], 4, np.minimum(5, 1 + possible[cand]))

    # Cells first (table 2's joint structure); a cell with too few members who could have
    # applied four times (a small cell whose ages fell elsewhere) takes what it has, and its
    # row and its age group are then made up with their other members.
    need = long_term_minimum(data, pp.long_term_hire_ratio)
    for (ed, na, ag), k in need.items():
        top_up((edu == ed) & (nat == na) & (age == ag), k, False, "cell")
    for ed, na in {(ed, na) for ed, na, _ in need}:
        k = sum(v for (e, a, _), v in need.items() if (e, a) == (ed, na))
        top_up((edu == ed) & (nat == na), k, True, f"row {na} x {ed}")
    for ag in {ag for _, _, ag in need}:
        k = sum(v for (_, _, a), v in need.items() if a == ag)
        top_up(age == ag, k, True, f"age group {ag}")
    return rounds


def long_term_age_group(data: RoundData, label: str) -> str:
    """The population's age group holding a table-2 age group (table 2's "50-59" is the
    population's "50+": the report's age groups end with "50+")."""
    low = int(label.split("-")[0].rstrip("+"))
    for g in data.breakdowns["age_group"]:
        lo, hi = _age_range(g.group)
        if lo <= low <= hi:
            return g.group
    raise ValueError(f"table 2 age group {label!r} is in no age group of the round")


def long_term_minimum(data: RoundData, ratio: float) -> dict[tuple[str, str, str], int]:
    """Least number of applicants with four or more rounds in each cell of table 2, keyed
    (education group, nationality group, population age group).

    A cell with ``c`` not hired needs ``ceil(c / (1 - h))`` applicants with 4+ rounds for
    ``c`` of them to stay unhired when a share ``h`` is hired; ``h = ratio * H / N``, the hire
    share ``H / N`` of the cell's nationality x education group in appendix 4 (capped at 0.95).
    """
    out: dict[tuple[str, str, str], int] = {}
    for cell in data.long_term_not_hired:
        n, h = data.groups["cross"][(cell.nationality, cell.education)]
        hire = min(ratio * h / n, 0.95)
        key = (cell.education, cell.nationality, long_term_age_group(data, cell.age_group))
        out[key] = out.get(key, 0) + math.ceil(cell.count / (1.0 - hire) - 1e-9)
    return out


def _study_city(pop: pd.DataFrame, params: Params, u: np.ndarray) -> np.ndarray:
    """Study city of each Norway-educated applicant ("" for the others), with exactly the
    configured shares (largest remainder), assigned in random order."""
    out = np.full(len(pop), "", dtype=object)
    members = np.flatnonzero((pop["education_group"] == "Norway").to_numpy())
    shares = [params.population.study_city_shares[c] for c in STUDY_CITIES]
    counts = largest_remainder(shares, len(members))
    labels = np.repeat(np.array(STUDY_CITIES, dtype=object), counts)
    out[members[np.argsort(u[members], kind="stable")]] = labels
    return out


def _gender(groups, latent_age: np.ndarray, link: float, seed: int) -> np.ndarray:
    """Gender with the report's counts exactly, men the older applicants as ``link`` says.

    The order is a standard normal score plus ``link`` times the standardised latent age, and
    men take the largest scores. With ``link`` 0 the order is that of a uniform draw: gender is
    independent of the rest, as in a population built before the link existed.
    """
    groups = sorted(groups, key=lambda g: g.group == "men")  # men last: the largest scores
    ids = np.arange(len(latent_age))
    if link == 0:
        return _exact_labels(groups, uniform(seed, 0, Stream.GENDER, ids))
    spread = latent_age.std()
    z = (latent_age - latent_age.mean()) / (spread if spread > 0 else 1.0)
    return _exact_labels(groups, normal(seed, 0, Stream.GENDER, ids) + link * z)


def _exact_labels(groups, u: np.ndarray) -> np.ndarray:
    """Labels with exactly each group's applicant count, assigned in random order."""
    labels = np.repeat(
        np.array([g.group for g in groups], dtype=object), [g.applicants for g in groups]
    )
    out = np.empty(len(u), dtype=object)
    out[np.argsort(u, kind="stable")] = labels
    return out


def _residence(pop: pd.DataFrame, data: RoundData, u: np.ndarray) -> np.ndarray:
    """Country of residence with the report's counts: residence abroad goes first to those
    most likely to live there (a priority per group), random within a priority."""
    counts = {g.group: g.applicants for g in data.breakdowns["residence"]}
    nat = pop["nationality"].to_numpy()
    nat_group = pop["nationality_group"].to_numpy()
    edu = pop["education_country"].to_numpy()
    foreign = nat != "Norway"
    priority = {
        "other Nordic": 2 * np.isin(nat, NORDIC) + np.isin(edu, NORDIC),
        "other EEA": 2 * (foreign & (nat_group == "EEA+UK") & ~np.isin(nat, NORDIC)) + foreign,
        "outside EEA": 2 * (nat_group == "Outside EEA") + (edu == "Outside EU/EEA"),
    }
    out = np.full(len(pop), "Norway", dtype=object)
    free = np.ones(len(pop), dtype=bool)
    for group, prio in priority.items():
        cand = np.flatnonzero(free)
        cand = cand[np.lexsort((u[cand], -prio[cand]))][: counts.get(group, 0)]
        out[cand] = group
        free[cand] = False
    return out


def _proficiency(pop: pd.DataFrame, params: Params, z: np.ndarray) -> np.ndarray:
    pp = params.population
    nat = pop["nationality"].to_numpy()
    cls = np.where(
        nat == "Norway",
        "Norway",
        np.where(np.isin(nat, NORDIC), "Nordic", pop["nationality_group"].to_numpy()),
    )
    base = np.array([pp.proficiency_base[c] for c in cls])
    base += pp.proficiency_norway_education_bonus * (pop["education_group"] == "Norway")
    base += pp.proficiency_norway_residence_bonus * (
        (nat != "Norway") & (pop["residence"] == "Norway")
    )
    return np.clip(base + pp.proficiency_sd * z, 0.0, 1.0)
