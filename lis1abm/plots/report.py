"""The report's figures redrawn with the model's bands beside the report's values.

Each function takes an experiment's summary, its scenarios and its tables (``report``:
:func:`lis1abm.report.compare.report_table`'s rows with a ``scenario`` column;
``figure_4_3``: the statements) and returns a Figure for the experiment's first scenario.
Panels reuse the calibration's fit figure (:func:`lis1abm.plots.fit.intervals`): per group,
the report's figure (a cross) and the model's mean (a dot) with its 5-95 % band over
replications (a line), as a share of the group's applicants for hires and as counts for the
not hired; y labels give the group's applicants.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lis1abm.plots.fit import intervals, scatter
from lis1abm.plots.theme import colours, use_theme

EDUCATION = ("Norway", "EEA+UK", "Outside EEA")
"""Education groups in the report's order (hired_<group> metrics of the ads)."""


def _rows(tables: dict, scenarios: list[dict], breakdown: str, observed: str) -> pd.DataFrame:
    """The first scenario's report rows of one breakdown and observed measure, y labels with
    the group's applicants."""
    report = tables["report"]
    part = report[
        (report["scenario"] == scenarios[0]["name"])
        & (report["breakdown"] == breakdown)
        & (report["observed"] == observed)
    ].copy()
    part["group"] = [
        f"{g} ({int(n)})" for g, n in zip(part["group"], part["applicants"], strict=True)
    ]
    return part


def _panel(ax, part: pd.DataFrame, title: str) -> None:
    intervals(ax, part)
    inside = (part["inside_band"] == "yes").sum()
    judged = part["inside_band"].isin(["yes", "no"]).sum()
    ax.set_title(f"{title}\n(report inside the band: {inside} of {judged})", fontsize=8)


def _grid(panels: int, columns: int, height: float):
    rows = int(np.ceil(panels / columns))
    figure, axes = plt.subplots(
        rows, columns, figsize=(4.6 * columns, height * rows), squeeze=False, layout="constrained"
    )
    for ax in axes.flat[panels:]:
        ax.set_visible(False)
    return figure, axes.flat


def report_education(summary: pd.DataFrame, scenarios: list[dict], tables: dict):
    """Figures 4.2 and 4.4 with appendix 4's education countries: hired as a share of the
    applicants by education group, by nationality group and by education country."""
    use_theme()
    countries = _rows(tables, scenarios, "education_country", "hired")
    figure = plt.figure(figsize=(10, max(5.0, 0.2 * len(countries) + 1.5)), layout="constrained")
    left, right = figure.subfigures(1, 2, width_ratios=[1, 1.2])
    top, bottom = left.subplots(2, 1)
    _panel(top, _rows(tables, scenarios, "education", "hired"), "by education (figure 4.2)")
    _panel(bottom, _rows(tables, scenarios, "nationality", "hired"), "by nationality (figure 4.4)")
    ax = right.subplots()
    _panel(ax, countries, "by education country (appendix 4)")
    top.legend(fontsize=7, loc="best")
    return figure


def report_nationality_education(summary: pd.DataFrame, scenarios: list[dict], tables: dict):
    """Figures 4.5 and 4.6: hired as a share of the applicants by nationality x education
    group (4.5 is its Norway row) and by graduation period; appendix 4's pairs as model
    against report."""
    use_theme()
    figure, axes = _grid(3, 3, 3.8)
    _panel(
        axes[0],
        _rows(tables, scenarios, "nationality_x_education", "hired"),
        "nationality x education (figure 4.5)",
    )
    _panel(
        axes[1],
        _rows(tables, scenarios, "graduation_period", "hired"),
        "graduation period (figure 4.6; report derived from %)",
    )
    pairs = _rows(tables, scenarios, "appendix4", "hired")
    scatter(axes[2], pairs)
    inside = (pairs["inside_band"] == "yes").sum()
    axes[2].set_title(
        f"appendix 4: {len(pairs)} nationality x education-country pairs\n"
        f"(report inside the band: {inside} of {len(pairs)})",
        fontsize=8,
    )
    axes[0].legend(fontsize=7, loc="best")
    axes[2].legend(fontsize=7, loc="upper left")
    return figure


