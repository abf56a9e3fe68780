"""The market flattened to arrays: the one place where data frames become plain arrays.

A :class:`Market` holds one synthetic population and its applications (a function of the round
data, the parameters and the seed), the hospitals' score of every application before the
interview, each ad's capacity and the calendar's decision thresholds. Every backend runs the
offer cascade on these arrays; :func:`ranked_lists` adds one replication's interview noise.

Scores are integers (one standard deviation of the interview noise is :data:`SCORE_UNIT`, about
53,510 units), so that ranking is exact on any backend; ties are broken by applicant id.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lis1abm import rules
from lis1abm.data.round import RoundData, largest_remainder
from lis1abm.market.applications import (
    Applications,
    draw_applications,
    study_city_links,
    trust_index,
)
from lis1abm.market.population import build_population
from lis1abm.params import Params
from lis1abm.params.model import EARLIER_ROUNDS_CAP
from lis1abm.rng import NOISE_SD, Stream, noise

SCORE_UNIT = NOISE_SD  # one standard deviation of interview noise, in score units (53509.6)


@dataclass(frozen=True)
class Market:
    """One market realisation as arrays (shapes: N applicants, J ads, A applications,
    R offer rounds).

    Attributes
    ----------
    population : the applicants (see :func:`lis1abm.population.build_population`).
    applications : CSR applications by applicant with preference ranks.
    app_applicant : int64 (A,): applicant of each application (aligned with ``applications``).
    base_score : int64 (A,): the ad's score of the application before the interview.
    qualified : bool (A,): the applicant is on the ad's ranked list.
    capacity : int64 (J,): hires each ad can make.
    ad_trust : int64 (J,): the trust of each ad (index into ``data.trusts``): a trust
        interviews an applicant once for all its ads (see :func:`ranked_lists`).
    no_reply_q16 : int64 (R,): threshold of missing the reply deadline, by round: the
        calendar's rounds, then the rounds after the calendar (with the last calendar round's
        reply window).
    n_calendar : the calendar's offer rounds (the first ``n_calendar`` of the R rounds).
    population_seed : the seed the population, applications and scores were drawn with;
        ``seed`` keys the offer cascade's draws. Equal, but in a population ensemble's later
        draws (:func:`lis1abm.rng.population_seed`); None for a market made by hand.
    wait_q16, late_q16, withdraw_q16 : thresholds of waiting (at its largest), of late
        marking and of withdrawal.
    """

    data: RoundData
    params: Params
    seed: int
    population: pd.DataFrame
    applications: Applications
    app_applicant: np.ndarray
    base_score: np.ndarray
    qualified: np.ndarray
    capacity: np.ndarray
    ad_trust: np.ndarray
    no_reply_q16: np.ndarray
    wait_q16: int
    late_q16: int
    withdraw_q16: int
    n_calendar: int
    population_seed: int | None = None

    @property
    def n_applicants(self) -> int:
        return len(self.population)

    @property
    def n_ads(self) -> int:
        return len(self.capacity)

    @property
    def n_rounds(self) -> int:
        """Offer rounds at most: the calendar's and those after it."""
        return len(self.no_reply_q16)


def build_market(
    data: RoundData, params: Params, seed: int, population_seed: int | None = None
) -> Market:
    """Draw the population and applications and flatten everything to arrays.

    The population, applications and scores are drawn with ``population_seed`` (default:
    ``seed``); ``seed`` keys the offer cascade's draws, replication by replication.

    Raises
    ------
    ConfigError : the parameters name an education country or trust the round lacks.
    """
    data.require_market()
    params.check_round(data)
    drawn = seed if population_seed is None else population_seed
    return market_of(data, params, seed, build_population(data, params, drawn), drawn)


def market_of(
    data: RoundData, params: Params, seed: int, pop: pd.DataFrame, population_seed: int
) -> Market:
    """The market of a population given as it is (the columns of
    :func:`~lis1abm.market.population.build_population`, ids 0..N-1): its applications drawn
    with ``population_seed`` and scored; ``seed`` keys the offer cascade's draws. A queue's
    round plays the applicants that earlier rounds left waiting and new ones this way."""
    apps = draw_applications(data, params, pop, population_seed)
    app_applicant = np.repeat(np.arange(len(pop)), np.diff(apps.ptr))
    return _scored(data, params, seed, pop, apps, app_applicant, population_seed)


