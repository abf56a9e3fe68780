"""The calibration's fit: the report's hires beside the model's mean and 5-95 % band."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lis1abm.plots.theme import colours, use_theme

ROLES = ("fitted", "held-out")


def fit_figure(fit: pd.DataFrame, columns: int = 3):
    """One panel per breakdown (fitted ones first, then held-out ones, each titled with its
    role): per group, the report's hires (a cross) and the model's mean (a dot) with its 5-95 %
    band over replications (a line).

    ``fit``: the rows of ``fit.csv`` (columns ``breakdown, group, role, report, model_mean,
    p05, p95``, optionally ``observed``: a breakdown whose rows are all ``not_hired`` is drawn
    as not-hired counts); rows without a report figure are drawn without the cross. The figure 4.3
    statements (breakdown ``figure_4_3``: shares, not hires) are left to the table.
    """
    use_theme()
    fit = fit[fit["breakdown"] != "figure_4_3"]
    panels = [
        (role, b)
        for role in ROLES
        for b in dict.fromkeys(fit.loc[fit["role"] == role, "breakdown"])
    ]
    rows = max(1, math.ceil(len(panels) / columns))
    figure, axes = plt.subplots(
        rows, columns, figsize=(4.2 * columns, 3.4 * rows), squeeze=False, layout="constrained"
    )
    model_colour, report_colour = colours(2)
    for ax, (role, breakdown) in zip(axes.flat, panels, strict=False):
        part = fit[(fit["role"] == role) & (fit["breakdown"] == breakdown)]
        y = np.arange(len(part))
        mean = part["model_mean"].to_numpy(dtype=float)
        ax.hlines(
            y, part["p05"], part["p95"], color=model_colour, lw=2.5, alpha=0.5, label="model 5-95 %"
        )
        ax.plot(mean, y, "o", color=model_colour, ms=4, label="model mean")
        report = pd.to_numeric(part["report"], errors="coerce").to_numpy(dtype=float)
        ax.plot(report, y, "x", color=report_colour, ms=6, mew=1.5, label="report")
        ax.set_yticks(y, part["group"], fontsize=7)
        ax.invert_yaxis()
        not_hired = "observed" in part and (part["observed"] == "not_hired").all()
        ax.set_xlabel("not hired (applicants)" if not_hired else "hires (applicants)")
        ax.set_title(f"{breakdown.replace('_', ' ')} ({role})", fontsize=9)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    if panels:
        axes.flat[0].legend(fontsize=7, loc="best")
    return figure
