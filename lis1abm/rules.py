"""The behavioural rules of the offer rounds, each written once.

These are small functions of integers, with no objects and no floating point, so that the Mesa
agents call them as they are and a compiled engine (numba CPU or CUDA) can call the very same
code: decisions made on integers cannot be split by the last bit of a float. Random inputs are
16-bit uniform integers ``u`` in [0, 65536) from :mod:`lis1abm.rng`; a probability ``p`` enters
as its threshold ``q16 = round(65536 p)`` (see :func:`q16`), and "``u < q16``" happens with
probability ``q16 / 65536``.

Each rule is decorated with :data:`rule` (numba ``njit(inline="always")``): Python callers (the
Mesa agents) run the compiled function, and the numba CPU and CUDA kernels inline the very
same source into their own code.
"""

from __future__ import annotations

from numba import njit

rule = njit(inline="always")
"""The house decorator of behavioural rules. ``inline="always"``: inlined into the kernels that
call it, which is also what lets a CUDA kernel calling it compile to PTX."""

# Responses to an offer (event log and tallies).
ACCEPTED = 0
DECLINED = 1  # declined for a better offer the same day, or to wait for a better ad
UNANSWERED = 2  # reply deadline missed: counts as a decline
DECLINED_HIRED = 3  # already accepted elsewhere but not yet marked: must decline
RESPONSES = ("accepted", "declined", "unanswered", "declined_hired")

# What an applicant does on a reply day.
ACCEPT_BEST = 0
WAIT = 1  # declines every offer, hoping for a better ad in a later round
NO_REPLY = 2
MUST_DECLINE = 3

NOT_MARKED = 1 << 30  # marking round of an applicant nobody has hired


def q16(probability: float) -> int:
    """The integer threshold of a probability (host side, computed once)."""
    return int(round(min(max(probability, 0.0), 1.0) * 65536))


@rule
def vacancies(capacity: int, hired: int) -> int:
    """Open positions of an ad: it offers one position per vacancy in each round."""
    return capacity - hired if capacity > hired else 0


@rule
def positions(capacity) -> int:
    """Positions of the round's market: every ad's capacity (int array (J,)) summed."""
    total = 0
    for j in range(capacity.shape[0]):
        total += capacity[j]
    return total


@rule
def open_positions(n_positions: int, hired: int) -> int:
    """Positions still open after a round: the market's :func:`positions` less the hires made
    so far (all ads together; an ad never hires beyond its capacity)."""
    return n_positions - hired


@rule
def can_receive_offer(marked_from: int, withdrawn: bool, round_number: int) -> bool:
    """Can an ad reaching this candidate on its list make them an offer?

    Not if they are marked as hired (merking) before this round: a marked doctor gets no more
    offers. An accepted applicant whose marking is late is not yet marked and can still get
    offers (which they must decline). Not if they have withdrawn (:func:`has_withdrawn`): they
    are off every list, so the ad passes over them as over a marked candidate, and never
    comes back to them.
    """
    # ``&`` rather than ``and``: compiled code then decides without a branch.
    return (marked_from > round_number) & (not withdrawn)


@rule
def misses_deadline(u_no_reply: int, no_reply_q16: int) -> bool:
    """An applicant with offers fails to reply in time (probability by reply window)."""
    return u_no_reply < no_reply_q16


@rule
def rounds_left(n_calendar: int, round_number: int) -> int:
    """Calendar rounds still to come after round ``round_number`` (0 in the last calendar
    round and in every round after the calendar).

    Applicants know the official calendar (the web page publishes its five offer days), not
    how many rounds an ad with open positions will go on offering after it, so an applicant
    deciding whether to wait counts only the calendar's rounds: after the calendar nobody
    waits (see :func:`wants_to_wait`)."""
    return max(n_calendar - round_number, 0)


@rule
def wants_to_wait(
    best_rank: int, n_applied: int, u_wait: int, wait_q16: int, rounds_left: int, rounds_total: int
) -> bool:
    """Decline every offer to wait for a better ad?

    The probability is ``wait_max * best_rank / (n_applied - 1) * rounds_left /
    (rounds_total - 1)``: zero for one's favourite ad and in the last round, largest for the
    least-preferred ad in the first round. ``best_rank`` is the preference rank of the best
    offer (0 = favourite of the ``n_applied`` ads applied to); ``rounds_left`` is
    :func:`rounds_left` and ``rounds_total`` the calendar's rounds. Integer arithmetic only.
    """
    # ``&`` rather than ``and``: compiled code then decides without a branch.
    possible = (rounds_left > 0) & (best_rank > 0) & (n_applied > 1) & (rounds_total > 1)
    return possible & (
        u_wait * (n_applied - 1) * (rounds_total - 1) < wait_q16 * best_rank * rounds_left
    )


