"""Model parameters: one frozen, validated object read from ``configs/params/*.toml``.

Each parameter is declared once, below, with its allowed range, its unit and its meaning
(pydantic dataclasses: ``dataclasses.replace`` keeps working and re-validates). Scores are in
units of the interview noise's standard deviation ("score sds"), application propensities and
applicant taste in logits, proficiency from 0 (none) to 1 (native). The reader rejects unknown
and missing keys, values of the wrong type, ``nan`` and ``inf`` and values out of range, and
names the file, the key, the value and what is allowed in its one-line error.
"""

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, Strict
from pydantic.dataclasses import dataclass

from lis1abm.data.config import Document, invalid, override, read_toml, validate
from lis1abm.data.files import default_params_path
from lis1abm.data.round import GROUPS, REGIONS, STUDY_CITIES, RoundData
from lis1abm.errors import ConfigError
from lis1abm.rng import NOISE_MAX, NOISE_SD

DEFAULT_PARAMS = default_params_path()

NATIONALITY_CLASSES = ("Norway", "Nordic", "EEA+UK", "Outside EEA")
CAPACITY_RULES = ("positions", "report_hires")

# Ranking keys must fit in 32 bits: the engine packs (key, applicant id) into one int64 and
# refuses a market where |base score| + NOISE_MAX reaches 2**31 - 1 (engine.layout.flatten).
# The base score is round(score * NOISE_SD) with score = (education weight + the education
# country's deviation + the trust's Norway-education deviation) + nationality weight +
# (proficiency_weight + the trust's deviation) * proficiency + (recency_weight + the trust's
# deviation) * recency + the graduation period's deviation + age_weight_per_decade *
# (age - 30) / 10 + specialist_weight + home_region_weight + placement_region_weight +
# placement_university_weight + earlier_round_weight * min(rounds applied - 1,
# EARLIER_ROUNDS_CAP), where proficiency, recency and the flags lie in [0, 1] and
# (age - 30) / 10 in [0, (MAX_AGE - 30) / 10]. That is 13 weights times at most 1, one times 7
# and one times 5: with every weight in [-RANKING_WEIGHT_MAX, RANKING_WEIGHT_MAX],
# |score| <= 1500 * 25 = 37,500 score sds, below the room of
# (2**31 - 1 - NOISE_MAX) / NOISE_SD = 40,127 score sds.
MAX_AGE = 100
"""Oldest age assumed for the bound (the population's oldest group, "50+", ends at 69), years."""
EARLIER_ROUNDS_CAP = 5
"""Earlier rounds counted by ``earlier_round_weight`` at most: the report's top category is
"more than five" rounds applied, so the model's counts beyond five earlier rounds are not
informed by any figure (rounds)."""
RANKING_WEIGHT_MAX = 1500.0
"""Largest absolute ranking weight, score sds (see the derivation above)."""
KEY_ROOM_SDS = (2**31 - 1 - NOISE_MAX) / NOISE_SD
"""Largest absolute score whose ranking keys fit in 32 bits, score sds (40,127.7)."""
RANKING_TERMS = 13 + (MAX_AGE - 30) / 10 + EARLIER_ROUNDS_CAP
"""Largest total multiplier of the ranking weights in one score (25)."""

COUNTRY_DEVIATION_PRIOR_SD = 0.5
"""Partial pooling of ``ranking.education_country_deviation``: the calibration's prior on each
country's deviation is normal with mean 0 and this sd (tau, score sds). Not used by the
simulation itself, so it is a documented constant rather than a parameter: a half-sd difference
moves a candidate about a third of the way through a typical ranked list, the size of the gaps
between education countries that the report's hire rates show (Poland 65 %, Bulgaria 29 %)."""
TRUST_DEVIATION_PRIOR_SD = 0.3
"""Partial pooling of ``ranking.trust_deviation``: the calibration's prior sd (tau, score sds)
of each trust's deviation from the common weights. Smaller than the countries' tau, since the
trusts follow the same national rules for ranking (Helsedirektoratet's guidance)."""

_CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False)


def _num(lo: float, hi: float, *, lo_open: bool = False) -> Any:
    """A finite float in [lo, hi] (or (lo, hi]); integers are accepted, strings and booleans
    are not (``Strict``)."""
    bound = Field(gt=lo, le=hi) if lo_open else Field(ge=lo, le=hi)
    return Annotated[float, Strict(), bound]


def _exact_keys(known: Iterable[str]):
    """An after-validator: the table has exactly the keys ``known``, returned in that order
    (so that a file's key order cannot change any draw)."""
    known = tuple(known)

    def check(table: dict) -> dict:
        for key in table:
            if key not in known:
                raise invalid(f"unknown key (known: {', '.join(map(repr, known))})", key)
        for key in known:
            if key not in table:
                raise invalid("missing", key)
        return {key: table[key] for key in known}

    return AfterValidator(check)


