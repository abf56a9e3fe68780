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
from lis1abm.plots.scenarios import RULES
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


def _line(
    ax, part: pd.DataFrame, colour, label: str | None, scale: float = 1.0, rule: str = "cascade"
) -> None:
    part = part.sort_values("x")
    x = part["x"].to_numpy(dtype=float)
    marker, line, _ = RULES[rule]
    ax.fill_between(x, part["p05"] * scale, part["p95"] * scale, color=colour, alpha=0.2, lw=0)
    ax.plot(x, part["mean"] * scale, marker=marker, ls=line, color=colour, ms=3, label=label)


def _by_rule(scenarios: list[dict]) -> list[tuple[str, list[dict]]]:
    """The scenarios split by allocation rule (in order of appearance): a line never joins
    two rules."""
    rules = dict.fromkeys(s.get("allocation", "cascade") for s in scenarios)
    return [(r, [s for s in scenarios if s.get("allocation", "cascade") == r]) for r in rules]


def _name_rules(ax, rules: list[str]) -> None:
    """Legend entries for the rules' line styles, where there are two or more."""
    if len(rules) > 1:
        for rule in rules:
            marker, line, name = RULES[rule]
            ax.plot([], [], marker=marker, ls=line, color="0.2", ms=3, label=name)


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
        by_rule = _by_rule(swept)
        for k, (rule, mine) in enumerate(by_rule):
            for colour, group in zip(colours(len(GROUP_ORDER)), GROUP_ORDER, strict=True):
                part = _series(summary, mine, breakdown, group, "hire_rate")
                _line(ax, part, colour, group if k == 0 else None, 100, rule)
            part = _series(summary, mine, "total", "all", "hire_rate")
            _line(ax, part, "0.3", "all" if k == 0 else None, 100, rule)
        _name_rules(ax, [r for r, _ in by_rule])
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
    for rule, mine in _by_rule(swept):
        name = "mean" if len(_by_rule(swept)) == 1 else f"mean, {RULES[rule][2]}"
        _line(axes[0], _series(summary, mine, "cascade", "all", "unfilled"), colour, name, 1, rule)
        part = _series(summary, mine, "cascade", "all", "offers_per_hire")
        _line(axes[1], part, colour, name, 1, rule)
    axes[0].set_ylabel("positions left open (positions)")
    axes[1].set_ylabel("offers per hire (offers / hire)")
    for ax in axes:
        _mark_positions(ax)
        ax.set_xlabel("positions advertised (total)")
        ax.legend(fontsize=7, title=BAND_LABEL, title_fontsize=6)
    return figure


def calendar_rounds(summary: pd.DataFrame, scenarios: list[dict]):
    """What a short calendar costs, against the number of calendar rounds: positions open
    (left: after the calendar, the same in every series by definition since the rounds after
    it come later, so drawn once; and at the end, with the rounds after the calendar), offer
    rounds played (middle) and days from the first offer to the end of the hiring (right),
    one line per sweep (e.g. with and without rounds after the calendar)."""
    use_theme()
    swept = _swept(scenarios, "calendar_rounds")
    series = list(dict.fromkeys(s.get("series") or "" for s in swept))
    palette = colours(max(len(series), 1) + 1)
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.4), layout="constrained")
    alone = [s for s in swept if not s["settings"].get("after_calendar_rounds")]
    after = [s for s in swept if s["settings"].get("after_calendar_rounds")]
    first = alone or swept
    first = [s for s in first if (s.get("series") or "") == (first[0].get("series") or "")]
    part = _series(summary, first, "cascade", "all", "open_after_calendar")
    _line(axes[0], part, "0.3", "after the calendar (every series)")
    for colour, name in zip(palette[1:], series, strict=False):
        mine = [s for s in swept if (s.get("series") or "") == name]
        if any(s in after for s in mine):
            part = _series(summary, mine, "cascade", "all", "unfilled")
            _line(axes[0], part, colour, f"at the end: {name}")
        _line(axes[1], _series(summary, mine, "cascade", "all", "rounds_played"), colour, name)
        _line(axes[2], _series(summary, mine, "cascade", "all", "days_to_fill"), colour, name)
    axes[0].set_ylabel("positions open (positions)")
    axes[1].set_ylabel("offer rounds played (rounds)")
    axes[2].set_ylabel("time to fill: first offer to last marking (days)")
    for ax in axes:
        ax.set_xlabel("calendar offer rounds (rounds)")
        ax.legend(fontsize=6, title=BAND_LABEL, title_fontsize=6)
    return figure


