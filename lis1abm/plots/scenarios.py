"""Figures every experiment gets, whatever its scenarios: one per breakdown kept (each
scenario's mean and 5-95 % band, group by group) and one of the paired effects against the
baseline. A user's own experiment file needs no ``figures`` key to be drawn.

One colour per scenario; the allocation rule by marker and line style, named in the legend
(``scenario [deferred acceptance]``), so that two rules never read as one line.
"""

from __future__ import annotations

from collections.abc import Callable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from lis1abm.plots.theme import PALETTE, use_theme

RULES = {
    "cascade": ("o", "-", "offer cascade"),
    "deferred_acceptance": ("s", "--", "deferred acceptance"),
}
"""Marker, line style and name of each allocation rule in the figures."""
BAND = "bars: 5-95 % of replications"
EFFECT_BAND = "bars: 5-95 % of the paired difference; right: replications with its sign"
EFFECTS = (
    ("total", "all", "hired", 1, "hired (applicants)"),
    ("education", None, "hire_rate", 100, "hire rate by education (points)"),
    ("cascade", "all", "offers", 1, "offers made (offers)"),
    ("cascade", "all", "unfilled", 1, "positions left open (positions)"),
    ("cascade", "all", "days_to_fill", 1, "time to fill (days)"),
    ("stability", "all", "blocking_pairs", 1, "blocking pairs (pairs)"),
)
"""The measures the effects figure draws where the summary has them: breakdown, group (None:
every group), metric, scale, axis label."""


def scenario_colours(n: int) -> list:
    """``n`` colours: the colour-blind palette while it lasts (10), then evenly spaced hues."""
    return sns.color_palette(PALETTE if n <= 10 else "husl", n)


def styles(scenarios: list[dict]) -> dict[str, tuple]:
    """Per scenario name: colour, marker, line style and legend label (the rule named where
    the experiment has more than one)."""
    rules = {s.get("allocation", "cascade") for s in scenarios}
    out = {}
    for colour, s in zip(scenario_colours(len(scenarios)), scenarios, strict=True):
        marker, line, rule = RULES[s.get("allocation", "cascade")]
        label = f"{s['name']} [{rule}]" if len(rules) > 1 else s["name"]
        out[s["name"]] = (colour, marker, line, label)
    return out


def _rows(summary: pd.DataFrame, breakdown: str, metric: str) -> pd.DataFrame:
    return summary[(summary["breakdown"] == breakdown) & (summary["metric"] == metric)]


def _legend(ax, title: str, n: int) -> None:
    ax.legend(
        fontsize=6,
        title=title,
        title_fontsize=6,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        ncol=1 if n <= 14 else 2,
    )


def breakdown_figure(summary: pd.DataFrame, scenarios: list[dict], breakdown: str):
    """Each scenario's mean and 5-95 % band per group of ``breakdown``: the hire rate (%)
    for an applicant breakdown, hires per offer round for the cascade, else each metric in
    its own panel (at most four)."""
    use_theme()
    rows = summary[summary["breakdown"] == breakdown]
    if (rows["metric"] == "hire_rate").any():
        panels = [("hire_rate", 100, "hired (% of applicants)")]
    elif breakdown == "cascade":
        panels = [("accepted", 1, "hires in the round (applicants)")]
        rows = rows[rows["group"].str.startswith("round ")]
    else:
        metrics = list(dict.fromkeys(rows["metric"]))[:4]
        panels = [(m, 1, m.replace("_", " ")) for m in metrics]
    style = styles(scenarios)
    names = [s["name"] for s in scenarios]
    groups = list(dict.fromkeys(rows["group"]))
    if breakdown == "cascade":
        groups.sort(key=lambda g: int(g.removeprefix("round ")))
    width = max(5.0, 0.45 * len(groups) + 3)
    figure, axes = plt.subplots(
        1, len(panels), figsize=(width * len(panels), 3.6), layout="constrained", squeeze=False
    )
    step = 0.8 / max(len(names), 1)
    for ax, (metric, scale, label) in zip(axes[0], panels, strict=True):
        mine = rows[rows["metric"] == metric].set_index(["scenario", "group"])
        for k, name in enumerate(names):
            colour, marker, line, legend = style[name]
            at = [(x, g) for x, g in enumerate(groups) if (name, g) in mine.index]
            if not at:
                continue
            x = np.array([x for x, _ in at]) + (k - (len(names) - 1) / 2) * step
            r = mine.loc[[(name, g) for _, g in at]]
            ax.vlines(x, r["p05"] * scale, r["p95"] * scale, color=colour, lw=3, alpha=0.35)
            ax.plot(
                x,
                r["mean"] * scale,
                marker=marker,
                ls=line if breakdown == "cascade" else "none",
                color=colour,
                ms=3.5,
                lw=1,
                label=legend,
            )
        ax.set_xticks(range(len(groups)), groups, rotation=30 if len(groups) > 6 else 0)
        ax.set_xlabel(breakdown.replace("_", " "))
        ax.set_ylabel(label)
    _legend(axes[0][-1], BAND, len(names))
    return figure