def same_draws(a: Params, b: Params) -> bool:
    """Whether two parameter sets draw the same population and applications from the same
    seed: equal ``population`` and ``applications`` sections (the only ones
    :func:`build_population` and :func:`draw_applications` read) and the same capacity rule."""
    return (
        a.population == b.population
        and a.applications == b.applications
        and a.capacity == b.capacity
    )


def rescore(market: Market, params: Params) -> Market:
    """The market with other ranking and behaviour parameters: the same population and
    applications (drawn with ``market.population_seed``), new scores and thresholds.

    What :func:`build_market` with ``params`` and the market's seeds gives, without drawing
    the population and applications again (about a third of the time). The calibration's
    candidates differ in ranking and behaviour only when no ``population`` or
    ``applications`` parameter is free.

    Raises
    ------
    ValueError : ``params`` would draw another population or other applications
        (:func:`same_draws` is false).
    """
    if not same_draws(market.params, params):
        raise ValueError("rescore: the parameters draw another population or applications")
    params.check_round(market.data)
    return _scored(
        market.data, params, market.seed, market.population, market.applications,
        market.app_applicant, market.population_seed,
    )  # fmt: skip


def _scored(
    data: RoundData,
    params: Params,
    seed: int,
    pop: pd.DataFrame,
    apps: Applications,
    app_applicant: np.ndarray,
    drawn: int | None,
) -> Market:
    """The market of a drawn population and its applications: the hospitals' scores, the
    ads' capacity and the behaviour's thresholds under ``params``."""
    base, qualified = application_scores(data, params, pop, app_applicant, apps.ad)
    b = params.behaviour
    # Rounds after the calendar keep the last calendar round's reply window.
    windows = [r.reply_window_days for r in data.calendar]
    windows += windows[-1:] * data.after_calendar_rounds
    return Market(
        data=data,
        params=params,
        seed=seed,
        population=pop,
        applications=apps,
        app_applicant=app_applicant,
        base_score=base,
        qualified=qualified,
        capacity=ad_capacity(data, params.capacity.rule),
        ad_trust=trust_index(data),
        no_reply_q16=np.array(
            [rules.q16(b.no_reply_probability_one_day / max(w, 1)) for w in windows],
            dtype=np.int64,
        ),
        wait_q16=rules.q16(b.wait_probability_max),
        late_q16=rules.q16(b.late_marking_probability),
        withdraw_q16=rules.q16(b.withdrawal_probability),
        n_calendar=len(data.calendar),
        population_seed=drawn,
    )


def ad_capacity(data: RoundData, rule: str) -> np.ndarray:
    """Hires each ad can make. int64 (J,).

    ``positions``: its positions. ``report_hires``: its trust's positions plus the trust's
    hires beyond them in the report (:attr:`~lis1abm.data.round.Trust.hires_beyond_positions`,
    at least 0 in all), split over the trust's ads in proportion to positions (largest
    remainder). With the report's positions that is the report's hires per trust; positions
    added to (or removed from) a round file's ads change the capacity by as much.
    """
    positions = np.array([a.positions for a in data.ads], dtype=np.int64)
    if rule == "positions":
        return positions
    if rule != "report_hires":
        raise ValueError(f"unknown capacity rule {rule!r}")
    tix = trust_index(data)
    out = np.empty_like(positions)
    for t, trust in enumerate(data.trusts):
        mine = np.flatnonzero(tix == t)
        hires = max(int(positions[mine].sum()) + trust.hires_beyond_positions, 0)
        out[mine] = largest_remainder(positions[mine].tolist(), hires)
    return out


