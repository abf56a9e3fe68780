"""Model parameters: one frozen, validated object read from ``configs/params/*.toml``.

Every field documents its unit. Scores and utilities are on logit-like scales: ranking scores
are in units of the interview noise's standard deviation, application propensities in logits.
The strict reader rejects unknown and missing keys and names the file and key in its error.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from lis1abm.data.files import default_params_path
from lis1abm.data.round import GROUPS, REGIONS
from lis1abm.data.toml import Section, read_toml

DEFAULT_PARAMS = default_params_path()


@dataclass(frozen=True)
class PopulationParams:
    """Assumptions that complete the report's marginals into individual applicants."""

    age_at_graduation_mean: dict[str, float]
    """Mean age at graduation (cand.med.) by education group, years."""
    age_at_graduation_sd: float
    """Standard deviation of the age at graduation, years."""
    years_before_2020_mean: float
    """Mean time since graduation beyond the end of 2019 for the '2019 or earlier' group
    (exponential), years."""
    graduation_prior: dict[str, list[float]]
    """By education group: relative weights of the four older graduation periods
    (2023-03..2024-02, 2022-03..2023-02, 2020-01..2022-02, 2019 or earlier), before fitting
    to the report's period totals. Unitless."""
    repeat_probability: float
    """Probability that an applicant not hired in an earlier round applies again in the next
    one; with the time since graduation it sets the rounds applied. Probability."""
    home_region_shares: dict[str, float]
    """Shares of applicants living in Norway whose home region is each RHF (approximate
    population shares; not from the report). Unitless, normalised."""
    proficiency_base: dict[str, float]
    """Mean latent Norwegian proficiency by nationality class ('Norway', 'Nordic', 'EEA+UK',
    'Outside EEA'); 0 = none, 1 = native."""
    proficiency_norway_education_bonus: float
    """Added proficiency for a medical degree from Norway, proficiency units."""
    proficiency_norway_residence_bonus: float
    """Added proficiency for a foreign national living in Norway, proficiency units."""
    proficiency_sd: float
    """Standard deviation of individual proficiency around the mean, proficiency units."""


@dataclass(frozen=True)
class ApplicationParams:
    """The application model: which trusts and ads an applicant applies to."""

    breadth_sd: float
    """Standard deviation of an applicant's propensity to apply widely, logits."""
    breadth_by_education: dict[str, float]
    """Mean propensity to apply widely by education group, logits."""
    home_region_bonus: float
    """Added propensity to apply to a trust in one's home region, logits."""
    urban_bonus_norway_educated: float
    """Added propensity of Norway-educated applicants for urban/university hospitals, logits."""
    taste_scale: float
    """Scale of the Gumbel taste shock in an applicant's ranking of the ads applied to,
    logits."""


@dataclass(frozen=True)
class RankingParams:
    """How an ad scores its applicants. Weights are in units of the interview noise's sd."""

    education_weight: dict[str, float]
    """Score by education group."""
    nationality_weight: dict[str, float]
    """Score by nationality group."""
    proficiency_weight: float
    """Score per unit of Norwegian proficiency."""
    recency_weight: float
    """Score of the newest graduation period over the oldest (linear in between)."""
    age_weight_per_decade: float
    """Score per 10 years of age above 30 (0 below 30)."""
    home_region_weight: float
    """Score for an applicant whose home region is the ad's region."""
    specialist_weight: float
    """Score for an applicant who wants to work in the specialist health service after LIS1."""
    qualification_threshold: float
    """Minimum Norwegian proficiency to be on a ranked list at all, proficiency units."""


@dataclass(frozen=True)
class BehaviourParams:
    """Applicants' and trusts' behaviour during the offer rounds."""

    wait_probability_max: float
    """Probability of declining all offers to wait, for an applicant whose best offer is their
    least-preferred ad, in the first round. Falls linearly with the rank of the best offer and
    with the rounds left (0 in the last round). Probability."""
    no_reply_probability_one_day: float
    """Probability of missing the reply deadline with a one-day window; a window of d days
    gives this divided by d. Probability."""
    late_marking_probability: float
    """Probability that a trust marks an accepted applicant after the marking deadline, so that
    other trusts may offer them a position in the next round. Probability."""
    withdrawal_probability: float
    """Probability that an applicant takes another job (research post, other LIS post,
    restplass; the report's footnote) and declines every LIS1 offer. Probability."""


@dataclass(frozen=True)
class CapacityParams:
    """How many hires each ad can make."""

    rule: str
    """'positions': the positions advertised (601 in autumn 2024); 'report_hires': the report's
    hires per trust (606), split over a trust's ads in proportion to positions."""