def baseline_of(summary: pd.DataFrame) -> str | None:
    """The scenario without paired effects: the baseline (None for a summary without them)."""
    if "effect_mean" not in summary.columns:
        return None
    has = summary.groupby("scenario", sort=False)["effect_mean"].apply(lambda v: v.notna().any())
    none = has[~has].index
    return str(none[0]) if len(none) else None


def paired_effects(summary: pd.DataFrame, scenarios: list[dict]):
    """Each scenario's paired effect against the baseline: the mean over replications of
    scenario - baseline (marker) and its 5-95 % band (bar), one panel per measure of
    :data:`EFFECTS` the summary has; the share of replications whose difference has the
    mean's sign written at the right. Scenarios share their random numbers, so this band is
    far narrower than the two scenarios' own bands side by side."""
    use_theme()
    baseline = baseline_of(summary)
    others = [s for s in scenarios if s["name"] != baseline]
    panels = [
        e
        for e in EFFECTS
        if "effect_mean" in summary.columns
        and _rows(summary, e[0], e[2])["effect_mean"].notna().any()
    ]
    style = styles(scenarios)
    figure, axes = plt.subplots(
        1,
        max(len(panels), 1),
        figsize=(3.2 * max(len(panels), 1) + 1.5, 0.28 * len(others) + 1.8),
        layout="constrained",
        squeeze=False,
        sharey=True,
    )
    y = {s["name"]: -k for k, s in enumerate(others)}
    for ax, (breakdown, group, metric, scale, label) in zip(axes[0], panels, strict=False):
        rows = _rows(summary, breakdown, metric)
        groups = [group] if group else list(dict.fromkeys(rows["group"]))
        step = 0.6 / len(groups)
        for j, g in enumerate(groups):
            mine = rows[rows["group"] == g].set_index("scenario")
            for s in others:
                if s["name"] not in mine.index:
                    continue
                r = mine.loc[s["name"]]
                colour, marker, _, _ = style[s["name"]]
                at = y[s["name"]] - (j - (len(groups) - 1) / 2) * step
                lo, hi = r["effect_p05"] * scale, r["effect_p95"] * scale
                ax.hlines(at, lo, hi, color=colour, lw=3, alpha=0.4)
                ax.plot(r["effect_mean"] * scale, at, marker=marker, color=colour, ms=3.5)
                ax.annotate(
                    f"{r['effect_same_sign']:.0%}",
                    (0.99, at),
                    xycoords=("axes fraction", "data"),
                    fontsize=5,
                    ha="right",
                    va="center",
                )
        ax.axvline(0, color="0.3", lw=0.8)
        # Several groups of one measure: side by side in each scenario's row, named in order.
        ax.set_xlabel(
            label if len(groups) == 1 else f"{label}\n(top to bottom: {', '.join(groups)})"
        )
    axes[0][0].set_yticks(list(y.values()), [style[n][3] for n in y], fontsize=6)
    figure.suptitle(
        f"Paired effect against {baseline!r} (same random numbers); {EFFECT_BAND}", fontsize=8
    )
    return figure


def generic_figures(meta: dict) -> dict[str, Callable]:
    """The figures every experiment gets (name: function of ``(summary, scenarios)``): one
    per breakdown kept, and the paired effects where there are two scenarios or more."""
    out: dict[str, Callable] = {
        f"scenarios_{b}": (lambda summary, scenarios, b=b: breakdown_figure(summary, scenarios, b))
        for b in meta.get("breakdowns", [])
    }
    if len(meta.get("scenarios", [])) > 1:
        out["effects"] = paired_effects
    return out
