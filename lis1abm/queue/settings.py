"""What the queue across rounds adds to one round: the inflow of new applicants, who of the
not hired applies again, and the rounds played with their positions.

Units: probabilities, factors (1 = as many as in the base round) and positions per round.
Read from an experiment config's ``[queue]`` table (:mod:`lis1abm.experiments.queue_config`)
or built in code; validated by pydantic, so a bad value is one line naming the key.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from lis1abm.data.history import parse_round
from lis1abm.data.round import GROUPS

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Factor = Annotated[float, Field(ge=0.0, le=10.0)]


class QueueSettings(BaseModel):
    """The queue's own parameters (every one documented in ``configs/experiments/queue.toml``).

    Attributes
    ----------
    base_round : the calibrated round the sequence starts from (played as its own first
        round; its not hired are the first waiting pool) and whose first-time applicants are
        the inflow of every later round.
    rounds : rounds played after the base round (spring and autumn alternate).
    positions : positions of every round after the base round (the ads' shares of the base
        round, largest remainder).
    spring_inflow_factor : new applicants in a spring round over those of an autumn round.
    return_probability : by education group, the chance that an applicant not hired in a round
        applies in the next one, after one round applied.
    return_decay : the factor on that chance for every further round applied (1: none; above
        1 the longer someone has waited, the likelier they are to apply again; the chance is
        at most 1).
    return_factor_unlisted : the factor on that chance for an applicant who was on no ad's
        ranked list in the round (qualified for none of the ads applied to: the report names
        insufficient Norwegian and a missing authorisation or licence), who has learnt that
        applying again as they are is futile (1: no different from the others).
    return_factor_nationality : by nationality group, a factor on that chance (a group not
        named keeps factor 1): nationals of countries outside the EEA may leave for other
        work or another country more readily than Norwegians with the same education.
    inflow_growth : by "nationality x education" group of the base round, the factor on its
        new applicants (a scenario's "more Norwegians educated abroad", "more EEA migration");
        a group not named keeps factor 1.
    inflow_then : by education group, the new applicants of the back-cast's first round over
        the base round's (the level moves linearly in time between them).
    burn_in : rounds a back-cast plays before its first round, from an empty queue, at the
        first round's positions and inflow; not counted.
    proficiency_gain : Norwegian proficiency (the population model's 0-1 scale) a returning
        applicant gains in the half year before the next round, at most to 1: language
        courses while waiting. The report names insufficient Norwegian among the reasons
        for not being qualified; without a gain, whoever is below the ranking's
        qualification threshold stays there for good.
    ranking : the hospitals' ranking weights the rounds after the base round play with in
        place of the base round's calibrated ones, by dotted path below the parameter file's
        ``[ranking]`` table (``"education_weight.Norway"``; score sds). The calibration fits
        the ranking on the report's population, whose waiting applicants are drawn from the
        report's marginals; the queue's own waiting are those the ranking passed over, so the
        queue's fit adjusts a few weights to meet the same acceptance on the population the
        queue builds (docs/queue.md). Checked against the parameters by the experiment's
        loader and :meth:`Sequence.of <lis1abm.queue.sequence.Sequence.of>`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_round: str = "autumn2024"
    rounds: int = Field(22, ge=1, le=200)
    positions: int = Field(609, ge=29, le=100_000)
    spring_inflow_factor: Factor = 1.2
    return_probability: dict[str, Probability] = Field(
        default_factory=lambda: {"Norway": 0.9, "EEA+UK": 0.9, "Outside EEA": 0.9}
    )
    return_decay: Annotated[float, Field(ge=0.0, le=1.5)] = 0.95
    return_factor_unlisted: Probability = 1.0
    return_factor_nationality: dict[str, Factor] = Field(default_factory=dict)
    inflow_growth: dict[str, Factor] = Field(default_factory=dict)
    inflow_then: dict[str, Factor] = Field(
        default_factory=lambda: {"Norway": 1.0, "EEA+UK": 1.0, "Outside EEA": 1.0}
    )
    burn_in: int = Field(8, ge=0, le=100)
    proficiency_gain: Annotated[float, Field(ge=0.0, le=0.5)] = 0.0
    ranking: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _groups_known(self) -> QueueSettings:
        parse_round(self.base_round)  # "spring<year>" or "autumn<year>"
        if sorted(self.return_probability) != sorted(GROUPS):
            raise ValueError(
                f"return_probability: needs exactly the education groups {list(GROUPS)}, "
                f"got {sorted(self.return_probability)}"
            )
        if sorted(self.inflow_then) != sorted(GROUPS):
            raise ValueError(
                f"inflow_then: needs exactly the education groups {list(GROUPS)}, "
                f"got {sorted(self.inflow_then)}"
            )
        for name in self.return_factor_nationality:
            if name not in GROUPS:
                raise ValueError(
                    f"return_factor_nationality: unknown group {name!r} (known: {list(GROUPS)})"
                )
        cells = [f"{n} x {e}" for n in GROUPS for e in GROUPS]
        for name in self.inflow_growth:
            if name not in cells:
                raise ValueError(f"inflow_growth: unknown group {name!r} (known: {cells})")
        return self

    def ranking_overrides(self) -> dict[str, float]:
        """:attr:`ranking` as overrides of the parameters (paths from the file's top)."""
        return {f"ranking.{path}": value for path, value in self.ranking.items()}

    def return_chance(
        self,
        education_group: np.ndarray,
        nationality_group: np.ndarray,
        rounds_applied: np.ndarray,
        listed: np.ndarray,
    ) -> np.ndarray:
        """The chance (N,) that each not-hired applicant applies in the next round, from their
        education and nationality groups, the rounds they have applied in (this one
        included) and whether they were on any ad's ranked list in this round (bool (N,))."""
        base = np.array([self.return_probability[g] for g in education_group], dtype=float)
        nationality = [self.return_factor_nationality.get(g, 1.0) for g in nationality_group]
        earlier = np.asarray(rounds_applied, dtype=float) - 1.0
        chance = base * np.array(nationality, dtype=float) * self.return_decay**earlier
        return np.minimum(chance, 1.0) * np.where(listed, 1.0, self.return_factor_unlisted)
