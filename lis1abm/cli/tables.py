"""What ``lis1abm simulate`` prints: the run's inputs, then each breakdown's comparison with
the report, one fit line under each, then the offer cascade; every table fits 80 columns.

A row whose report figure lies outside the model's 5-95 % band is marked ``!``. Hire rates
(hires per applicant, %) stand beside the counts: a difference of 5 hires means little in a
group of 500 and much in a group of 10.
"""

from __future__ import annotations

from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

from lis1abm.outcomes.tally import BREAKDOWNS
from lis1abm.rules import CASCADE_FIELDS

WIDTH = 80  # columns of the printout
GROUP_WIDTH = 30  # columns of the group names: with the figures, every table fits WIDTH
TITLES = {
    "total": "All applicants",
    "nationality": "Nationality",
    "education": "Education country (group)",
    "nationality_x_education": "Nationality x education",
    "education_country": "Education country",
    "gender": "Gender",
    "age_group": "Age group",
    "graduation_period": "Graduation period",
    "appendix4": "Nationality / education country (appendix 4)",
    "long_term_origin": "4+ rounds applied, by nationality x education (not hired: table 2)",
    "long_term_age": "4+ rounds applied, by age group (not hired: table 2)",
    "ad": "Ads (report: trust hires where the trust has one ad)",
    "home_region": "Home region (regional health authority where the applicant lives)",
    "ad_region": "Region of the hiring ad",
}
ONE_LINE = ("appendix4",)
"""Breakdowns too long for the terminal (appendix 4: 113 pairs): the fit line alone;
``--json`` and ``--out`` have every row."""
CAPACITY_RULES = {
    "positions": "each ad's positions",
    "report_hires": "each trust's positions plus its extra hires in the report",
}
# The cascade's columns: short headers that fit 80 columns, explained under the table
# (``--json`` has the full names).
CASCADE_HEADERS = {
    "offers": ("offers", "offers made"),
    "accepted": ("acc.", "accepted"),
    "declined": ("decl.", "declined"),
    "unanswered": ("unans.", "unanswered (deadline missed)"),
    "declined_hired": ("d.hir.", "declined: already hired"),
    "applicants_waiting": ("wait", "applicants waiting for a better offer"),
    "applicants_no_reply": ("no rep", "applicants who missed the deadline"),
    "skipped_withdrawn": ("skip", "withdrawn candidates passed over"),
    "open_after": ("open", "positions open after the round"),
}


def print_simulation(result, console: Console) -> None:
    """The whole printout of a :class:`~lis1abm.report.simulate.SimulationResult`, at most
    80 columns wide (narrower on a narrower terminal)."""
    console = Console(
        file=console.file, width=min(console.width, WIDTH), force_terminal=console.is_terminal
    )
    print_inputs(result.meta, console)
    over = "the synthetic populations and the offer rounds' chance"
    if result.meta.get("parameter_uncertainty"):
        over = (
            "the synthetic populations, the calibrated parameters' uncertainty and the offer "
            "rounds' chance"
        )
    console.print(
        "Hires: the report beside the model's mean and 5-95 % band over replications (over "
        f"{over}); "
        "rate: hires per applicant (%), report / model; ! marks a report figure outside the "
        "band; ~ a figure derived from the report's percentages.",
        highlight=False,
    )
    for breakdown in BREAKDOWNS:
        rows = [r for r in result.rows if r["breakdown"] == breakdown]
        console.print()
        if breakdown not in ONE_LINE:
            console.print(comparison_table(breakdown, rows))
        console.print(fit_line(breakdown, rows), markup=False, highlight=False)
    console.print()
    print_cascade(result.cascade, console)


def print_inputs(meta: dict, console: Console) -> None:
    """The run's inputs: version, round and its file, replications, seed, backend; the
    parameter file and why it was chosen; what the capacity rule does."""
    console.print(
        f"[bold]lis1abm[/] {meta['version']}: {meta['round']} ({Path(meta['round_file']).name}), "
        f"{meta['replications']:,} replications on {meta['populations']} populations, "
        f"seed {meta['seed']}, {meta['backend']}",
        highlight=False,
    )
    drawn = meta.get("parameter_uncertainty")
    spread = f"; each population's own draw from {drawn['covariance_file']}" if drawn else ""
    console.print(
        f"Parameters: {Path(meta['params_file']).name} ({meta.get('params_chosen', 'given')})"
        + spread,
        markup=False,
        highlight=False,
    )
    capacity = meta.get("capacity")
    if capacity:
        console.print(
            f"Capacity: {capacity['capacity']:,} hires at most for {capacity['positions']:,} "
            f"positions (rule {capacity['rule']}: {CAPACITY_RULES[capacity['rule']]})",
            markup=False,
            highlight=False,
        )