def report_not_hired(summary: pd.DataFrame, scenarios: list[dict], tables: dict):
    """Figures 5.1-5.4 and table 2: the not hired (applicants) by education group, nationality
    group, nationality x education, age group, and the not hired after four or more rounds
    by nationality x education and by age group."""
    use_theme()
    panels = (
        ("education", "by education (figure 5.1)"),
        ("nationality", "by nationality (figure 5.2)"),
        ("nationality_x_education", "nationality x education (figure 5.3)"),
        ("age_group", "by age group (figure 5.4; report derived from %)"),
        ("long_term_origin", "4+ rounds applied, by origin (table 2)"),
        ("long_term_age", "4+ rounds applied, by age group (table 2)"),
    )
    figure, axes = _grid(len(panels), 3, 3.6)
    for ax, (breakdown, title) in zip(axes, panels, strict=False):
        part = _rows(tables, scenarios, breakdown, "not_hired")
        _panel(ax, part[part["report"].notna()], title)
    axes[0].legend(fontsize=7, loc="best")
    return figure


def report_ads(summary: pd.DataFrame, scenarios: list[dict], tables: dict):
    """Figure 4.3: hires per ad by education group, the model's means stacked as the report
    draws them (left; crosses: the report's hires where the trust has a single ad) and each
    group's mean with its 5-95 % band (right); the report's statements below, hit or miss
    with the model's measure."""
    use_theme()
    name = scenarios[0]["name"]
    ads = summary[(summary["scenario"] == name) & (summary["breakdown"] == "ad")]
    labels = list(dict.fromkeys(ads["group"]))
    wide = {
        m: ads[ads["metric"] == m].set_index("group").loc[labels] for m in ads["metric"].unique()
    }
    report = _rows(tables, scenarios, "ad", "hired")
    statements = tables["figure_4_3"]
    statements = statements[statements["scenario"] == name]

    figure = plt.figure(figsize=(11, 0.24 * len(labels) + 3.2), layout="constrained")
    top, bottom = figure.subfigures(2, 1, height_ratios=[0.24 * len(labels) + 1, 2.0])
    left, right = top.subplots(1, 2, sharey=True)
    y = np.arange(len(labels))
    start = np.zeros(len(labels))
    palette = colours(len(EDUCATION))
    for colour, group in zip(palette, EDUCATION, strict=True):
        mean = wide[f"hired_{group}"]["mean"].to_numpy()
        left.barh(y, mean, left=start, color=colour, label=f"educated: {group}")
        start += mean
        offset = (EDUCATION.index(group) - 1) * 0.25
        part = wide[f"hired_{group}"]
        right.hlines(y + offset, part["p05"], part["p95"], color=colour, lw=2.5, alpha=0.5)
        right.plot(part["mean"], y + offset, "o", color=colour, ms=3, label=f"educated: {group}")
    known = report["report"].notna().to_numpy()
    left.plot(
        report["report"].to_numpy(dtype=float)[known],
        y[known],
        "x",
        color="0.1",
        ms=5,
        label="report: the trust's hires (single-ad trusts)",
    )
    left.set_yticks(y, labels, fontsize=6)
    left.invert_yaxis()
    left.set_xlabel("hires, model mean (applicants)")
    left.legend(fontsize=6, loc="lower right")
    right.set_xlabel("hires (applicants): mean and 5-95 % of replications")
    right.legend(fontsize=6, loc="lower right")
    left.set_title("hires per ad by education (figure 4.3)", fontsize=8)

    ax = bottom.subplots()
    ax.axis("off")
    lines = ["The report's statements on figure 4.3, checked on the replications:"]
    for s in statements.itertuples():
        reference = "" if pd.isna(s.reference) else f" (reference {s.reference:.2f})"
        lines.append(
            f"({s.statement}) {s.subject}: {s.measure} = {s.model:.2f}{reference}: "
            f"{'HIT' if s.hit else 'MISS'}"
        )
    ax.text(0, 1, "\n".join(lines), va="top", ha="left", fontsize=6, family="monospace")
    return figure


REPORT_FIGURES = {
    "report_education": report_education,
    "report_nationality_education": report_nationality_education,
    "report_not_hired": report_not_hired,
    "report_ads": report_ads,
}
"""The report's figures by the name an experiment config gives in ``figures``."""