def calendar_reply_window(summary: pd.DataFrame, scenarios: list[dict]):
    """Offers made, declined and unanswered (all rounds) and the time to fill against the
    reply window."""
    use_theme()
    swept = _swept(scenarios, "reply_window_days")
    figure, axes = plt.subplots(1, 4, figsize=(14, 3.3), layout="constrained")
    colour = colours(1)[0]
    for ax, metric, label in (
        (axes[0], "offers", "offers (offers)"),
        (axes[1], "declined", "declined (offers)"),
        (axes[2], "unanswered", "unanswered (offers)"),
        (axes[3], "days_to_fill", "time to fill (days)"),
    ):
        _line(ax, _series(summary, swept, "cascade", "all", metric), colour, "mean")
        ax.set_xlabel("reply window of every calendar round (days)")
        ax.set_ylabel(label)
        ax.legend(fontsize=7, title=BAND_LABEL, title_fontsize=6)
    # The bands are each scenario's own spread; the paired differences, far narrower since
    # the scenarios share their random numbers, are in effects.png and summary.csv.
    figure.suptitle("Bands overlap where paired differences need not: see effects.png", fontsize=8)
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


# -- allocation rules and stability (central_match; blocking pairs in calendar) -------------


def _value(summary: pd.DataFrame, scenario: str, breakdown: str, group: str, metric: str):
    """The (mean, p05, p95) of one measure of one scenario, or None."""
    rows = summary[
        (summary["scenario"] == scenario)
        & (summary["breakdown"] == breakdown)
        & (summary["group"] == group)
        & (summary["metric"] == metric)
    ]
    if not len(rows):
        return None
    r = rows.iloc[0]
    return float(r["mean"]), float(r["p05"]), float(r["p95"])


def _interval(ax, x: float, value, colour, label: str | None, scale: float = 1.0) -> None:
    """A mean (marker) and its 5-95 % band (a translucent bar) at a categorical position."""
    if value is None:
        return
    mean, lo, hi = (v * scale for v in value)
    ax.vlines(x, lo, hi, color=colour, lw=7, alpha=0.3)
    ax.plot([x], [mean], "o", color=colour, ms=4, label=label)


def central_match_hire_rate(summary: pd.DataFrame, scenarios: list[dict]):
    """Hire rate (% of applicants) by education group (left) and nationality group (right),
    one colour per scenario (offer cascade, deferred acceptance), mean and 5-95 % band."""
    use_theme()
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True, layout="constrained")
    groups = [*GROUP_ORDER, "all"]
    width = 0.7 / max(len(scenarios), 1)
    for ax, breakdown, title in (
        (axes[0], "education", "by education country group"),
        (axes[1], "nationality", "by nationality group"),
    ):
        for k, (colour, s) in enumerate(zip(colours(len(scenarios)), scenarios, strict=True)):
            for x, group in enumerate(groups):
                part, key = (breakdown, group) if group != "all" else ("total", "all")
                value = _value(summary, s["name"], part, key, "hire_rate")
                label = s["name"] if x == 0 else None
                _interval(ax, x + (k - (len(scenarios) - 1) / 2) * width, value, colour, label, 100)
        ax.set_xticks(range(len(groups)), groups)
        ax.set_xlabel("applicant group")
        ax.set_title(f"Hire rate {title}", fontsize=9)
        ax.legend(fontsize=7, title=BAND_LABEL, title_fontsize=6)
    axes[0].set_ylabel("hired (% of applicants)")
    return figure