@dataclass(frozen=True)
class Params:
    """All model parameters, and the file they came from."""

    population: PopulationParams
    applications: ApplicationParams
    ranking: RankingParams
    behaviour: BehaviourParams
    capacity: CapacityParams
    file: str = ""

    def to_dict(self) -> dict:
        """The parameters as plain data (for results' provenance)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = (
                {g.name: getattr(value, g.name) for g in fields(value)}
                if hasattr(value, "__dataclass_fields__")
                else value
            )
        return out


NATIONALITY_CLASSES = ("Norway", "Nordic", "EEA+UK", "Outside EEA")
CAPACITY_RULES = ("positions", "report_hires")


def _table(s: Section, name: str, keys, *, signed=False, unit_interval=False) -> dict:
    sub = s.section(name)
    out = {k: sub.get(k, float, signed=signed, unit_interval=unit_interval) for k in keys}
    sub.done()
    return out


def load_params(path: str | Path = DEFAULT_PARAMS) -> Params:
    """Read a parameter file.

    Raises
    ------
    ConfigError : missing file, unknown or missing key, value of the wrong type or range.
    """
    path = Path(path)
    top = Section(path, read_toml(path))

    s = top.section("population")
    prior_sec = s.section("graduation_prior")
    prior = {}
    for g in GROUPS:
        weights = prior_sec.get(g, list)
        if len(weights) != 4 or not all(isinstance(w, int | float) and w >= 0 for w in weights):
            raise prior_sec.error(g, "needs 4 non-negative weights, one per older period")
        if sum(weights) <= 0:
            raise prior_sec.error(g, "weights must not all be zero")
        prior[g] = [float(w) for w in weights]
    prior_sec.done()
    population = PopulationParams(
        age_at_graduation_mean=_table(s, "age_at_graduation_mean", GROUPS),
        age_at_graduation_sd=s.get("age_at_graduation_sd", float),
        years_before_2020_mean=s.get("years_before_2020_mean", float, positive=True),
        graduation_prior=prior,
        repeat_probability=s.get("repeat_probability", float, unit_interval=True),
        home_region_shares=_table(s, "home_region_shares", REGIONS),
        proficiency_base=_table(s, "proficiency_base", NATIONALITY_CLASSES, unit_interval=True),
        proficiency_norway_education_bonus=s.get("proficiency_norway_education_bonus", float),
        proficiency_norway_residence_bonus=s.get("proficiency_norway_residence_bonus", float),
        proficiency_sd=s.get("proficiency_sd", float),
    )
    if sum(population.home_region_shares.values()) <= 0:
        raise s.error("home_region_shares", "shares must not all be zero")
    s.done()

    s = top.section("applications")
    applications = ApplicationParams(
        breadth_sd=s.get("breadth_sd", float),
        breadth_by_education=_table(s, "breadth_by_education", GROUPS, signed=True),
        home_region_bonus=s.get("home_region_bonus", float, signed=True),
        urban_bonus_norway_educated=s.get("urban_bonus_norway_educated", float, signed=True),
        taste_scale=s.get("taste_scale", float),
    )
    s.done()

    s = top.section("ranking")
    ranking = RankingParams(
        education_weight=_table(s, "education_weight", GROUPS, signed=True),
        nationality_weight=_table(s, "nationality_weight", GROUPS, signed=True),
        proficiency_weight=s.get("proficiency_weight", float, signed=True),
        recency_weight=s.get("recency_weight", float, signed=True),
        age_weight_per_decade=s.get("age_weight_per_decade", float, signed=True),
        home_region_weight=s.get("home_region_weight", float, signed=True),
        specialist_weight=s.get("specialist_weight", float, signed=True),
        qualification_threshold=s.get("qualification_threshold", float, unit_interval=True),
    )
    s.done()

    s = top.section("behaviour")
    behaviour = BehaviourParams(
        wait_probability_max=s.get("wait_probability_max", float, unit_interval=True),
        no_reply_probability_one_day=s.get(
            "no_reply_probability_one_day", float, unit_interval=True
        ),
        late_marking_probability=s.get("late_marking_probability", float, unit_interval=True),
        withdrawal_probability=s.get("withdrawal_probability", float, unit_interval=True),
    )
    s.done()

    s = top.section("capacity")
    capacity = CapacityParams(rule=s.get("rule", str, choices=CAPACITY_RULES))
    s.done()
    top.done()
    return Params(population, applications, ranking, behaviour, capacity, file=str(path))
