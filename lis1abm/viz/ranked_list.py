"""One ad's ranked list (innstillingsliste) and what has become of each candidate so far."""

from __future__ import annotations

import html

import solara
from mesa.visualization.utils import update_counter

from lis1abm.rules import RESPONSES
from lis1abm.viz.model import ViewModel

ANSWERS = {
    "accepted": "accepted",
    "declined": "declined",
    "unanswered": "no reply (declined)",
    "declined_hired": "declined (hired elsewhere)",
}
"""How the page words each offer response (:data:`lis1abm.rules.RESPONSES`)."""


def fates(model: ViewModel, ad: int) -> list[tuple[int, int, str, str, str]]:
    """Each candidate on ad ``ad``'s ranked list, best first: (rank from 1, applicant id,
    education group, nationality group, fate now).

    The fate is this ad's offer and its answer (with the round), else, once the ad's offers
    have passed the candidate, why no offer came (withdrawn, or marked as hired elsewhere),
    else where the candidate was hired, else "not reached yet".
    """
    a = model.ad_list[ad]
    offers = {applicant: (r, response) for r, j, applicant, response in model.events if j == ad}
    population = model.market.population
    education = population["education_group"].to_numpy()
    nationality = population["nationality_group"].to_numpy()
    ads = model.market.data.ads
    out = []
    for rank, i in enumerate(a.ranked):
        applicant = model.applicant_list[i]
        if i in offers:
            r, response = offers[i]
            fate = f"offer in round {r}: {ANSWERS[RESPONSES[response]]}"
        elif rank < a.next_rank:
            fate = "passed over: withdrawn" if applicant.withdrawn else "passed over: marked hired"
        elif applicant.hired_ad is not None:
            fate = f"hired at {ads[applicant.hired_ad.index].label} (round {applicant.hired_round})"
        else:
            fate = "not reached yet"
        out.append((rank + 1, i, str(education[i]), str(nationality[i]), fate))
    return out


def ranked_list_html(model: ViewModel, ad: int) -> str:
    """:func:`fates` as an HTML table (``#ranked-list``), scrolling inside its panel."""
    rows = "".join(
        f"<tr><td>{rank}</td><td>{i}</td><td>{html.escape(e)}</td><td>{html.escape(n)}</td>"
        f"<td>{html.escape(fate)}</td></tr>"
        for rank, i, e, n, fate in fates(model, ad)
    )
    return (
        '<div style="max-height: 12em; overflow-y: auto">'
        '<table id="ranked-list" style="border-spacing: 1em 0.1em">'
        "<thead><tr><th>rank</th><th>applicant</th><th>education</th><th>nationality</th>"
        f"<th>fate</th></tr></thead><tbody>{rows}</tbody></table></div>"
    )


@solara.component
def RankedList(model: ViewModel):
    """Mesa component: choose an ad; its ranked list with each candidate's fate, rewritten
    after every step."""
    update_counter.get()
    labels = [ad.label for ad in model.market.data.ads]
    chosen, set_chosen = solara.use_state(labels[0])
    ad = labels.index(chosen) if chosen in labels else 0
    with solara.Column():
        solara.Select("Ad", value=labels[ad], values=labels, on_value=set_chosen)
        capacity = int(model.market.capacity[ad])
        hires = len(model.ad_list[ad].hires)
        solara.Text(
            f"{hires} of {capacity} positions filled; {len(model.ad_list[ad].ranked)} ranked"
        )
        solara.HTML(tag="div", unsafe_innerHTML=ranked_list_html(model, ad))