def comparison_table(breakdown: str, rows: list[dict]) -> Table:
    """One breakdown's rows: group, applicants (positions for ads), report, model mean,
    5-95 % band, model - report, hire rates, and ! where the report is outside the band.
    The long-term breakdowns compare the not hired (the report's table 2)."""
    not_hired = any(r["report_not_hired"] is not None for r in rows)
    count = "not hired" if not_hired else "hires"
    table = Table(
        title=f"{TITLES[breakdown]}: {count}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )
    ads = breakdown in ("ad", "ad_region")  # no hire rate: the first column holds positions
    # Long group names (ads: trust and site) wrap onto a second line rather than widen the
    # table past 80 columns.
    table.add_column("group", max_width=GROUP_WIDTH, overflow="fold")
    names = ("positions" if ads else "appl.", "report", "model", "5-95 %", "diff")
    for name in (*names, *(() if ads else ("rate %",)), ""):
        table.add_column(name, justify="right", no_wrap=True)
    for r in rows:
        report, mean, low, high = _figures(r, not_hired)
        rate = () if ads else (_rates(report, mean, r["applicants"]),)
        table.add_row(
            r["group"],
            _count(r["applicants"]),
            "-" if report is None else ("~" if r["report_derived"] else "") + str(report),
            f"{mean:.1f}",
            f"{low:.0f}-{high:.0f}",
            "-" if report is None else f"{mean - report:+.1f}",
            *rate,
            "!" if report is not None and not low <= report <= high else "",
        )
    return table


def fit_line(breakdown: str, rows: list[dict]) -> str:
    """How well one breakdown fits: the groups whose report figure lies inside the band, the
    mean absolute difference (hires, or not hired for table 2) and that difference per
    applicant (summed differences over summed applicants, in points of hire rate)."""
    not_hired = any(r["report_not_hired"] is not None for r in rows)
    judged = [(r, *_figures(r, not_hired)) for r in rows]
    judged = [j for j in judged if j[1] is not None]
    title = TITLES[breakdown] if breakdown in ONE_LINE else "fit"
    if not judged:
        return f"{title}: no report figures to compare"
    inside = sum(low <= report <= high for _, report, _, low, high in judged)
    gap = sum(abs(mean - report) for _, report, mean, _, _ in judged)
    line = f"{title}: {inside} of {len(judged)} groups inside the band; mean |diff| "
    line += f"{gap / len(judged):.1f}"
    applicants = sum(r["applicants"] for r, *_ in judged)
    if breakdown not in ("ad", "ad_region") and applicants:
        line += f", {100 * gap / applicants:.1f} points of rate"
    return line + (" (every row: --json or --out)" if breakdown in ONE_LINE else "")


def print_cascade(casc: dict, console: Console) -> None:
    """The mean cascade per round. Rounds after the calendar that no replication played
    (every ad full or its list exhausted before them) are left out; ``--json`` has them."""
    table = Table(
        title="Offer cascade (mean per replication)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )
    table.add_column("round", no_wrap=True)
    for f in CASCADE_FIELDS:
        table.add_column(CASCADE_HEADERS[f][0], justify="right", no_wrap=True)
    played = [r for r in casc["rounds"] if not r["after_calendar"] or r["offers"] > 0]
    for r in played:
        table.add_row(r["label"], *(f"{r[f]:.0f}" for f in CASCADE_FIELDS))
    total = casc["total"]
    table.add_row(
        "all", *(f"{total[f]:.0f}" for f in CASCADE_FIELDS[:-1]), f"{total['unfilled']:.0f}"
    )
    console.print(table)
    legend = "; ".join(f"{short}: {long}" for short, long in CASCADE_HEADERS.values())
    console.print(legend + ".", markup=False, highlight=False)
    if len(played) < len(casc["rounds"]):
        n_after = sum(r["after_calendar"] for r in casc["rounds"])
        console.print(
            f"At most {n_after} rounds after the calendar; no replication made offers after "
            f"round {played[-1]['label']}.",
            markup=False,
            highlight=False,
        )


def _figures(r: dict, not_hired: bool) -> tuple:
    """(report, model mean, 5 %, 95 %) of one row, in hires or, for the long-term rows, in
    applicants not hired (report None where it has no figure)."""
    n = r["applicants"]
    if not_hired:
        return (
            r["report_not_hired"],
            n - r["sim_hired_mean"],
            n - r["sim_hired_p95"],
            n - (r["sim_hired_p05"]),
        )
    return r["report_hired"], r["sim_hired_mean"], r["sim_hired_p05"], r["sim_hired_p95"]


def _count(applicants) -> str:
    """A group's applicants: an integer, or the model's mean over the population draws where
    the report has no count (table 2's groups), with one decimal."""
    return str(applicants) if float(applicants).is_integer() else f"{applicants:.1f}"


def _rates(report, mean: float, applicants: int) -> str:
    """``report / model`` hire rates in %, or ``-`` without applicants."""
    if not applicants:
        return "-"
    model = f"{100 * mean / applicants:.0f}"
    return f"{'-' if report is None else f'{100 * report / applicants:.0f}'}/{model}"