def central_match_stability(summary: pd.DataFrame, scenarios: list[dict]):
    """Blocking pairs and applicants in a blocking pair per scenario (left), the share of
    hires at each preference rank of the hired job (middle), positions left open (right);
    the title gives the applicants whose job differs between applicant- and
    hospital-proposing deferred acceptance."""
    use_theme()
    figure, axes = plt.subplots(
        1, 3, figsize=(12, 3.8), layout="constrained", gridspec_kw={"width_ratios": [3, 3, 2]}
    )
    palette = colours(len(scenarios))
    names = [s["name"] for s in scenarios]
    ticks = [n.replace(", ", ",\n") for n in names]
    for k, metric, label in (
        (0, "blocking_pairs", "blocking pairs"),
        (1, "applicants_blocking", "applicants in a blocking pair"),
    ):
        colour = colours(2)[k]
        for x, name in enumerate(names):
            value = _value(summary, name, "stability", "all", metric)
            _interval(axes[0], x + (k - 0.5) * 0.3, value, colour, label if x == 0 else None)
    axes[0].set_xticks(range(len(names)), ticks, fontsize=7)
    axes[0].set_ylabel("per replication (pairs; applicants)")
    axes[0].set_title("Blocking pairs", fontsize=9)
    axes[0].legend(fontsize=7, title=BAND_LABEL, title_fontsize=6)
    for colour, name in zip(palette, names, strict=True):
        rows = summary[
            (summary["scenario"] == name)
            & (summary["breakdown"] == "preference_rank")
            & (summary["metric"] == "share")
        ]
        if not len(rows):
            continue
        rows = rows.assign(x=range(1, len(rows) + 1))
        _line(axes[1], rows, colour, name, 100)
        labels = rows["group"].tolist()
    if (summary["breakdown"] == "preference_rank").any():
        axes[1].set_xticks(range(1, len(labels) + 1), labels)
    axes[1].set_xlabel("preference rank of the hired job (1 = first choice)")
    axes[1].set_ylabel("hires (% of hires)")
    axes[1].set_title("Hired applicants' preference rank of their job", fontsize=9)
    axes[1].legend(fontsize=7, title=BAND_LABEL, title_fontsize=6)
    for x, (colour, name) in enumerate(zip(palette, names, strict=True)):
        _interval(axes[2], x, _value(summary, name, "cascade", "all", "unfilled"), colour, None)
    axes[2].set_xticks(range(len(names)), ticks, fontsize=7)
    axes[2].set_ylabel("positions left open (positions)")
    axes[2].set_title("Positions left open", fontsize=9)
    da = [s["name"] for s in scenarios if s.get("allocation") == "deferred_acceptance"]
    differ = _value(summary, da[0], "proposing_side", "all", "applicants_differ") if da else None
    if differ is not None:
        figure.suptitle(
            "Applicant- vs hospital-proposing deferred acceptance: "
            f"{differ[0]:.2f} applicants get another job per replication "
            f"(5-95 %: {differ[1]:g}-{differ[2]:g})",
            fontsize=9,
        )
    return figure


def calendar_stability(summary: pd.DataFrame, scenarios: list[dict]):
    """Blocking pairs of the cascade's outcome (with respect to the model's preferences and
    ranked lists) against the calendar rounds (one line per sweep), the reply window and the
    late-marking probability."""
    use_theme()
    # Each panel its own scale: the rounds span thousands of pairs, the others tens.
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.4), layout="constrained")
    rounds = _swept(scenarios, "calendar_rounds")
    series = list(dict.fromkeys(s.get("series") or "" for s in rounds))
    for colour, name in zip(colours(max(len(series), 1)), series, strict=False):
        mine = [s for s in rounds if (s.get("series") or "") == name]
        _line(axes[0], _series(summary, mine, "stability", "all", "blocking_pairs"), colour, name)
    axes[0].set_xlabel("calendar offer rounds (rounds)")
    for ax, vary, xlabel in (
        (axes[1], "reply_window_days", "reply window of every calendar round (days)"),
        (
            axes[2],
            "params.behaviour.late_marking_probability",
            "late marking probability (probability)",
        ),
    ):
        part = _series(summary, _swept(scenarios, vary), "stability", "all", "blocking_pairs")
        _line(ax, part, colours(1)[0], "mean")
        ax.set_xlabel(xlabel)
        if len(part):
            ax.set_xticks(np.unique(part["x"].to_numpy(dtype=float)))
    for ax in axes:
        ax.set_ylabel("blocking pairs (pairs per replication)")
        ax.legend(fontsize=7, title=BAND_LABEL, title_fontsize=6)
    return figure


FIGURES = {
    "capacity_hire_rate": capacity_hire_rate,
    "capacity_open_and_offers": capacity_open_and_offers,
    "calendar_rounds": calendar_rounds,
    "calendar_reply_window": calendar_reply_window,
    "calendar_marking": calendar_marking,
    "growth_hire_rate": growth_hire_rate,
    "growth_not_hired": growth_not_hired,
    **REPORT_FIGURES,
    "calendar_stability": calendar_stability,
    "central_match_hire_rate": central_match_hire_rate,
    "central_match_stability": central_match_stability,
}
"""Figure functions by the name an experiment config gives in ``figures``."""
