"""Applicant growth: the round with more applicants educated abroad or in Norway.

The report warns that applicant numbers may rise with more students at Norwegian universities
and more migration. A scenario's ``growth_educated_abroad = 0.2`` gives 20 % more applicants
educated abroad (in the EEA+UK and outside the EEA, together), ``growth_educated_in_norway``
the same for the Norway-educated. Ads, positions, the report's hires (so the capacity) and the
calendar stay as the round has them.

How the round grows (every count exact, so that every check of the round file still passes:
:func:`lis1abm.data.round.check_totals`):

1. **Appendix 4.** The growing group's nationality x education-country pairs are scaled by
   ``1 + g`` by largest remainder, so that the group's total is ``round(n (1 + g))`` exactly
   and no pair shrinks. The added applicants are :attr:`PairCount.added`: the population
   gives them ids after the round's applicants.
2. **Grouped tables** (nationality, education, their cross): applicants from appendix 4.
3. **Graduation period.** A group's new applicants follow the group's row of the table the
   population is built from (:func:`lis1abm.market.population.graduation_table`: the report's
   split of the two newest periods, the parameters' prior for the others), scaled by largest
   remainder; the periods' totals and the split of the newest periods by education
   (``graduation_by_education``) follow, so the builder's table has the grown rows.
4. **Marginals the report gives without a split by education** (gender, age group, wanted job,
   residence): the added applicants are split in proportion to the round's counts (largest
   remainder), i.e. they have the round's overall profile. The population model takes gender
   and wanted job to be independent of education anyway; for age group and residence this is
   an assumption (the builder meets the counts by rank, so added applicants who are older
   than the round's average push some of the round's applicants into a younger age group).
5. **Applications.** Every ad's applications (largest remainder) and every trust's unique
   applicants are scaled by ``N' / N``: applications per applicant and each ad's share of the
   applications stay as they were, and the application model re-solves the trusts'
   attractiveness for the new counts.
6. **Kept as they are**: the report's hires (grouped, per pair and per trust: with the default
   capacity rule, 606 hires), table 2 (the not hired after four or more rounds, which the
   population still meets), and shares (more than five rounds applied: 6 % of the new total).

**Common random numbers are partial under growth.** Every draw is keyed by applicant id, and
the round's applicants keep their ids, so they keep every draw of their own. What depends on
the whole population changes: the assignments that meet a count by rank (graduation period,
age group, gender, wanted job, residence, study city), the applications (the attractiveness
is re-solved) and the ranked lists (the added applicants compete). The difference between a
growth scenario and the round is therefore less noisy than between independent runs, but
noisier than between two capacity or calendar scenarios.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lis1abm.data.round import (
    GROUPS,
    GroupFigure,
    RoundData,
    check_totals,
    largest_remainder,
)
from lis1abm.data.scaling import scale_applications
from lis1abm.market.population import graduation_table
from lis1abm.params import Params

EDUCATED_ABROAD = ("EEA+UK", "Outside EEA")
"""Education groups that ``growth_educated_abroad`` scales (together)."""
UNSPLIT_MARGINALS = ("gender", "age_group", "wanted_job", "residence")
"""Marginal breakdowns the report gives without a split by education (step 4)."""


def grow_applicants(
    data: RoundData, params: Params, *, abroad: float = 0.0, norway: float = 0.0
) -> RoundData:
    """The round with ``abroad`` (fraction: 0.2 = 20 %) more applicants educated abroad and
    ``norway`` more educated in Norway (see the module docstring); the round itself when both
    are 0.

    Raises
    ------
    ValueError : a negative growth.
    """
    if abroad < 0 or norway < 0:
        raise ValueError(f"growth must be >= 0, got abroad={abroad}, norway={norway}")
    if abroad == 0 and norway == 0:
        return data
    data.require_market()
    n_old = data.totals["applicants"]
    appendix4 = _grow_pairs(data, [(("Norway",), norway), (EDUCATED_ABROAD, abroad)])
    n_new = sum(p.applicants for p in appendix4)
    grown = dataclasses.replace(
        data,
        appendix4=appendix4,
        groups=_groups(data, appendix4),
        totals=dict(data.totals, applicants=n_new),
    )
    grown = _grow_graduation(grown, graduation_table(data, params))
    grown = _grow_marginals(grown, n_new - n_old)
    grown = scale_applications(grown, n_new / n_old)
    check_totals(grown)
    return grown


def _grow_pairs(data: RoundData, growth) -> tuple:
    """Appendix 4 with each (education groups, fraction) of ``growth`` applied (step 1)."""
    counts = [p.applicants for p in data.appendix4]
    for groups, g in growth:
        if g == 0:
            continue
        mine = [i for i, p in enumerate(data.appendix4) if data.countries[p.education] in groups]
        base = [counts[i] for i in mine]
        for i, n in zip(mine, largest_remainder(base, round(sum(base) * (1 + g))), strict=True):
            counts[i] = n
    return tuple(
        dataclasses.replace(p, applicants=n, added=p.added + n - p.applicants)
        for p, n in zip(data.appendix4, counts, strict=True)
    )


def _groups(data: RoundData, appendix4) -> dict:
    """The grouped tables with appendix 4's applicants and the report's hires (step 2)."""

    def applicants(nationality: str | None, education: str | None) -> int:
        return sum(
            p.applicants
            for p in appendix4
            if nationality in (None, data.countries[p.nationality])
            and education in (None, data.countries[p.education])
        )

    return {
        "nationality": {
            g: (applicants(g, None), h) for g, (_, h) in data.groups["nationality"].items()
        },
        "education": {
            g: (applicants(None, g), h) for g, (_, h) in data.groups["education"].items()
        },
        "cross": {
            (ng, eg): (applicants(ng, eg), h) for (ng, eg), (_, h) in data.groups["cross"].items()
        },
    }


def _grow_graduation(data: RoundData, table: np.ndarray) -> RoundData:
    """Graduation periods: each education group's row of the round's graduation table
    ``table`` (3, P) scaled to its new total (step 3)."""
    grown = table.copy()
    for e, g in enumerate(GROUPS):
        total = data.groups["education"][g][0]
        if total != table[e].sum():
            grown[e] = largest_remainder(table[e].tolist(), total)
    columns = grown.sum(axis=0)
    periods = data.breakdowns["graduation_period"]
    names = [p.group for p in periods]
    breakdowns = dict(data.breakdowns)
    breakdowns["graduation_period"] = tuple(
        dataclasses.replace(p, applicants=int(n)) for p, n in zip(periods, columns, strict=True)
    )
    breakdowns["graduation_by_education"] = tuple(
        (
            period,
            edu,
            float(grown[GROUPS.index(edu), names.index(period)] / columns[names.index(period)]),
        )
        for period, edu, _ in data.breakdowns.get("graduation_by_education", ())
    )
    return dataclasses.replace(data, breakdowns=breakdowns)


def _grow_marginals(data: RoundData, added: int) -> RoundData:
    """The marginals without a split by education: ``added`` applicants split in proportion
    to the round's counts (step 4)."""
    breakdowns = dict(data.breakdowns)
    for name in UNSPLIT_MARGINALS:
        rows: tuple[GroupFigure, ...] = breakdowns[name]
        extra = largest_remainder([r.applicants for r in rows], added)
        breakdowns[name] = tuple(
            dataclasses.replace(r, applicants=r.applicants + k)
            for r, k in zip(rows, extra, strict=True)
        )
    return dataclasses.replace(data, breakdowns=breakdowns)
