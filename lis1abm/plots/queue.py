"""The queue experiment's figures, drawn from its saved ``summary.csv`` and ``cohorts.csv``.

Every figure shows the mean over chains with its 5-95 % band; the effects figure shows the
paired difference against the baseline scenario, chain by chain.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from lis1abm.plots.theme import colours, use_theme

GROUP_ORDER = ("all", "Norway", "EEA+UK", "Outside EEA")


def _over_rounds(summary: pd.DataFrame, measure: str, meta: dict, difference: bool):
    """One line per scenario over the rounds (group "all"), with its band."""
    use_theme()
    data = summary[(summary["measure"] == measure) & (summary["group"] == "all")]
    if difference:
        data = data[data["scenario"] != meta["baseline"]]
    names = list(dict.fromkeys(data["scenario"]))
    figure, ax = plt.subplots(figsize=(7.5, 4))
    mean, low, high = (
        ("difference", "difference_p05", "difference_p95") if difference else ("mean", "p05", "p95")
    )
    for name, colour in zip(names, colours(len(names)), strict=True):
        mine = data[data["scenario"] == name].sort_values("round")
        ax.plot(mine["round"], mine[mean], color=colour, label=name)
        ax.fill_between(mine["round"], mine[low], mine[high], color=colour, alpha=0.15)
    labels = data.drop_duplicates("round").sort_values("round")
    ticks = labels[labels["label"].str.startswith("autumn")]
    ax.set_xticks(ticks["round"], [label[-4:] for label in ticks["label"]])
    ax.set_xlabel("autumn round of the year")
    if difference:
        ax.axhline(0, color="grey", lw=0.8)
    ax.legend(fontsize=7, frameon=False)
    return figure, ax


def pool(summary: pd.DataFrame, cohorts: pd.DataFrame, meta: dict):
    """The pool waiting after each round (the not hired who apply again), by scenario."""
    figure, ax = _over_rounds(summary, "waiting", meta, difference=False)
    ax.set_ylabel("applicants waiting after the round")
    ax.set_title("The queue: doctors waiting for a LIS1 position (mean, 5-95 % band)")
    return figure


def applicants(summary: pd.DataFrame, cohorts: pd.DataFrame, meta: dict):
    """Applicants per round, by scenario."""
    figure, ax = _over_rounds(summary, "applicants", meta, difference=False)
    ax.set_ylabel("applicants in the round")
    ax.set_title("Applicants per round (mean, 5-95 % band)")
    return figure


def pool_effects(summary: pd.DataFrame, cohorts: pd.DataFrame, meta: dict):
    """The paired difference of the pool waiting against the baseline scenario."""
    figure, ax = _over_rounds(summary, "waiting", meta, difference=True)
    ax.set_ylabel(f"waiting, difference from '{meta['baseline']}'")
    ax.set_title("Effect on the queue (paired by chain; mean, 5-95 % band)")
    return figure


def time_to_position(summary: pd.DataFrame, cohorts: pd.DataFrame, meta: dict):
    """By education group and scenario, for the followed cohorts: the 90th percentile of the
    rounds to a position among the hired (the median is one round for most groups: most of
    the hired are hired in their first round), and the share who leave without one."""
    use_theme()
    first, last = meta["cohort_years"]
    mean = (
        cohorts.groupby(["scenario", "group", "measure"], sort=False)[["mean", "p05", "p95"]]
        .mean()
        .reset_index()
    )
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, measure, label in (
        (axes[0], "rounds_p90", "rounds to a position, 90th percentile (the hired)"),
        (axes[1], "share_left", "share leaving without a position"),
    ):
        data = mean[mean["measure"] == measure]
        sns.barplot(
            data=data, x="group", y="mean", hue="scenario", order=GROUP_ORDER, ax=ax,
            palette=colours(data["scenario"].nunique()),
        )  # fmt: skip
        for patch_group, (_, rows) in zip(ax.containers, data.groupby("scenario", sort=False),
                                          strict=False):  # fmt: skip
            rows = rows.set_index("group").reindex(GROUP_ORDER)
            centres = [p.get_x() + p.get_width() / 2 for p in patch_group]
            ax.vlines(centres, rows["p05"], rows["p95"], color="black", lw=0.8)
        ax.set_xlabel("education")
        ax.set_ylabel(label)
        if ax is axes[1]:  # one legend for both panels
            ax.legend(fontsize=6, frameon=False)
        else:
            ax.get_legend().remove()
    figure.suptitle(f"Applicants entering {first}-{last}: bars mean, lines 5-95 % over chains")
    return figure


QUEUE_FIGURES = {
    "queue_pool": pool,
    "queue_applicants": applicants,
    "queue_pool_effects": pool_effects,
    "queue_time_to_position": time_to_position,
}
"""The queue experiment's figures: file stem -> drawing function (summary, cohorts, meta)."""
