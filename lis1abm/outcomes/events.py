"""The event log: every offer of every replication, one row each, in one form for every
backend (the Mesa model's log and the engine's offer codes)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lis1abm.market.population import COLUMNS as POPULATION_COLUMNS
from lis1abm.rules import RESPONSES, decode_offer

if TYPE_CHECKING:
    from lis1abm.market.ranking import Market


def offer_events(market: Market, replications: np.ndarray, offers: np.ndarray) -> pd.DataFrame:
    """The event log of the array engine's replications, in the Mesa model's form.

    ``offers`` (B, A) holds, per application, the code of the offer it got
    (:func:`lis1abm.rules.offer_code`) or 0. Returns the columns ``replication, round, ad,
    applicant, response`` sorted by replication, round, ad and applicant.
    """
    rep, app = np.nonzero(offers)
    round_, response = decode_offer(offers[rep, app].astype(np.int64))
    return event_table(
        np.asarray(replications)[rep],
        round_,
        market.applications.ad[app],
        market.app_applicant[app],
        response,
    )


def event_table(replication, round_, ad, applicant, response) -> pd.DataFrame:
    """The event log (one row per offer) from its columns, sorted by replication, round, ad
    and applicant; ``response`` codes become the names of :data:`lis1abm.rules.RESPONSES`."""
    log = pd.DataFrame(
        {
            "replication": np.asarray(replication, dtype=np.int64),
            "round": np.asarray(round_, dtype=np.int64),
            "ad": np.asarray(ad, dtype=np.int64),
            "applicant": np.asarray(applicant, dtype=np.int64),
            "response": pd.Categorical.from_codes(np.asarray(response), RESPONSES),
        }
    )
    return log.sort_values(["replication", "round", "ad", "applicant"], ignore_index=True)


# The population's columns that an analyst splits events by: all but its id (the row) and the
# population model's working values.
WORKING_COLUMNS = ("id", "period_index", "years_since_graduation", "proficiency")
APPLICANT_COLUMNS = tuple(c for c in POPULATION_COLUMNS if c not in WORKING_COLUMNS)


def applicant_table(markets: Sequence[Market]) -> pd.DataFrame:
    """The applicants of the event log: one row per (``population``, ``applicant``) of each
    population draw's market (``markets[d]`` is draw d), with their attributes, so that offers
    can be split by any group with a join on ``population`` and ``applicant``."""
    tables = []
    for draw, market in enumerate(markets):
        table = market.population.loc[:, list(APPLICANT_COLUMNS)].copy()
        table.insert(0, "population", np.int64(draw))
        table.insert(1, "applicant", np.arange(len(table), dtype=np.int64))
        table.insert(2, "applications", np.diff(market.applications.ptr).astype(np.int64))
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def ad_table(market: Market) -> pd.DataFrame:
    """The ads of the event log's ``ad`` column (one row each, J rows): id, trust, site,
    region, positions and capacity (the hires the capacity rule allows)."""
    ads = market.data.ads
    return pd.DataFrame(
        {
            "ad": np.arange(len(ads), dtype=np.int64),
            "ad_id": [a.id for a in ads],
            "trust": [a.trust for a in ads],
            "site": [a.site for a in ads],
            "region": [a.region for a in ads],
            "positions": [a.positions for a in ads],
            "capacity": np.asarray(market.capacity, dtype=np.int64),
        }
    )