def application_scores(
    data: RoundData, params: Params, pop: pd.DataFrame, applicant: np.ndarray, ad: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Hospitals' score of each application before the interview, and whether the applicant
    qualifies for the ranked list (Norwegian proficiency at least the threshold).

    Score, in interview-noise sds: education group weight plus the education country's
    deviation, nationality group weight, proficiency, graduation recency (newest period 1,
    oldest 0, linear in between) plus the graduation period's deviation, age above 30 per
    decade, wanting the specialist health service, earlier rounds applied (at most
    :data:`EARLIER_ROUNDS_CAP`), home region of the ad; for the
    Norway-educated, placements (an ad in the study city's region, more at its university
    trusts); and the ad's trust's deviations of the Norway-education, proficiency and recency
    weights. Returned as int64 score units (A,), with ``qualified`` bool (A,).
    """
    pr = params.ranking
    periods = [p.group for p in data.breakdowns["graduation_period"]]
    period = pop["period_index"].to_numpy()
    recency = 1.0 - period / max(len(periods) - 1, 1)
    period_deviation = np.array([pr.graduation_period_deviation.get(p, 0.0) for p in periods])
    proficiency = pop["proficiency"].to_numpy()
    norway_edu = (pop["education_group"] == "Norway").to_numpy()
    earlier = np.minimum(pop["rounds_applied"].to_numpy() - 1, EARLIER_ROUNDS_CAP)
    person = (
        np.array([pr.education_weight[g] for g in pop["education_group"]])
        + np.array([pr.education_country_deviation.get(c, 0.0) for c in pop["education_country"]])
        + np.array([pr.nationality_weight[g] for g in pop["nationality_group"]])
        + pr.proficiency_weight * proficiency
        + pr.recency_weight * recency
        + period_deviation[period]
        + pr.age_weight_per_decade * np.maximum(pop["age"].to_numpy() - 30, 0) / 10
        + pr.specialist_weight * (pop["wanted_job"] == "specialist health service")
        + pr.earlier_round_weight * earlier
    )
    ad_region = np.array([a.region for a in data.ads])
    local = pop["home_region"].to_numpy()[applicant] == ad_region[ad]
    tix = trust_index(data)[ad]
    study = study_city_links(data, pop)
    # Trust deviations, (T,) each; a trust not listed deviates by 0.
    dev = [pr.trust_deviation.get(t.name) for t in data.trusts]
    dev_norway = np.array([d.norway_education if d else 0.0 for d in dev])
    dev_prof = np.array([d.proficiency if d else 0.0 for d in dev])
    dev_recency = np.array([d.recency if d else 0.0 for d in dev])
    score = (
        person[applicant]
        + pr.home_region_weight * local
        + pr.placement_region_weight * study.region[applicant, tix]
        + pr.placement_university_weight * study.university[applicant, tix]
        + dev_norway[tix] * norway_edu[applicant]
        + dev_prof[tix] * proficiency[applicant]
        + dev_recency[tix] * recency[applicant]
    )
    qualified = pop["proficiency"].to_numpy()[applicant] >= pr.qualification_threshold
    return np.round(score * SCORE_UNIT).astype(np.int64), qualified


def ranked_lists(market: Market, replication: int) -> tuple[np.ndarray, np.ndarray]:
    """Each ad's ranked list (innstillingsliste) in one replication.

    Interview noise (integer, sd = one score unit) is added to every qualified application's
    base score; each ad ranks by :func:`lis1abm.rules.ranking_key` (score, highest first; ties by
    applicant id).

    The noise is keyed by (applicant, trust of the ad), not by (applicant, ad): the report says
    "each trust screens and interviews", so a trust with several ads (sites) interviews an
    applicant once, and the applicant's interview impression is the same on all its ads. The
    ads still rank separately: base scores may differ by ad (home region), and each ad's list
    holds only its own applicants.

    Returns
    -------
    ptr : int64 (J + 1,): ad j's list is ``applicant[ptr[j]:ptr[j + 1]]``.
    applicant : int64 (Q,): applicant ids in rank order.
    """
    application = np.flatnonzero(market.qualified)
    who = market.app_applicant[application]
    ad = market.applications.ad[application]
    score = np.asarray(market.base_score, dtype=np.int64)[application] + noise(
        market.seed, replication, Stream.INTERVIEW, who, market.ad_trust[ad]
    )
    key = rules.ranking_key(score.astype(np.int64), application.astype(np.int64))
    order = np.lexsort((-key, ad))
    ptr = np.zeros(market.n_ads + 1, dtype=np.int64)
    np.cumsum(np.bincount(ad, minlength=market.n_ads), out=ptr[1:])
    return ptr, who[order]
