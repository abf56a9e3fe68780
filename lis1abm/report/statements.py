"""The report's figure 4.3 statements, checked on replications (held out of any fit).

The report's figure 4.3 shows hires per hospital by education group without numbers; its text
says (DOMAIN.md, "What the report says about where people were hired"):

(a) Helse Nord-Trøndelag Namsos is the only hospital with no Norway-educated hire;
(b) large university and city hospitals hired the most Norway-educated doctors, over 70 % of
    their hires at several of them (here: Oslo universitetssykehus, Helse Bergen, St. Olavs
    hospital, Universitetssykehuset Nord-Norge and Akershus universitetssykehus's Akershus ad);
(c) Helse Nord-Trøndelag, Helgelandssykehuset, Helse Fonna and Finnmarkssykehuset hired a very
    high share of doctors educated in other EEA countries.

Each becomes measures of the model's per-replication hires per ad and education group, and a
hit or a miss:

- (a) the share of replications in which Namsos hires nobody educated in Norway; hit when it is
  at least one half (the statement holds in most replications);
- (b) per hospital, the mean share of Norway-educated among its hires and the share of
  replications where it exceeds 70 %; hit for a hospital whose mean share exceeds 70 %, and for
  the statement when at least two ("several") of the five do;
- (c) per trust (all its ads), the mean EEA-educated share of its hires against the national
  EEA-educated share of the model's hires (both means over replications, per replication
  ratios); hit when the trust's share is above the national one. The report's national
  share is 318 / 606 = 52 %.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from lis1abm.data.round import GROUPS

if TYPE_CHECKING:
    from lis1abm.outcomes.tally import Tally

NAMSOS = "helse-nord-trondelag-namsos"
"""The ad of Helse Nord-Trøndelag's Namsos hospital."""
UNIVERSITY_HOSPITALS = (
    "ous",
    "helse-bergen-haukeland-voss",
    "st-olavs-trondheim-orkdal",
    "unn",
    "ahus-akershus",
)
"""Ads of the big university hospitals of statement (b)."""
EEA_TRUSTS = ("Helse Nord-Trøndelag", "Helgelandssykehuset", "Helse Fonna", "Finnmarkssykehuset")
"""Trusts of statement (c)."""
NORWAY_SHARE = 0.70
"""Statement (b)'s threshold: share of Norway-educated hires."""
SEVERAL = 2
"""How many hospitals over 70 % make "several"."""


def _ad_hires(tally: Tally, values: np.ndarray, ad_ids) -> dict[str, np.ndarray]:
    """Hires per replication of the ads ``ad_ids`` (all, and per education group):
    {"hired": (R, J'), "<group>": (R, J')}."""
    layout = tally.layout
    labels = {ad.id: ad.label for ad in tally.market.data.ads}
    column = {
        (g, m): k
        for k, (b, g, m) in enumerate(
            zip(layout["breakdown"], layout["group"], layout["metric"], strict=True)
        )
        if b == "ad"
    }
    out = {}
    for metric in ("hired", *(f"hired_{g}" for g in GROUPS)):
        cols = [column[(labels[a], metric)] for a in ad_ids]
        out[metric.removeprefix("hired_")] = values[:, cols]
    return out


def _share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """part / whole per replication, 0 where nobody was hired."""
    return np.divide(part, whole, out=np.zeros(part.shape), where=whole > 0)


def figure_4_3(tally: Tally, values: np.ndarray) -> list[dict]:
    """The statements' measures on replications' values (R, K) (:attr:`Tally.layout` order).

    Returns one dict per measure: ``statement`` (a, b, c), ``subject``, ``measure`` (in
    words), ``model`` (the model's figure), ``reference`` (what it is compared with, or
    None), ``hit`` (bool).
    """
    ads = {ad.id: ad for ad in tally.market.data.ads}
    values = np.asarray(values)
    rows = []
    if NAMSOS in ads:
        h = _ad_hires(tally, values, [NAMSOS])
        none = float(np.mean(h["Norway"][:, 0] == 0))
        rows.append(
            _row(
                "a",
                ads[NAMSOS].label,
                "share of replications with no Norway-educated hire",
                none,
                0.5,
                none >= 0.5,
            )
        )
    big = [a for a in UNIVERSITY_HOSPITALS if a in ads]
    if big:
        h = _ad_hires(tally, values, big)
        share = _share(h["Norway"], h["hired"])  # (R, J')
        over = 0
        for j, ad_id in enumerate(big):
            mean_share = float(share[:, j].mean())
            over += mean_share > NORWAY_SHARE
            rows.append(
                _row(
                    "b",
                    ads[ad_id].label,
                    "mean Norway-educated share of hires",
                    mean_share,
                    NORWAY_SHARE,
                    mean_share > NORWAY_SHARE,
                )
            )
            above = float(np.mean(share[:, j] > NORWAY_SHARE))
            rows.append(
                _row(
                    "b",
                    ads[ad_id].label,
                    "share of replications above 70 % Norway-educated",
                    above,
                    None,
                    above >= 0.5,
                )
            )
        rows.append(
            _row(
                "b",
                "university hospitals",
                "hospitals above 70 % on average",
                float(over),
                float(SEVERAL),
                over >= SEVERAL,
            )
        )
    every = list(ads)
    h = _ad_hires(tally, values, every)
    national = float(_share(h["EEA+UK"].sum(axis=1), h["hired"].sum(axis=1)).mean())
    for trust in EEA_TRUSTS:
        mine = [i for i, a in enumerate(every) if ads[a].trust == trust]
        if not mine:
            continue
        share = float(
            _share(h["EEA+UK"][:, mine].sum(axis=1), h["hired"][:, mine].sum(axis=1)).mean()
        )
        rows.append(
            _row(
                "c",
                trust,
                "mean EEA-educated share of hires (reference: national)",
                share,
                national,
                share > national,
            )
        )
    return rows


def _row(statement, subject, measure, model, reference, hit) -> dict:
    return {
        "statement": statement,
        "subject": subject,
        "measure": measure,
        "model": model,
        "reference": reference,
        "hit": bool(hit),
    }