def _not_all_zero(values: Mapping | list) -> Mapping | list:
    if not any(v > 0 for v in (values.values() if isinstance(values, Mapping) else values)):
        raise invalid("must not all be zero")
    return values


Probability = _num(0.0, 1.0)
Proficiency = _num(0.0, 1.0)
Share = _num(0.0, 1.0)
# Application propensities: with wider spreads some applicants have almost no chance of applying
# anywhere once the trusts' attractiveness is fitted to the report, and the application draw's
# rejection sampling cannot finish. Every corner of these bounds builds the autumn 2024 market
# (checked for seeds 1, 99 and 2024); 4 logits with breadth_sd 2.5 fails at 8 of 32 corners.
Logits = _num(-3.0, 3.0)
BREADTH_SD_MAX = 2.0
ScoreWeight = _num(-RANKING_WEIGHT_MAX, RANKING_WEIGHT_MAX)
PriorWeights = Annotated[
    list[_num(0.0, 1000.0)], Field(min_length=4, max_length=4), AfterValidator(_not_all_zero)
]


def _by(keys: Iterable[str], value: Any, *extra) -> Any:
    """A table with exactly the keys ``keys``, each value of type ``value``."""
    return Annotated[dict[str, value], _exact_keys(keys), *extra]


@dataclass(frozen=True, config=_CONFIG)
class PopulationParams:
    """Assumptions that complete the report's marginals into individual applicants."""

    age_at_graduation_mean: _by(GROUPS, _num(18.0, 60.0)) = Field(
        description="Mean age at graduation (cand.med.) by education group (years)"
    )
    age_at_graduation_sd: _num(0.0, 20.0) = Field(
        description="Standard deviation of the age at graduation (years)"
    )
    men_age_link: _num(0.0, 5.0) = Field(
        description="How strongly men are the older applicants: the weight of the "
        "standardised latent age (age at graduation plus time since graduation) in the "
        "normal score whose largest values are the men; 0 makes gender independent of age "
        "(score sds)"
    )
    years_before_2020_mean: _num(0.0, 50.0, lo_open=True) = Field(
        description="Mean time since graduation beyond the end of 2019 for the '2019 or "
        "earlier' group, exponential (years)"
    )
    graduation_prior: _by(GROUPS, PriorWeights) = Field(
        description="By education group: relative weights of the four older graduation periods "
        "(2023-03..2024-02, 2022-03..2023-02, 2020-01..2022-02, 2019 or earlier) before fitting "
        "to the report's period totals; not all zero (unitless)"
    )
    repeat_probability: Probability = Field(
        description="Probability that an applicant not hired in a round applies again in the "
        "next; with the time since graduation it sets the rounds applied (probability)"
    )
    study_city_shares: _by(STUDY_CITIES, Share, AfterValidator(_not_all_zero)) = Field(
        description="Share of the Norway-educated who studied at each of the four medical "
        "faculties (Oslo, Bergen, Trondheim, Tromsø); approximate study places, not from the "
        "report; normalised, not all zero (share)"
    )
    stay_in_study_region: Probability = Field(
        description="Probability that a Norway-educated applicant living in Norway has the "
        "study city's region as home region (otherwise drawn from home_region_shares) "
        "(probability)"
    )
    long_term_hire_ratio: _num(0.0, 1.0) = Field(
        description="Sets how many applicants have applied in four or more rounds: in each "
        "cell of the report's table 2 at least count / (1 - h) such applicants, h = this ratio "
        "times the hire share of the cell's nationality x education group (appendix 4); the "
        "assumed hire share of long-term applicants relative to their group's (ratio)"
    )
    home_region_shares: _by(REGIONS, Share, AfterValidator(_not_all_zero)) = Field(
        description="Share of applicants living in Norway whose home region is each RHF "
        "(approximate population shares, not from the report); normalised, not all zero (share)"
    )
    proficiency_base: _by(NATIONALITY_CLASSES, Proficiency) = Field(
        description="Mean latent Norwegian proficiency by nationality class ('Norway', "
        "'Nordic', 'EEA+UK', 'Outside EEA'); 0 none, 1 native (proficiency)"
    )
    proficiency_norway_education_bonus: Proficiency = Field(
        description="Added proficiency for a medical degree from Norway (proficiency)"
    )
    proficiency_norway_residence_bonus: Proficiency = Field(
        description="Added proficiency for a foreign national living in Norway (proficiency)"
    )
    proficiency_sd: Proficiency = Field(
        description="Standard deviation of individual proficiency around the mean (proficiency)"
    )


