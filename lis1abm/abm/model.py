"""The Mesa model of one application round's offer cascade.

Each :meth:`LIS1Model.step` is one offer round: every ad with open positions makes its
offers, then every applicant with offers replies by the deadline, and acceptances are marked by
the marking deadline (or one round late). The calendar's rounds come first, then at most the
round's ``after_calendar_rounds`` more. The model stops after the last round, or after a round
in which no ad made an offer: nothing changes in such a round (every ad is full or has
exhausted its list, and a candidate passed over is never reconsidered), so every later round
would be the same; the rounds not played are zero rows with the open positions carried.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mesa
import numpy as np
import pandas as pd

from lis1abm import rules
from lis1abm.abm.agents import Ad, Applicant
from lis1abm.data.round import RoundData
from lis1abm.market.inputs import build_market_for
from lis1abm.market.ranking import Market, ranked_lists
from lis1abm.outcomes.events import event_table
from lis1abm.outcomes.tally import ReplicationOutcome
from lis1abm.params import Params
from lis1abm.rng import key, reply_day_u16, withdrawal_u16
from lis1abm.rules import CASCADE_FIELDS


def release_agent_ids(model: mesa.Model) -> None:
    """Let a finished model be garbage-collected.

    Mesa < 3.4 keeps every model alive through the class attribute ``Agent._ids`` (a dict
    keyed by model that numbers agents; mesa issue #3179, fixed in mesa 3.4, which needs
    Python 3.12). Thousands of replications would otherwise hold every model in memory.
    Dropping the model's entry only stops the numbering of new agents for that model.
    """
    ids = getattr(mesa.Agent, "_ids", None)
    if isinstance(ids, dict):
        ids.pop(model, None)


class LIS1Model(mesa.Model):
    """The offer rounds of one replication.

    Stands alone, as Mesa's example models do: ``LIS1Model(round="autumn2024", seed=1)``
    builds its own market (the round's shipped parameters unless ``params`` is given) and
    ``run_model()`` plays every round. It gives the same outcome as replication
    ``replication`` of the compiled engines for the same seed.

    Parameters
    ----------
    market : a built market (population, applications, scores, capacities, thresholds);
        when given, ``round``, ``params``, ``overrides`` and ``seed`` must not be.
    replication : replication index; with the market's seed it keys every random draw.
    round : a built-in round's name, a round file's path or a loaded round (default
        ``"autumn2024"``), when no ``market`` is given.
    params : a parameter file or loaded parameters (default: the round's shipped file).
    overrides : dotted parameter paths and values (``{"behaviour.withdrawal_probability":
        0.1}``).
    seed : the root seed (default 2024), when no ``market`` is given.
    log_events : keep the event log (one row per offer, :meth:`event_log`).
    collect : fill the :attr:`datacollector` after every round.
    shuffle : let agents act in a random order each round (Mesa's ``shuffle_do``, from the
        model's ``rng``); the outcome is the same either way.

    Attributes
    ----------
    datacollector : Mesa's :class:`~mesa.DataCollector`, the model's readable output after
        :meth:`run_model`: ``get_model_vars_dataframe()`` has a row per round played (the
        round, and the cascade's counts of :data:`lis1abm.rules.CASCADE_FIELDS`: offers,
        their responses, applicants waiting or not replying, withdrawn candidates skipped,
        open positions after the round); ``get_agenttype_vars_dataframe(Applicant)`` a row per
        round and applicant (``hired_ad``: the ad's index or -1, ``hired_round``: the round
        of acceptance or 0, ``marked``: marked as hired by the end of the round, ``withdrawn``)
        and ``get_agenttype_vars_dataframe(Ad)`` a row per round and ad (``hires``,
        ``open_positions``).

    Mesa's own generator (``rng``) is seeded from (seed, replication) for users' extensions;
    the model's own draws all come from :mod:`lis1abm.rng`, so that they are identical on
    every backend.
    """

    def __init__(
        self,
        market: Market | None = None,
        replication: int = 0,
        *,
        round: str
        | Path
        | RoundData
        | None = None,  # Mesa-style keyword, as the issue and Mesa examples use
        params: str | Path | Params | None = None,
        overrides: Mapping[str, Any] | None = None,
        seed: int | None = None,
        log_events: bool = True,
        collect: bool = True,
        shuffle: bool = False,
    ):
        if market is None:
            market = build_market_for(
                round or "autumn2024", params, overrides, 2024 if seed is None else seed
            )
        elif any(x is not None for x in (round, params, overrides, seed)):
            raise ValueError("give either a market or round/params/overrides/seed, not both")
        super().__init__(rng=np.random.default_rng([market.seed, replication]))
        self.market = market
        self.replication = replication
        self.n_rounds = market.n_rounds
        self.n_calendar = market.n_calendar
        self.no_reply_q16 = market.no_reply_q16
        self.round_number = 0
        self.log_events = log_events
        self.collect = collect
        self.shuffle = shuffle
        self.events: list[tuple[int, int, int, int]] = []
        self.draws: dict[str, np.ndarray] = {}  # this round's 16-bit draws, (N,) per decision
        # Withdrawal is decided once per replication (drawn with round 0), before the rounds.
        ids = np.arange(market.n_applicants)
        self.key = key(int(market.seed))
        withdrawn = rules.has_withdrawn(
            withdrawal_u16(*self.key, replication, ids), market.withdraw_q16
        )
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
                bool(withdrawn[i]),
            )
            for i in range(market.n_applicants)
        ]
        ptr, ranked = ranked_lists(market, replication)
        self.ad_list = [
            Ad(self, j, int(market.capacity[j]), ranked[ptr[j] : ptr[j + 1]].tolist())
            for j in range(market.n_ads)
        ]
        self.datacollector = mesa.DataCollector(
            model_reporters={"round": "round_number"}
            | {
                name: (lambda m, k=k: int(m._tally[m.round_number - 1, k]))
                for k, name in enumerate(CASCADE_FIELDS)
            },
            agenttype_reporters={
                Applicant: {
                    "hired_ad": lambda a: a.hired_ad.index if a.hired_ad else -1,
                    "hired_round": "hired_round",
                    "marked": lambda a: a.marked_from <= a.model.round_number,
                    "withdrawn": "withdrawn",
                },
                Ad: {
                    "hires": lambda ad: len(ad.hires),
                    "open_positions": lambda ad: rules.vacancies(ad.capacity, len(ad.hires)),
                },
            },
        )

    def step(self) -> None:
        """One offer round."""
        self.round_number += 1
        ids = np.arange(self.market.n_applicants)
        r = self.round_number
        # The reply day's three draws of every applicant (one block per (applicant, round)).
        no_reply, wait, late = reply_day_u16(*self.key, self.replication, ids, r)
        self.draws = {
            "no_reply": no_reply,
            "wait": wait,
            "late_marking": late,
        }
        # Offers and replies are simultaneous: the order in which agents act cannot matter
        # (a test checks it with shuffle=True).
        act = "shuffle_do" if self.shuffle else "do"
        getattr(self.agents_by_type[Ad], act)("make_offers")
        getattr(self.agents_by_type[Applicant], act)("respond")
        hired = sum(len(ad.hires) for ad in self.ad_list)
        open_after = CASCADE_FIELDS.index("open_after")
        n_positions = rules.positions(self.market.capacity)
        self._tally[r - 1, open_after] = rules.open_positions(n_positions, hired)
        if self.collect:
            self.datacollector.collect(self)
        no_offers = self._tally[self.round_number - 1, CASCADE_FIELDS.index("offers")] == 0
        if self.round_number >= self.n_rounds or no_offers:
            # The rounds not played (see the module docstring) carry the open positions.
            self._tally[self.round_number :, open_after] = self._tally[r - 1, open_after]
            self.running = False

    def run(self) -> ReplicationOutcome:
        """Play every round and return the outcome."""
        while self.running:
            self.step()
        release_agent_ids(self)
        return self.outcome()

    # -- bookkeeping called by the agents ------------------------------------------------
    def record(self, ad: Ad, applicant: Applicant, response: int) -> None:
        row = self._tally[self.round_number - 1]
        row[CASCADE_FIELDS.index("offers")] += 1
        row[CASCADE_FIELDS.index(rules.RESPONSES[response])] += 1
        if self.log_events:
            self.events.append((self.round_number, ad.index, applicant.index, response))

    def count_decision(self, decision: int) -> None:
        row = self._tally[self.round_number - 1]
        if decision == rules.WAIT:
            row[CASCADE_FIELDS.index("applicants_waiting")] += 1
        elif decision == rules.NO_REPLY:
            row[CASCADE_FIELDS.index("applicants_no_reply")] += 1

    def count_skipped_withdrawn(self) -> None:
        """An ad passed over a withdrawn candidate on its list this round."""
        self._tally[self.round_number - 1, CASCADE_FIELDS.index("skipped_withdrawn")] += 1

    # -- results ----------------------------------------------------------------------
    def outcome(self) -> ReplicationOutcome:
        hired_ad = np.array(
            [a.hired_ad.index if a.hired_ad else -1 for a in self.applicant_list], dtype=np.int64
        )
        hired_round = np.array([a.hired_round for a in self.applicant_list], dtype=np.int64)
        return ReplicationOutcome(self.replication, hired_ad, hired_round, self._tally.copy())

    def event_log(self) -> pd.DataFrame:
        """Every offer: replication, round, ad index, applicant id and response name, sorted
        by round, ad and applicant."""
        events = np.array(self.events, dtype=np.int64).reshape(-1, 4)
        return event_table(np.full(len(events), self.replication), *events.T)