@rule
def has_withdrawn(u_withdraw: int, withdraw_q16: int) -> bool:
    """The applicant has taken another job (research post, another LIS1 post, ...) and
    withdrawn every application before the first offer round (drawn once per replication).

    Withdrawn applicants leave every ranked list (:func:`can_receive_offer`), rather than stay
    on them and decline every offer: the portal lets an applicant withdraw, someone who has
    taken another job has no reason to stay on lists, and keeping them would make every trust
    waste offers (about 71 per replication on the autumn 2024 market) and rounds on them."""
    return u_withdraw < withdraw_q16


@rule
def reply(
    already_hired: bool,
    best_rank: int,
    n_applied: int,
    u_no_reply: int,
    no_reply_q16: int,
    u_wait: int,
    wait_q16: int,
    rounds_left: int,
    rounds_total: int,
) -> int:
    """What an applicant holding at least one offer does by the reply deadline.

    Returns ``MUST_DECLINE`` (already accepted another ad), ``NO_REPLY`` (deadline missed:
    every offer counts as declined), ``WAIT`` (declines all) or ``ACCEPT_BEST`` (accepts the
    best offer by their own preference and declines the rest).
    """
    # One conditional expression, read "A if a else B if b else ...": the first condition
    # that holds decides. Not early returns, so that compiled code chooses without branching
    # (the decisions are random: branches on them would be mispredicted).
    waits = wants_to_wait(best_rank, n_applied, u_wait, wait_q16, rounds_left, rounds_total)
    misses = misses_deadline(u_no_reply, no_reply_q16)
    return MUST_DECLINE if already_hired else NO_REPLY if misses else WAIT if waits else ACCEPT_BEST


@rule
def offer_response(decision: int, is_best: bool) -> int:
    """The response to one offer, given the applicant's decision for the day and whether this
    is their best offer: ACCEPTED, UNANSWERED, DECLINED_HIRED or DECLINED."""
    # The first condition that holds decides, without branching (as in reply).
    return (
        ACCEPTED
        if (decision == ACCEPT_BEST) & is_best
        else UNANSWERED
        if decision == NO_REPLY
        else DECLINED_HIRED
        if decision == MUST_DECLINE
        else DECLINED
    )


@rule
def marking_round(accept_round: int, u_late: int, late_q16: int) -> int:
    """The first round in which an applicant accepted in ``accept_round`` counts as marked:
    the next one, or the one after if the trust marks late."""
    return accept_round + 2 if u_late < late_q16 else accept_round + 1


# -- ranking keys and offer codes: written once, read by every engine and the event log ------

KEY_SHIFT = 4294967296  # 2**32: a key is ``score * KEY_SHIFT + (KEY_LOW - application)``
KEY_LOW = 0xFFFFFFFF
OFFER_CODE_BASE = 4  # an offer code is ``OFFER_CODE_BASE * round + response``


@rule
def ranking_key(score, application):
    """The key an ad ranks an application by: larger ranks higher. The score (int, below
    2**31 in absolute value) decides; between equal scores the lower application index (so the
    lower applicant id, as applications are stored by applicant) ranks higher. Keys of distinct
    applications never tie, so every backend orders them the same. Works on integers and on
    int64 arrays alike."""
    return score * KEY_SHIFT + (KEY_LOW - application)


@rule
def ranked_application(key):
    """The application index a ranking key was made from (the inverse of :func:`ranking_key`)."""
    return KEY_LOW - (key & KEY_LOW)


@rule
def offer_code(round_number, response):
    """An offer's round and response as one small integer (0 is kept for "no offer": rounds
    start at 1)."""
    return OFFER_CODE_BASE * round_number + response


def decode_offer(code):
    """The (round, response) of offer codes (int arrays); see :func:`offer_code`."""
    return code // OFFER_CODE_BASE, code % OFFER_CODE_BASE


# -- the vocabulary of the cascade ---------------------------------------------------------

CASCADE_FIELDS = (
    "offers",
    "accepted",
    "declined",
    "unanswered",
    "declined_hired",
    "applicants_waiting",
    "applicants_no_reply",
    "skipped_withdrawn",
    "open_after",
)
"""Per-round cascade counts: offers made; responses (accepted, declined, unanswered,
declined because already hired elsewhere); applicants who declined all to wait, who missed the
deadline; candidates the ads passed over on their lists because they had withdrawn (an ad
reaches a withdrawn applicant at most once, so the sum over rounds is the (ad, withdrawn
applicant) pairs reached: the offers the withdrawals would have cost); open positions after
the round."""