@dataclass(frozen=True, config=_CONFIG)
class ApplicationParams:
    """The application model: which trusts and ads an applicant applies to."""

    breadth_sd: _num(0.0, BREADTH_SD_MAX) = Field(
        description="Standard deviation of an applicant's propensity to apply widely (logits)"
    )
    breadth_by_education: _by(GROUPS, Logits) = Field(
        description="Mean propensity to apply widely by education group (logits)"
    )
    home_region_bonus: Logits = Field(
        description="Added propensity to apply to a trust in one's home region (logits)"
    )
    urban_bonus_norway_educated: Logits = Field(
        description="Added propensity of Norway-educated applicants for urban ads (city and "
        "university hospitals), on top of the study-city terms; a trust's bonus is its urban "
        "share of positions (logits)"
    )
    study_city_bonus: Logits = Field(
        description="Added propensity of a Norway-educated applicant for the university "
        "trusts of their study city (logits)"
    )
    study_region_bonus: Logits = Field(
        description="Added propensity of a Norway-educated applicant for the trusts in their "
        "study city's region, university trusts included (logits)"
    )
    taste_scale: _num(0.0, 10.0) = Field(
        description="Scale of the Gumbel taste shock in an applicant's ranking of the ads "
        "applied to (logits)"
    )


@dataclass(frozen=True, config=_CONFIG)
class TrustDeviation:
    """One trust's deviations from the common ranking weights (score sds); an omitted
    deviation is 0."""

    norway_education: ScoreWeight = Field(
        default=0.0,
        description="Added to education_weight.Norway at this trust's ads (score sds)",
    )
    proficiency: ScoreWeight = Field(
        default=0.0, description="Added to proficiency_weight at this trust's ads (score sds)"
    )
    recency: ScoreWeight = Field(
        default=0.0, description="Added to recency_weight at this trust's ads (score sds)"
    )


@dataclass(frozen=True, config=_CONFIG)
class RankingParams:
    """How an ad scores its applicants. Weights are in score sds (one standard deviation of
    the interview noise); their bound keeps every ranking key within 32 bits."""

    education_weight: _by(GROUPS, ScoreWeight) = Field(
        description="Score by education group (score sds)"
    )
    nationality_weight: _by(GROUPS, ScoreWeight) = Field(
        description="Score by nationality group (score sds)"
    )
    proficiency_weight: ScoreWeight = Field(
        description="Score per unit of Norwegian proficiency (score sds)"
    )
    recency_weight: ScoreWeight = Field(
        description="Score of the newest graduation period over the oldest, linear in "
        "between (score sds)"
    )
    age_weight_per_decade: ScoreWeight = Field(
        description="Score per 10 years of age above 30, none below 30 (score sds)"
    )
    home_region_weight: ScoreWeight = Field(
        description="Score for an applicant whose home region is the ad's region (score sds)"
    )
    specialist_weight: ScoreWeight = Field(
        description="Score for an applicant who wants to work in the specialist health "
        "service after LIS1 (score sds)"
    )
    placement_region_weight: ScoreWeight = Field(
        description="Score for a Norway-educated applicant at an ad in their study city's "
        "region: hospitals know candidates from their students' placements (score sds)"
    )
    placement_university_weight: ScoreWeight = Field(
        description="Further score for a Norway-educated applicant at an ad of their study "
        "city's university trusts, where most placements are (score sds)"
    )
    graduation_period_deviation: dict[str, ScoreWeight] = Field(
        description="Graduation period (the report's label) -> deviation added to the linear "
        "recency term, so that the score of a period can depart from the straight line "
        "between the newest and the oldest; periods not listed have 0; names must be "
        "graduation periods of the round. Partially pooled toward 0 by the calibration "
        "(score sds)",
    )
    earlier_round_weight: ScoreWeight = Field(
        description="Score per earlier round applied, counted up to EARLIER_ROUNDS_CAP (5): "
        "hospitals passed these applicants over before, a proxy of what the model does not "
        "observe (score sds)"
    )
    education_country_deviation: dict[str, ScoreWeight] = Field(
        description="Education country -> deviation added to its group's education_weight; "
        "countries not listed have 0; names must be education countries of the round "
        "(appendix 4). Partially pooled by the calibration (prior sd "
        "COUNTRY_DEVIATION_PRIOR_SD) (score sds)"
    )
    trust_deviation: dict[str, TrustDeviation] = Field(
        description="Trust -> deviations of its ads' weights for Norway education, proficiency "
        "and recency; trusts not listed have 0; names must be trusts of the round. Partially "
        "pooled by the calibration (prior sd TRUST_DEVIATION_PRIOR_SD) (score sds)"
    )
    qualification_threshold: Proficiency = Field(
        description="Minimum Norwegian proficiency to be on a ranked list at all (proficiency)"
    )


