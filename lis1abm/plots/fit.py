"""The calibration's fit: the report's hires beside the model's mean and 5-95 % band."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lis1abm.plots.theme import colours, use_theme

ROLES = ("fitted", "held-out", "compared")  # "compared": a simulation's rows, not a fit's


SCATTER = ("appendix4",)
"""Breakdowns with too many groups to label (appendix 4: 113 pairs): drawn as model against
report, one point per group, with the line where they agree."""


def fit_figure(fit: pd.DataFrame, columns: int = 3):
    """One panel per breakdown (fitted ones first, then held-out ones, each titled with its
    role): per group, the report's figure (a cross) and the model's mean (a dot) with its 5-95 %
    band over replications (a line), as a share of the group's applicants (%), so that small
    groups are as readable as large ones; table 2's breakdowns (``observed`` ``not_hired``:
    counts without a denominator in the report) as counts of the not hired. Breakdowns in
    :data:`SCATTER` are drawn as model against report.

    ``fit``: the rows of ``fit.csv`` (columns ``breakdown, group, role, applicants, report,
    model_mean, p05, p95``, optionally ``observed``). Rows without a report figure (such as
    the applicants with fewer than four rounds, whom table 2 does not count) are left out. The
    figure 4.3 statements (breakdown ``figure_4_3``) are left to the table.
    """
    use_theme()
    fit = fit[fit["breakdown"] != "figure_4_3"].copy()
    fit["report"] = pd.to_numeric(fit["report"], errors="coerce")
    fit = fit[fit["report"].notna()]
    panels = [
        (role, b)
        for role in ROLES
        for b in dict.fromkeys(fit.loc[fit["role"] == role, "breakdown"])
    ]
    rows = max(1, math.ceil(len(panels) / columns))
    figure, axes = plt.subplots(
        rows, columns, figsize=(4.2 * columns, 3.4 * rows), squeeze=False, layout="constrained"
    )
    for ax, (role, breakdown) in zip(axes.flat, panels, strict=False):
        part = fit[(fit["role"] == role) & (fit["breakdown"] == breakdown)]
        (scatter if breakdown in SCATTER else intervals)(ax, part)
        suffix = "" if role == "compared" else f" ({role})"
        ax.set_title(f"{breakdown.replace('_', ' ')}{suffix}", fontsize=9)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    if panels:
        axes.flat[0].legend(fontsize=7, loc="best")
    return figure


def simulation_fit(comparison: pd.DataFrame) -> pd.DataFrame:
    """A ``simulate`` output's ``comparison.parquet`` as :func:`fit_figure`'s rows (role
    ``compared``): hires, or for table 2's breakdowns the not hired (applicants minus hires:
    mean, and the band's ends swapped)."""
    not_hired = comparison["report_not_hired"].notna()
    n = comparison["applicants"]
    return pd.DataFrame(
        {
            "breakdown": comparison["breakdown"],
            "group": comparison["group"],
            "role": "compared",
            "applicants": n,
            "report": comparison["report_not_hired"].where(not_hired, comparison["report_hired"]),
            "model_mean": (n - comparison["sim_hired_mean"]).where(
                not_hired, comparison["sim_hired_mean"]
            ),
            "p05": (n - comparison["sim_hired_p95"]).where(not_hired, comparison["sim_hired_p05"]),
            "p95": (n - comparison["sim_hired_p05"]).where(not_hired, comparison["sim_hired_p95"]),
            "observed": np.where(not_hired, "not_hired", "hired"),
        }
    )


def intervals(ax, part: pd.DataFrame) -> None:
    """Groups down the y-axis; report, model mean and 5-95 % band along x."""
    model_colour, report_colour = colours(2)
    not_hired = "observed" in part and (part["observed"] == "not_hired").all()
    # Shares of the group's applicants (%), except table 2's counts (no denominator).
    scale = 1.0 if not_hired else 100.0 / part["applicants"].to_numpy(dtype=float)
    y = np.arange(len(part))
    ax.hlines(
        y,
        part["p05"] * scale,
        part["p95"] * scale,
        color=model_colour,
        lw=2.5,
        alpha=0.5,
        label="model 5-95 %",
    )
    ax.plot(part["model_mean"] * scale, y, "o", color=model_colour, ms=4, label="model mean")
    ax.plot(part["report"] * scale, y, "x", color=report_colour, ms=6, mew=1.5, label="report")
    ax.set_yticks(y, part["group"], fontsize=7)
    ax.invert_yaxis()
    of = "the ad's positions" if (part["breakdown"] == "ad").all() else "the group's applicants"
    ax.set_xlabel("not hired (applicants)" if not_hired else f"hired (% of {of})")


def scatter(ax, part: pd.DataFrame) -> None:
    """Model mean (with its 5-95 % band) against the report's figure, one point per group."""
    model_colour, report_colour = colours(2)
    ax.errorbar(
        part["report"],
        part["model_mean"],
        # Clipped at 0: a skewed distribution can have its mean outside [p05, p95].
        yerr=[
            (part["model_mean"] - part["p05"]).clip(lower=0),
            (part["p95"] - part["model_mean"]).clip(lower=0),
        ],
        fmt="o",
        ms=3,
        color=model_colour,
        ecolor=model_colour,
        alpha=0.6,
        label="model mean, 5-95 %",
    )
    top = float(max(part["report"].max(), part["p95"].max())) * 1.05
    ax.plot([0, top], [0, top], color=report_colour, lw=1, label="model = report")
    ax.set_xscale("symlog", linthresh=10)
    ax.set_yscale("symlog", linthresh=10)
    ax.set_xlabel("report: hires (applicants)")
    ax.set_ylabel("model: hires (applicants)")
