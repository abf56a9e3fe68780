"""Mesa agents: applicants (doctors) and ads (a hospital's positions).

The agents hold the state of the offer rounds and call the rules in :mod:`lis1abm.rules`
for every decision. Their random inputs come from :mod:`lis1abm.rng`, keyed by (seed,
replication, purpose, applicant, round); the model draws them for all applicants at the start
of each round (one vectorised call per purpose), so the order in which agents act does not
matter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa

from lis1abm import rules

if TYPE_CHECKING:
    from lis1abm.abm.model import LIS1Model


class Applicant(mesa.Agent):
    """A doctor who applied to some ads and ranks them by preference.

    Attributes
    ----------
    index : applicant id (row of the population table).
    preference : ad index -> preference rank among the ads applied to (0 = favourite).
    offers : the ads offering this applicant a position in the current round.
    hired_ad : the ad whose offer was accepted, or None.
    hired_round : the round of acceptance (0 if never).
    marked_from : first round in which the applicant counts as marked (rules.NOT_MARKED
        if never hired).
    withdrawn : has taken another job and withdrawn every application before the first
        round (:func:`lis1abm.rules.has_withdrawn`): off every ranked list.
    """

    model: LIS1Model

    def __init__(self, model: LIS1Model, index: int, preference: dict[int, int], withdrawn: bool):
        super().__init__(model)
        self.index = index
        self.preference = preference
        self.withdrawn = withdrawn
        self.offers: list[Ad] = []
        self.hired_ad: Ad | None = None
        self.hired_round = 0
        self.marked_from = rules.NOT_MARKED

    def can_receive_offer(self) -> bool:
        return rules.can_receive_offer(self.marked_from, self.withdrawn, self.model.round_number)

    def receive_offer(self, ad: Ad) -> None:
        self.offers.append(ad)

    def _draw(self, decision: str) -> int:
        """The applicant's 16-bit draw for ``decision`` in the current round."""
        return int(self.model.draws[decision][self.index])

    def respond(self) -> None:
        """Reply to the day's offers: accept the best one, wait, miss the deadline, or decline
        because already hired elsewhere."""
        if not self.offers:
            return
        m = self.model
        r = m.round_number
        best = min(self.offers, key=lambda ad: self.preference[ad.index])
        decision = rules.reply(
            already_hired=self.hired_ad is not None,
            best_rank=self.preference[best.index],
            n_applied=len(self.preference),
            u_no_reply=self._draw("no_reply"),
            no_reply_q16=int(m.no_reply_q16[r - 1]),
            u_wait=self._draw("wait"),
            wait_q16=m.market.wait_q16,
            rounds_left=rules.rounds_left(m.n_calendar, r),
            rounds_total=m.n_calendar,
        )
        m.count_decision(decision)
        for ad in self.offers:
            ad.receive_response(self, rules.offer_response(decision, ad is best))
        if decision == rules.ACCEPT_BEST:
            self.hired_ad = best
            self.hired_round = r
            self.marked_from = rules.marking_round(r, self._draw("late_marking"), m.market.late_q16)
        self.offers = []


class Ad(mesa.Agent):
    """A job ad: offers its open positions to the top of its ranked list each round.

    Attributes
    ----------
    index : ad index (order of the round's ads).
    capacity : hires it can make.
    ranked : applicant ids on its ranked list, best first.
    next_rank : position in ``ranked`` of the next candidate; everyone above it has had an
        offer from this ad (and accepted or declined it) or was marked when reached.
    hires : applicants who accepted.
    """

    model: LIS1Model

    def __init__(self, model: LIS1Model, index: int, capacity: int, ranked: list[int]):
        super().__init__(model)
        self.index = index
        self.capacity = capacity
        self.ranked = ranked
        self.next_rank = 0
        self.hires: list[Applicant] = []

    def make_offers(self) -> None:
        """One offer per vacancy to the highest-ranked candidates who are not marked, have not
        withdrawn and have not had (and so declined) an offer from this ad."""
        open_positions = rules.vacancies(self.capacity, len(self.hires))
        applicants = self.model.applicant_list
        while open_positions > 0 and self.next_rank < len(self.ranked):
            candidate = applicants[self.ranked[self.next_rank]]
            self.next_rank += 1
            if candidate.withdrawn:
                self.model.count_skipped_withdrawn()
            if candidate.can_receive_offer():
                candidate.receive_offer(self)
                open_positions -= 1

    def receive_response(self, applicant: Applicant, response: int) -> None:
        if response == rules.ACCEPTED:
            self.hires.append(applicant)
        self.model.record(self, applicant, response)
