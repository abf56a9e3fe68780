"""The cascade round by round: the offers made and their answers (Mesa's own plot component
on the model's DataCollector), the hires so far by education and nationality group against
the report's, and the same hires as a plain table (which the browser test reads).
"""

from __future__ import annotations

import html

import numpy as np
import solara
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from mesa.visualization import make_plot_component
from mesa.visualization.utils import update_counter

from lis1abm.data.round import GROUPS
from lis1abm.viz.model import ViewModel, positions

OFFER_MEASURES = {
    "offers": "black",
    "accepted": "tab:green",
    "declined": "tab:red",
    "unanswered": "tab:orange",
}
"""The DataCollector columns plotted per round (offers made, accepted, declined, unanswered:
missed the reply deadline) and their colours."""

BREAKDOWNS = ("education", "nationality")
GROUP_COLOURS = dict(zip(GROUPS, ("tab:blue", "tab:orange", "tab:green"), strict=True))


def _rounds_from_one(ax: Axes) -> None:
    """Mesa plots the DataCollector's rows from 0; the model's rounds count from 1."""
    for line in ax.lines:
        line.set_xdata(np.asarray(line.get_xdata()) + 1)
    ax.relim()
    ax.autoscale_view()
    ax.set_ylabel("offers")
    ax.set_title("offers per round (step = offer round)", fontsize=10)


def offers_plot():
    """Mesa's plot component of the offers made, accepted, declined and unanswered per
    round; returns ``(component, page)`` as :func:`mesa.visualization.make_plot_component`."""
    return make_plot_component(OFFER_MEASURES, post_process=_rounds_from_one)


def hires_figure(model: ViewModel) -> Figure:
    """Hires so far after each round, by education group (left) and nationality group
    (right); the dashed lines are the report's hires of each group."""
    fig = Figure(figsize=(7.5, 4.0), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    rounds = np.arange(1, model.round_number + 1)
    for ax, breakdown in zip(axes, BREAKDOWNS, strict=True):
        so_far = model.hires_by_round(breakdown)
        report = model.report_hires(breakdown)
        for g in GROUPS:
            colour = GROUP_COLOURS[g]
            ax.plot(rounds, so_far[g], marker="o", color=colour, label=g)
            ax.axhline(report[g], color=colour, linestyle="--", linewidth=1)
        ax.set_title(f"by {breakdown} (dashed: the report)", fontsize=10)
        ax.set_xlabel("offer round")
        ax.set_xlim(0.5, max(model.n_rounds, 1) + 0.5)
    axes[0].set_ylabel("hires so far")
    axes[0].legend(loc="center right", fontsize=8)
    return fig


@solara.component
def HiresPlot(model: ViewModel):
    """Mesa component: :func:`hires_figure`, redrawn after every step."""
    update_counter.get()
    solara.FigureMatplotlib(hires_figure(model), format="png", bbox_inches="tight")


def hires_table_html(model: ViewModel) -> str:
    """The state of the round and the hires so far by group, as HTML with ids and data
    attributes that a test can read: ``#view-status`` (``data-round``, ``data-running``,
    ``data-positions``: positions advertised, ``data-hired``, ``data-overrides``: how
    many) and ``#hires-by-group``, a row
    per breakdown and group (``data-breakdown``, ``data-group``), its ``td.sim`` the
    simulated hires and ``td.report`` the report's."""
    hired = int(np.count_nonzero(model.hired_round > 0))
    advertised = positions(model.market.data)
    changed = html.escape(", ".join(f"{k} = {v}" for k, v in model.overrides.items()) or "none")
    status = (
        f'<p id="view-status" data-round="{model.round_number}" '
        f'data-running="{str(model.running).lower()}" data-positions="{advertised}" '
        f'data-hired="{hired}" data-overrides="{len(model.overrides)}">'
        f"round {model.round_number} of at most {model.n_rounds} "
        f"({model.n_calendar} on the calendar) · {advertised} positions advertised, "
        f"{model.hires_possible} hires possible · {hired} hired"
        f"{'' if model.running else ' · finished'} · overrides: {changed}</p>"
    )
    rows = []
    for breakdown in BREAKDOWNS:
        so_far = model.hires_by_round(breakdown)
        report = model.report_hires(breakdown)
        for g in GROUPS:
            sim = int(so_far[g][-1]) if model.round_number else 0
            name = html.escape(g)
            rows.append(
                f'<tr data-breakdown="{breakdown}" data-group="{name}"><td>{breakdown}</td>'
                f'<td>{name}</td><td class="sim">{sim}</td>'
                f'<td class="report">{report[g]}</td></tr>'
            )
    table = (
        '<table id="hires-by-group" style="border-spacing: 1em 0.1em">'
        "<thead><tr><th>by</th><th>group</th>"
        "<th>hired so far</th><th>report</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )
    return status + table


@solara.component
def HiresTable(model: ViewModel):
    """Mesa component: :func:`hires_table_html`, rewritten after every step."""
    update_counter.get()
    solara.HTML(tag="div", unsafe_innerHTML=hires_table_html(model))
