"""A round's positions and applications rescaled: the changed copies that scenarios and the
queue across rounds play.

The round's data are frozen dataclasses; a changed round is a copy
(:func:`dataclasses.replace`), never a changed original.
"""

from __future__ import annotations

import dataclasses

from lis1abm.data.round import RoundData, largest_remainder


def scale_positions(data: RoundData, total: int | None) -> RoundData:
    """Every ad's positions scaled to ``total`` in proportion to the round's (largest
    remainder, so they add up exactly), the trusts' positions and the totals following.
    ``total`` None: the round unchanged.

    Raises
    ------
    ValueError : ``total`` below the number of ads (every ad keeps at least one position).
    """
    if total is None:
        return data
    if total < len(data.ads):
        raise ValueError(f"got {total}; must be at least the number of ads ({len(data.ads)})")
    return with_ad_positions(data, spread([a.positions for a in data.ads], total))


def spread(weights: list[int], total: int) -> list[int]:
    """``total`` positions over ads in proportion to ``weights`` (largest remainder), at
    least one an ad: largest remainder can round a small ad down to 0, which then gets one
    from the largest."""
    counts = largest_remainder(weights, total)
    while min(counts) < 1:
        counts[counts.index(min(counts))] += 1
        counts[counts.index(max(counts))] -= 1
    return counts


def with_ad_positions(data: RoundData, counts: list[int]) -> RoundData:
    """The round with each ad's positions (J,), the trusts' positions and the total following."""
    ads = tuple(dataclasses.replace(a, positions=n) for a, n in zip(data.ads, counts, strict=True))
    by_trust: dict[str, int] = {}
    for ad in ads:
        by_trust[ad.trust] = by_trust.get(ad.trust, 0) + ad.positions
    trusts = tuple(dataclasses.replace(t, positions=by_trust.get(t.name, 0)) for t in data.trusts)
    return dataclasses.replace(
        data, ads=ads, trusts=trusts, totals=dict(data.totals, positions=sum(counts))
    )


def scale_applications(data: RoundData, factor: float) -> RoundData:
    """Every ad's applications and every trust's unique applicants times ``factor``, within
    the round file's bounds (a trust's unique applicants lie between its largest ad's
    applications and its applications, below them for a trust with several ads)."""
    total = round(data.totals["applications"] * factor)
    counts = largest_remainder([a.applications for a in data.ads], total)
    ads = tuple(
        dataclasses.replace(a, applications=n) for a, n in zip(data.ads, counts, strict=True)
    )
    trusts = []
    for t in data.trusts:
        mine = [a.applications for a in ads if a.trust == t.name]
        applications = sum(mine)
        top = applications - (1 if len(mine) > 1 else 0)
        unique = min(max(round(t.unique_applicants * factor), max(mine)), top)
        trusts.append(dataclasses.replace(t, applications=applications, unique_applicants=unique))
    return dataclasses.replace(
        data, ads=ads, trusts=tuple(trusts), totals=dict(data.totals, applications=total)
    )
