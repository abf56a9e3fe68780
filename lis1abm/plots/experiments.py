"""Experiments' figures, drawn from saved results alone.

Each figure function takes an experiment's summary (``summary.csv``: columns ``scenario,
breakdown, group, metric, replications, mean, p05, p95``) and the scenarios of its
``meta.json`` (each with ``name``, ``series``, ``vary``, ``value`` and ``settings``) and
returns a Figure: means as lines with markers, 5-95 % bands over replications as shaded bands.
:data:`FIGURES` names them for the experiment configs.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lis1abm.plots.report import REPORT_FIGURES
from lis1abm.plots.theme import colours, use_theme

GROUP_ORDER = ("Norway", "EEA+UK", "Outside EEA")
BAND_LABEL = "bands: 5-95 % of replications"


def _swept(scenarios: list[dict], vary: str) -> list[dict]:
    return [s for s in scenarios if s.get("vary") == vary]


def _series(
    summary: pd.DataFrame, scenarios: list[dict], breakdown: str, group: str, metric: str
) -> pd.DataFrame:
    """Rows of one measure for ``scenarios``, in their order, with their sweep's ``x`` value
    and ``series``."""
    rows = summary[
        (summary["breakdown"] == breakdown)
        & (summary["group"] == group)
        & (summary["metric"] == metric)
    ].set_index("scenario")
    out = []
    for s in scenarios:
        if s["name"] in rows.index:
            r = rows.loc[s["name"]]
            out.append(
                {"x": s["value"], "series": s.get("series") or "", **r[["mean", "p05", "p95"]]}
            )
    return pd.DataFrame(out, columns=["x", "series", "mean", "p05", "p95"])


def _line(ax, part: pd.DataFrame, colour, label: str, scale: float = 1.0) -> None:
    part = part.sort_values("x")
    x = part["x"].to_numpy(dtype=float)
    ax.fill_between(x, part["p05"] * scale, part["p95"] * scale, color=colour, alpha=0.2, lw=0)
    ax.plot(x, part["mean"] * scale, "o-", color=colour, ms=3, label=label)


def _mark_positions(ax) -> None:
    for level, text in ((601, "2024: 601"), (609, "2025: 609")):
        ax.axvline(level, color="0.4", ls=":", lw=0.8)
        ax.annotate(
            text,
            (level, 1.0),
            xycoords=("data", "axes fraction"),
            fontsize=6,
            rotation=90,
            va="top",
            ha="right",
        )


def capacity_hire_rate(summary: pd.DataFrame, scenarios: list[dict]):
    """Hire rate (% of applicants) against total positions, one line per education group
    (left) and per nationality group (right), all applicants in grey."""
    use_theme()
    swept = _swept(scenarios, "total_positions")
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True, layout="constrained")
    for ax, breakdown, title in (
        (axes[0], "education", "by education country group"),
        (axes[1], "nationality", "by nationality group"),
    ):
        for colour, group in zip(colours(len(GROUP_ORDER)), GROUP_ORDER, strict=True):
            _line(ax, _series(summary, swept, breakdown, group, "hire_rate"), colour, group, 100)
        _line(ax, _series(summary, swept, "total", "all", "hire_rate"), "0.3", "all", 100)
        _mark_positions(ax)
        ax.set_xlabel("positions advertised (total)")
        ax.set_title(f"Hire rate {title}", fontsize=9)
        ax.legend(fontsize=7, title=BAND_LABEL, title_fontsize=6)
    axes[0].set_ylabel("hired (% of applicants)")
    return figure


def capacity_open_and_offers(summary: pd.DataFrame, scenarios: list[dict]):
    """Positions left open after the last round and offers per hire against total
    positions."""
    use_theme()
    swept = _swept(scenarios, "total_positions")
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.4), layout="constrained")
    colour = colours(1)[0]
    _line(axes[0], _series(summary, swept, "cascade", "all", "unfilled"), colour, "mean")
    axes[0].set_ylabel("positions left open (positions)")
    _line(axes[1], _series(summary, swept, "cascade", "all", "offers_per_hire"), colour, "mean")
    axes[1].set_ylabel("offers per hire (offers / hire)")
    for ax in axes:
        _mark_positions(ax)
        ax.set_xlabel("positions advertised (total)")
        ax.legend(fontsize=7, title=BAND_LABEL, title_fontsize=6)
    return figure


def calendar_rounds(summary: pd.DataFrame, scenarios: list[dict]):
    """Positions open after the calendar and total hires against the number of calendar
    rounds, one line per sweep (e.g. with and without rounds after the calendar)."""
    use_theme()
    swept = _swept(scenarios, "calendar_rounds")
    series = list(dict.fromkeys(s.get("series") or "" for s in swept))
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.4), layout="constrained")
    for colour, name in zip(colours(max(len(series), 1)), series, strict=False):
        mine = [s for s in swept if (s.get("series") or "") == name]
        _line(
            axes[0],
            _series(summary, mine, "cascade", "all", "open_after_calendar"),
            colour,
            name,
        )
        _line(axes[1], _series(summary, mine, "total", "all", "hired"), colour, name)
    axes[0].set_ylabel("open after the calendar (positions)")
    axes[1].set_ylabel("hired (applicants)")
    for ax in axes:
        ax.set_xlabel("calendar offer rounds (rounds)")
        ax.legend(fontsize=7, title=BAND_LABEL, title_fontsize=6)
    return figure


def calendar_reply_window(summary: pd.DataFrame, scenarios: list[dict]):
    """Offers made, declined and unanswered (all rounds) against the reply window."""
    use_theme()
    swept = _swept(scenarios, "reply_window_days")
    figure, axes = plt.subplots(1, 3, figsize=(11, 3.3), layout="constrained")
    colour = colours(1)[0]
    for ax, metric in zip(axes, ("offers", "declined", "unanswered"), strict=True):
        _line(ax, _series(summary, swept, "cascade", "all", metric), colour, "mean")
        ax.set_xlabel("reply window of every calendar round (days)")
        ax.set_ylabel(f"{metric} (offers)")
        ax.legend(fontsize=7, title=BAND_LABEL, title_fontsize=6)
    return figure


def calendar_marking(summary: pd.DataFrame, scenarios: list[dict]):
    """Hires per offer round, one line per late-marking probability, and offers declined by
    applicants already hired elsewhere against that probability."""
    use_theme()
    swept = _swept(scenarios, "params.behaviour.late_marking_probability")
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.4), layout="constrained")
    for colour, s in zip(colours(max(len(swept), 1)), swept, strict=False):
        rows = summary[
            (summary["scenario"] == s["name"])
            & (summary["breakdown"] == "cascade")
            & (summary["metric"] == "accepted")
            & (summary["group"].str.startswith("round "))
        ].copy()
        rows["x"] = rows["group"].str.removeprefix("round ").astype(int)
        rows = rows[(rows["x"] <= s["settings"]["calendar_rounds"]) | (rows["mean"] > 0)]
        _line(axes[0], rows, colour, f"p = {s['value']:g}")
    axes[0].set_xlabel("offer round (round)")
    axes[0].set_ylabel("hires (applicants)")
    axes[0].legend(fontsize=7, title=f"late marking; {BAND_LABEL}", title_fontsize=6)
    part = _series(summary, swept, "cascade", "all", "declined_hired")
    _line(axes[1], part, colours(1)[0], "mean")
    axes[1].set_xlabel("late marking probability (probability)")
    axes[1].set_ylabel("declined, already hired (offers)")
    axes[1].legend(fontsize=7, title=BAND_LABEL, title_fontsize=6)
    if len(part):
        axes[1].set_xticks(np.unique(part["x"].to_numpy(dtype=float)))
    return figure


GROWTH = (
    ("growth_educated_abroad", "educated abroad"),
    ("growth_educated_in_norway", "educated in Norway"),
)
"""The applicant-growth overrides and how the figures name the growing group."""


def _growth(scenarios: list[dict], vary: str) -> list[dict]:
    """The scenarios of one growth sweep, with the scenario without growth (if any) at 0."""
    base = [
        dict(s, value=0.0)
        for s in scenarios
        if not any(key in s.get("overrides", {}) for key, _ in GROWTH)
    ]
    return base[:1] + _swept(scenarios, vary)


def _growth_panels(summary, scenarios, metric: str, ylabel: str, scale: float):
    """One panel per growing group: ``metric`` of every education group and of all
    applicants against the growth (% more applicants of the group)."""
    use_theme()
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True, layout="constrained")
    for ax, (vary, who) in zip(axes, GROWTH, strict=True):
        mine = _growth(scenarios, vary)
        for colour, group in zip(colours(len(GROUP_ORDER)), GROUP_ORDER, strict=True):
            part = _series(summary, mine, "education", group, metric)
            _line(ax, part.assign(x=part["x"] * 100), colour, f"educated: {group}", scale)
        part = _series(summary, mine, "total", "all", metric)
        _line(ax, part.assign(x=part["x"] * 100), "0.3", "all applicants", scale)
        ax.set_xlabel(f"more applicants {who} (% of the group)")
        ax.set_title(f"More applicants {who}; positions as in autumn 2024", fontsize=9)
        ax.legend(fontsize=7, title=BAND_LABEL, title_fontsize=6)
    axes[0].set_ylabel(ylabel)
    return figure


def growth_hire_rate(summary: pd.DataFrame, scenarios: list[dict]):
    """Hire rate (% of applicants) by education group against the growth of the applicants
    educated abroad (left) and in Norway (right)."""
    return _growth_panels(summary, scenarios, "hire_rate", "hired (% of applicants)", 100)


def growth_not_hired(summary: pd.DataFrame, scenarios: list[dict]):
    """Applicants not hired, by education group and in all, against the growth of the
    applicants educated abroad (left) and in Norway (right)."""
    return _growth_panels(summary, scenarios, "not_hired", "not hired (applicants)", 1)


FIGURES = {
    "capacity_hire_rate": capacity_hire_rate,
    "capacity_open_and_offers": capacity_open_and_offers,
    "calendar_rounds": calendar_rounds,
    "calendar_reply_window": calendar_reply_window,
    "calendar_marking": calendar_marking,
    "growth_hire_rate": growth_hire_rate,
    "growth_not_hired": growth_not_hired,
    **REPORT_FIGURES,
}
"""Figure functions by the name an experiment config gives in ``figures``."""
