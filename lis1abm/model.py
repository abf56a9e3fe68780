"""The Mesa model of one application round's offer cascade.

Each :meth:`LIS1Model.step` is one offer round of the calendar: every ad with open positions
makes its offers, then every applicant with offers replies by the deadline, and acceptances
are marked by the marking deadline (or one round late). After the last round the model stops.
"""

from __future__ import annotations

import mesa
import numpy as np
import pandas as pd

from . import behaviour
from .agents import Ad, Applicant
from .market import Market, ranked_lists
from .outcomes import CASCADE_FIELDS, ReplicationOutcome


class LIS1Model(mesa.Model):
    """The offer rounds of one replication.

    Parameters
    ----------
    market : the market arrays (population, applications, scores, capacities, thresholds).
    replication : replication index; with ``market.seed`` it keys every random draw.
    log_events : keep the event log (one row per offer).

    Mesa's own generator (``rng``) is seeded from (seed, replication) for users' extensions;
    the model's own draws all come from :mod:`lis1abm.rng`, so that they are identical on
    every backend.
    """

    def __init__(self, market: Market, replication: int = 0, *, log_events: bool = True):
        super().__init__(rng=np.random.default_rng([market.seed, replication]))
        self.market = market
        self.replication = replication
        self.n_rounds = market.n_rounds
        self.no_reply_q16 = market.no_reply_q16
        self.round_number = 0
        self.log_events = log_events
        self.events: list[tuple[int, int, int, int]] = []
        self._tally = np.zeros((self.n_rounds, len(CASCADE_FIELDS)), dtype=np.int64)

        apps = market.applications
        self.applicant_list = [
            Applicant(
                self,
                i,
                dict(
                    zip(
                        apps.ad[apps.ptr[i] : apps.ptr[i + 1]].tolist(),
                        apps.pref[apps.ptr[i] : apps.ptr[i + 1]].tolist(),
                        strict=True,
                    )
                ),
            )
            for i in range(market.n_applicants)
        ]
        ptr, ranked = ranked_lists(market, replication)
        self.ad_list = [
            Ad(self, j, int(market.capacity[j]), ranked[ptr[j] : ptr[j + 1]].tolist())
            for j in range(market.n_ads)
        ]
        self.datacollector = mesa.DataCollector(
            model_reporters={
                name: (lambda m, k=k: int(m._tally[m.round_number - 1, k]))
                for k, name in enumerate(CASCADE_FIELDS)
            }
            | {"round": "round_number"}
        )

    def step(self) -> None:
        """One offer round."""
        self.round_number += 1
        self.agents_by_type[Ad].do("make_offers")
        self.agents_by_type[Applicant].do("respond")
        hired = sum(len(ad.hires) for ad in self.ad_list)
        self._tally[self.round_number - 1, CASCADE_FIELDS.index("open_after")] = (
            int(self.market.capacity.sum()) - hired
        )
        self.datacollector.collect(self)
        if self.round_number >= self.n_rounds:
            self.running = False

    def run(self) -> ReplicationOutcome:
        """Play every round and return the outcome."""
        while self.running:
            self.step()
        return self.outcome()

    # -- bookkeeping called by the agents ------------------------------------------------
    def record(self, ad: Ad, applicant: Applicant, response: int) -> None:
        row = self._tally[self.round_number - 1]
        row[CASCADE_FIELDS.index("offers")] += 1
        row[CASCADE_FIELDS.index(behaviour.RESPONSES[response])] += 1
        if self.log_events:
            self.events.append((self.round_number, ad.index, applicant.index, response))

    def count_decision(self, decision: int) -> None:
        row = self._tally[self.round_number - 1]
        if decision == behaviour.WAIT:
            row[CASCADE_FIELDS.index("applicants_waiting")] += 1
        elif decision == behaviour.NO_REPLY:
            row[CASCADE_FIELDS.index("applicants_no_reply")] += 1
        elif decision == behaviour.WITHDRAWN:
            row[CASCADE_FIELDS.index("applicants_withdrawn")] += 1

    # -- results ----------------------------------------------------------------------
    def outcome(self) -> ReplicationOutcome:
        hired_ad = np.array(
            [a.hired_ad.index if a.hired_ad else -1 for a in self.applicant_list], dtype=np.int64
        )
        hired_round = np.array([a.hired_round for a in self.applicant_list], dtype=np.int64)
        return ReplicationOutcome(self.replication, hired_ad, hired_round, self._tally.copy())

    def event_log(self) -> pd.DataFrame:
        """Every offer: round, ad index, applicant id and response name."""
        events = np.array(self.events, dtype=np.int64).reshape(-1, 4)
        log = pd.DataFrame(events, columns=["round", "ad", "applicant", "response"])
        log["response"] = pd.Categorical.from_codes(log["response"], behaviour.RESPONSES)
        log.insert(0, "replication", self.replication)
        return log