@dataclass(frozen=True, config=_CONFIG)
class BehaviourParams:
    """Applicants' and trusts' behaviour during the offer rounds."""

    wait_probability_max: Probability = Field(
        description="Probability of declining all offers to wait, for an applicant whose best "
        "offer is their least-preferred ad, in the first round; falls linearly with the rank "
        "of the best offer and with the rounds left, to 0 in the last round "
        "(probability)"
    )
    no_reply_probability_one_day: Probability = Field(
        description="Probability of missing the reply deadline with a one-day window; a window "
        "of d days gives this divided by d (probability)"
    )
    late_marking_probability: Probability = Field(
        description="Probability that a trust marks an accepted applicant after the marking "
        "deadline, so that other trusts may offer them a position in the next round "
        "(probability)"
    )
    withdrawal_probability: Probability = Field(
        description="Probability that an applicant takes another job (research post, other "
        "LIS post, restplass; the report's footnote) and declines every LIS1 offer "
        "(probability)"
    )


@dataclass(frozen=True, config=_CONFIG)
class CapacityParams:
    """How many hires each ad can make."""

    rule: Literal["positions", "report_hires"] = Field(
        description="'positions': the positions advertised (601 in autumn 2024); "
        "'report_hires': the report's hires per trust (606), split over a trust's ads in "
        "proportion to positions (rule name)"
    )


@dataclass(frozen=True, config=_CONFIG)
class ParamFile:
    """The tables of a parameter file, exactly these and no others."""

    population: PopulationParams
    applications: ApplicationParams
    ranking: RankingParams
    behaviour: BehaviourParams
    capacity: CapacityParams


@dataclass(frozen=True, config=_CONFIG)
class Params(ParamFile):
    """All model parameters, and the file they came from."""

    file: str = ""

    def to_dict(self) -> dict:
        """The parameters as plain data (for results' provenance)."""
        return dataclasses.asdict(self)

    def check_round(self, data: RoundData) -> None:
        """Check the names that refer to a round: the education countries of
        ``ranking.education_country_deviation`` (appendix 4's), the graduation periods of
        ``ranking.graduation_period_deviation`` and the trusts of ``ranking.trust_deviation``.

        Raises
        ------
        ConfigError : naming this parameter file and the key, on one line.
        """
        countries = data.education_countries
        for name in self.ranking.education_country_deviation:
            if name not in countries:
                raise ConfigError(
                    self.file,
                    f"ranking.education_country_deviation.{name}",
                    f"not an education country of round {data.name} (appendix 4)",
                )
        periods = [p.group for p in data.breakdowns.get("graduation_period", ())]
        for name in self.ranking.graduation_period_deviation:
            if name not in periods:
                raise ConfigError(
                    self.file,
                    f"ranking.graduation_period_deviation.{name}",
                    f"not a graduation period of round {data.name} (known: {', '.join(periods)})",
                )
        trusts = [t.name for t in data.trusts]
        for name in self.ranking.trust_deviation:
            if name not in trusts:
                raise ConfigError(
                    self.file,
                    f"ranking.trust_deviation.{name}",
                    f"not a trust of round {data.name} (known: {', '.join(trusts)})",
                )


def load_params(source: str | Path | Document | Params = DEFAULT_PARAMS) -> Params:
    """Read and validate a parameter file (a path, or a :class:`Document` already read;
    :class:`Params` are returned as they are).

    Raises
    ------
    ConfigError : missing file, invalid TOML, unknown or missing key, value of the wrong type,
        not finite or out of range (the first problem found, on one line).
    """
    if isinstance(source, Params):
        return source
    doc = read_toml(source)
    return _params(validate(ParamFile, doc.data, doc.file), str(doc.file))


def _params(tables: ParamFile, file: str) -> Params:
    return Params(
        **{f.name: getattr(tables, f.name) for f in dataclasses.fields(ParamFile)}, file=file
    )


def with_overrides(params: Params, overrides: Mapping[str, Any]) -> Params:
    """``params`` with some values replaced, each named by its dotted path
    (``"behaviour.late_marking_probability"``, ``"ranking.education_weight.Norway"``,
    ``"ranking.trust_deviation.St. Olavs hospital.recency"``), validated as the file reader
    validates a file (:func:`lis1abm.data.config.override`).

    Raises
    ------
    ConfigError : naming ``params.file`` and the first bad key (unknown key, wrong type, out of
        range), on one line.
    """
    tables = params.to_dict()
    file = tables.pop("file") or "parameters"
    return _params(validate(ParamFile, override(tables, overrides, file), file), params.file)
