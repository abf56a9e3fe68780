"""Each experiment's headline result, read from its saved results (``results/<name>/``), as
the Markdown table docs/experiments.md shows.

Usage (after ``lis1abm experiment NAME`` for each; nothing is simulated here)::

    python scripts/experiment_headlines.py [--results results] [NAME ...]

Every figure is a mean over the run's replications, with its 5-95 % band where it has one.
An effect ("+15.3") is a paired difference from the experiment's baseline (scenarios share
their random numbers): its mean over replications, the 5-95 % band of the difference, and
the share of replications whose difference has the mean's sign.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from lis1abm.experiments import load_results


def measure(summary: pd.DataFrame, scenario: str, breakdown: str, group: str, metric: str):
    """The (mean, p05, p95) of one measure of one scenario."""
    rows = summary[
        (summary["scenario"] == scenario)
        & (summary["breakdown"] == breakdown)
        & (summary["group"] == group)
        & (summary["metric"] == metric)
    ]
    if len(rows) != 1:
        raise SystemExit(f"no {scenario} / {breakdown} / {group} / {metric} in the summary")
    r = rows.iloc[0]
    return float(r["mean"]), float(r["p05"]), float(r["p95"])


def effect(
    summary: pd.DataFrame,
    scenario: str,
    breakdown: str,
    group: str,
    metric: str,
    scale: float = 1,
    unit: str = "",
) -> str:
    """A scenario's paired effect against the baseline: ``+15.3 (4.0 to 27.0; 97 % of
    replications)``, times ``scale``, ``unit`` after the numbers."""
    rows = summary[
        (summary["scenario"] == scenario)
        & (summary["breakdown"] == breakdown)
        & (summary["group"] == group)
        & (summary["metric"] == metric)
    ]
    if len(rows) != 1 or "effect_mean" not in rows or rows["effect_mean"].isna().all():
        raise SystemExit(f"no effect of {scenario} / {breakdown} / {group} / {metric}")
    r = rows.iloc[0]
    mean, lo, hi = (scale * r[c] for c in ("effect_mean", "effect_p05", "effect_p95"))
    return (
        f"{mean:+.1f}{unit} ({lo:.1f} to {hi:.1f}{unit}; same sign in "
        f"{100 * r['effect_same_sign']:.0f} % of replications)"
    )


def pct(value) -> str:
    """A hire rate's mean and band in per cent."""
    return f"{100 * value[0]:.1f} % ({100 * value[1]:.1f}-{100 * value[2]:.1f})"


def rates(summary, scenario: str) -> str:
    """Hire rates of the three education groups, per cent."""
    groups = ("Norway", "EEA+UK", "Outside EEA")
    shown = [
        f"{100 * measure(summary, scenario, 'education', g, 'hire_rate')[0]:.1f}" for g in groups
    ]
    return " / ".join(shown) + " %"


def capacity(summary) -> str:
    s = summary
    open_800 = measure(s, "800 positions", "cascade", "all", "unfilled")
    oph = [measure(s, f"{n} positions", "cascade", "all", "offers_per_hire")[0] for n in (450, 800)]
    return (
        f"Hire rate educated in Norway / EEA+UK / outside the EEA: {rates(s, '601 positions')} "
        f"at 601 positions, {rates(s, '609 positions')} at 609 (2025), {rates(s, '800 positions')} "
        f"at 800, where {open_800[0]:.1f} positions ({open_800[1]:.0f}-{open_800[2]:.0f}) stay "
        f"open because the ranked lists run out; offers per hire {oph[0]:.2f} at 450 and "
        f"{oph[1]:.2f} at 800. Against 601, paired: 609 positions change the EEA+UK-educated's "
        f"hire rate by {effect(s, '609 positions', 'education', 'EEA+UK', 'hire_rate', 100, ' pt')}"
        f", the Norway-educated's by "
        f"{effect(s, '609 positions', 'education', 'Norway', 'hire_rate', 100, ' pt')}."
    )


def calendar(summary) -> str:
    s = summary
    open_after = [
        measure(s, f"{n} rounds, none after", "cascade", "all", "open_after_calendar")[0]
        for n in (1, 5, 8)
    ]
    pairs = [
        measure(s, name, "stability", "all", "blocking_pairs")[0]
        for name in ("5 rounds, none after", "5 rounds, default after")
    ]
    late = measure(s, "late marking 0.2", "cascade", "all", "open_after_calendar")[0]

    def days(scenario: str) -> str:
        return effect(s, scenario, "cascade", "all", "days_to_fill", unit=" days")

    return (
        f"Positions open after the calendar: {open_after[0]:.1f} after 1 round, "
        f"{open_after[1]:.1f} after 5 (autumn 2024), {open_after[2]:.1f} after 8; the rounds "
        f"after the calendar fill them all. Late marking at 0.2 leaves {late:.1f} open after "
        f"5 rounds. Blocking pairs: {pairs[0]:.0f} with the calendar alone, {pairs[1]:.0f} "
        "with the rounds after it. Against the autumn 2024 calendar (5 rounds, then the rounds "
        "after it), paired: offers made "
        f"{effect(s, 'reply window 1 days', 'cascade', 'all', 'offers')} with a 1-day reply "
        f"window in every round, {effect(s, 'reply window 5 days', 'cascade', 'all', 'offers')} "
        f"with 5 days; time to fill {days('reply window 5 days')} with 5 days."
    )


def central_match(summary) -> str:
    s = summary
    pairs = {
        name: measure(s, name, "stability", "all", "blocking_pairs")
        for name in ("offer cascade", "deferred acceptance")
    }
    first = {
        name: measure(s, name, "preference_rank", "1", "share")[0]
        for name in ("offer cascade", "deferred acceptance")
    }
    differ = measure(s, "deferred acceptance", "proposing_side", "all", "applicants_differ")
    cascade, da = pairs["offer cascade"], pairs["deferred acceptance"]
    return (
        f"Blocking pairs {cascade[0]:.0f} ({cascade[1]:.0f}-{cascade[2]:.0f}) in the cascade, "
        f"{da[0]:.0f} under deferred acceptance; hire rates by education "
        f"{rates(s, 'offer cascade')} against {rates(s, 'deferred acceptance')}; first choice "
        f"for {100 * first['offer cascade']:.1f} % of the hired against "
        f"{100 * first['deferred acceptance']:.1f} %; applicant- and hospital-proposing "
        f"deferred acceptance differ for {differ[0]:.2f} applicants per replication. Paired, "
        "deferred acceptance changes the EEA+UK-educated's hire rate by "
        f"{effect(s, 'deferred acceptance', 'education', 'EEA+UK', 'hire_rate', 100, ' pt')}."
    )


def reproduce(folder: Path) -> str:
    report = pd.read_csv(folder / "report.csv")
    statements = pd.read_csv(folder / "figure_4_3.csv")
    judged = report[report["inside_band"].isin(["yes", "no"])]
    inside = {
        b: f"{(g['inside_band'] == 'yes').sum()}/{len(g)}"
        for b, g in judged.groupby("breakdown", sort=False)
    }
    shown = ", ".join(f"{b} {v}" for b, v in inside.items())
    hits = statements.groupby("statement")["hit"].agg(["sum", "count"])
    said = ", ".join(f"({k}) {int(r['sum'])}/{int(r['count'])}" for k, r in hits.iterrows())
    return f"Report inside the model's 5-95 % band: {shown}. Figure 4.3 statements hit: {said}."


def applicant_growth(summary) -> str:
    s = summary
    not_hired = {
        name: measure(s, name, "total", "all", "not_hired")[0]
        for name in ("autumn 2024", "+30% educated abroad", "+30% educated in Norway")
    }
    return (
        f"Not hired {not_hired['autumn 2024']:.0f} today, "
        f"{not_hired['+30% educated abroad']:.0f} with 30 % more educated abroad, "
        f"{not_hired['+30% educated in Norway']:.0f} with 30 % more educated in Norway; hire "
        f"rates by education {rates(s, 'autumn 2024')} today, "
        f"{rates(s, '+30% educated abroad')} and {rates(s, '+30% educated in Norway')}. "
        "Paired, 30 % more educated in Norway change the EEA+UK-educated's hire rate by "
        f"{effect(s, '+30% educated in Norway', 'education', 'EEA+UK', 'hire_rate', 100, ' pt')}."
    )


def queue(folder: Path) -> str:
    """The queue: the pool waiting after the last round, the constant-pool positions, each
    scenario's paired change of that pool, and the entrants' fate by education group."""
    summary = pd.read_csv(folder / "summary.csv")
    cohorts = pd.read_csv(folder / "cohorts.csv")
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    base = meta["baseline"]
    pool = summary[(summary["measure"] == "waiting") & (summary["group"] == "all")]
    last = pool[pool["round"] == pool["round"].max()].set_index("scenario")
    first = pool[(pool["round"] == 0) & (pool["scenario"] == base)].iloc[0]
    b = last.loc[base]
    changes = "; ".join(
        f"{name}: {r['difference']:+.0f} ({r['difference_p05']:.0f} to {r['difference_p95']:.0f})"
        for name, r in last.iterrows()
        if name != base
    )

    def weighted(measure: str, group: str) -> float:
        mine = cohorts[(cohorts["scenario"] == base) & (cohorts["group"] == group)]
        entrants = mine[mine["measure"] == "entrants"].set_index("year")["mean"]
        value = mine[mine["measure"] == measure].set_index("year")["mean"]
        return float((value * entrants).sum() / entrants[value.index].sum())

    groups = ("Norway", "EEA+UK", "Outside EEA")
    left = " / ".join(f"{100 * weighted('share_left', g):.0f}" for g in groups)
    p90 = " / ".join(f"{weighted('rounds_p90', g):.1f}" for g in groups)
    years = "-".join(str(y) for y in meta["cohort_years"])
    return (
        f"Pool waiting after {last['label'].iloc[0]} at {base}: {b['mean']:.0f} "
        f"({b['p05']:.0f}-{b['p95']:.0f}), against {first['mean']:.0f} after "
        f"{first['label']}; constant at {meta['scenarios']['constant pool']['positions']} "
        f"positions a round. Paired change of that pool: {changes}. Entrants {years} leaving "
        f"without a position (Norway / EEA+UK / outside the EEA educated): {left} %; 90th "
        f"percentile of rounds to a position {p90}."
    )


HEADLINES = {
    "capacity": capacity,
    "calendar": calendar,
    "central_match": central_match,
    "applicant_growth": applicant_growth,
}


EXPERIMENTS = ["reproduce_autumn2024", *HEADLINES, "queue"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results", help="the experiments' results folder")
    parser.add_argument(
        "names", nargs="*", default=EXPERIMENTS, help=f"experiments (default: {EXPERIMENTS})"
    )
    args = parser.parse_args()
    root = Path(args.results)
    print("| experiment | replications | headline |")
    print("|---|---|---|")
    for name in args.names:
        if name == "queue":
            meta = json.loads((root / name / "meta.json").read_text(encoding="utf-8"))
            print(f"| `queue` | {meta['replications']:,} chains | {queue(root / name)} |")
            continue
        summary, meta = load_results(root / name)
        text = (
            reproduce(root / name) if name == "reproduce_autumn2024" else HEADLINES[name](summary)
        )
        print(f"| `{name}` | {meta['replications']:,} | {text} |")


if __name__ == "__main__":
    main()
