"""Fitting the queue's re-application, inflow, proficiency gain and ranking weights to the
report's figures about the queue, and the back-cast's checks on the figures kept out of the
fit.

Fitted (:data:`FITTED`), on the back-cast (:func:`~lis1abm.queue.schedule.backcast`):

* applicants in each of the autumn rounds 2021-2024: between 921 and 932 (chapter 6), a
  normal error around 926.5 with sd :data:`APPLICANTS_SD` (the chapter's own figures disagree
  by about that much, docs/queue.md);
* applicants of autumn 2024 with more than five rounds applied: 6 % of 932 (Poisson);
* table 2: the not hired of autumn 2024 with four or more rounds, by education group
  (Norway 4, EEA+UK 30, outside EEA 38; Poisson);
* the applicants of autumn 2013 by education group (310, 341, 78: derived from chapter 6's
  changes since 2013, ``configs/history/lis1.toml``; Poisson), which set the back-cast's
  inflow in 2013 (``inflow_then``);
* the applicants of the base round (autumn 2024) by education group (322, 498, 112) and by
  nationality group (730, 121, 81; Poisson), and their hire rates (261, 318, 27 and 514, 72,
  20 hired; binomial): the queue the back-cast builds up must be the one the calibrated round
  has, whose calibration is fitted to the same figures;
* the single-round acceptance's gaps on that round (:func:`acceptance_gaps`), each a normal
  term with sd half its limit.

Kept out, the checks (:func:`checks`): the share hired in autumn 2018 and 2019 (46 %) and 2023
(65 %), the applicants of autumn 2019 (about 1,030), the education groups' shares of the hired
in autumn 2013 and on average over the autumn rounds (and in 2024, which follows from the
fitted hires), that spring rounds have more applicants than autumn rounds, and the
single-round acceptance of the calibration on the base round played at the end of the
back-cast, judged as the calibration's is, on root seeds the fit never saw (as the one-round
calibration's, its rows are fitted figures on the fitting seed): each education,
nationality and graduation-period group's hire rate within
:data:`~lis1abm.calibration.acceptance.LIMIT_PP` points of the report's
(:func:`acceptance_values`).

The search is CMA-ES (Optuna's sampler, seeded; derivative-free, because a settings change
moves whole applicants between groups, so the objective is a step function on a fine scale),
every evaluation on the same chains (common random numbers); the checks are judged on other
root seeds.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from itertools import repeat

import numpy as np
import optuna
import pandas as pd

from lis1abm.calibration.acceptance import LIMIT_PP
from lis1abm.data.config import path_keys
from lis1abm.data.history import History, load_history
from lis1abm.data.round import GROUPS, RoundData, load_round
from lis1abm.queue.schedule import backcast
from lis1abm.queue.sequence import ChainResult, Sequence, play_chain
from lis1abm.queue.settings import QueueSettings

APPLICANTS_SD = 15.0  # applicants: the spread the fit allows around 926.5 per autumn round
SIGMA0 = 0.05  # CMA-ES's first step, as a share of each setting's range
RECENT_AUTUMNS = ("autumn2021", "autumn2022", "autumn2023", "autumn2024")
FITTED = {
    "return_probability.Norway": (0.3, 1.0),
    "return_probability.EEA+UK": (0.3, 1.0),
    "return_probability.Outside EEA": (0.3, 1.0),
    "return_decay": (0.7, 1.15),
    "return_factor_unlisted": (0.0, 1.0),
    "return_factor_nationality.EEA+UK": (0.3, 1.5),
    "return_factor_nationality.Outside EEA": (0.3, 1.5),
    "proficiency_gain": (0.0, 0.1),
    "spring_inflow_factor": (1.0, 2.0),
    "inflow_then.Norway": (0.3, 1.5),
    "inflow_then.EEA+UK": (0.3, 1.5),
    "inflow_then.Outside EEA": (0.3, 1.5),
    # The ranking of the rounds after the base round (QueueSettings.ranking), around the
    # calibrated weights (1.31, 0.30, 0.39; 0.10, 0.76; 0.08, -0.13; -0.11): the weights of
    # the groups whose hire rates the acceptance judges (education, nationality, the two
    # graduation periods the queue's waiting fill), and that of the rounds applied, which the
    # queue builds.
    "ranking.education_weight.Norway": (0.5, 2.0),
    "ranking.education_weight.EEA+UK": (-0.5, 1.2),
    "ranking.education_weight.Outside EEA": (-0.5, 1.2),
    "ranking.graduation_period_deviation.2022-03..2023-02": (-1.0, 1.0),
    "ranking.graduation_period_deviation.2020-01..2022-02": (-1.0, 1.0),
    "ranking.nationality_weight.EEA+UK": (-0.6, 0.8),
    "ranking.nationality_weight.Outside EEA": (0.0, 1.6),
    "ranking.earlier_round_weight": (-0.6, 0.4),
}
"""Searched settings and their bounds."""


def with_values(settings: QueueSettings, values: dict[str, float]) -> QueueSettings:
    """``settings`` with the dotted :data:`FITTED` names set to ``values`` (a ``ranking.``
    name sets the rest of its path in :attr:`QueueSettings.ranking`)."""
    data = settings.model_dump()
    for name, value in values.items():
        head, _, key = name.partition(".")
        if key:
            data[head] = {**data[head], key: float(value)}
        else:
            data[head] = float(value)
    return QueueSettings(**data)


@dataclass(frozen=True)
class Targets:
    """The base round's figures the fit and the checks read.

    Attributes
    ----------
    base : the base round's data (its applicants and hires by group).
    table2 : the report's table 2 by education group: not hired after four or more rounds.
    """

    base: RoundData
    table2: dict[str, int]

    @classmethod
    def of(cls, round_name: str) -> Targets:
        base = load_round(round_name)
        counts: Counter = Counter()
        for cell in base.long_term_not_hired:
            counts[cell.education] += cell.count
        return cls(base, dict(counts))

    @property
    def applicants(self) -> dict[str, int]:
        """The base round's applicants by education group."""
        return {g: self.base.groups["education"][g][0] for g in GROUPS}


def backcast_chains(
    settings: QueueSettings,
    seed: int,
    chains: range,
    history: History | None = None,
    pool: Executor | None = None,
) -> list[ChainResult]:
    """Chains ``chains`` of the back-cast of ``settings``, in order (on ``pool``'s processes
    if given: a chain is a pure function of (seed, chain), so the result is the same)."""
    history = load_history() if history is None else history
    sequence = Sequence.of(settings, backcast(settings, history))
    if pool is None:
        return [play_chain(sequence, seed, c) for c in chains]
    return list(pool.map(play_chain, repeat(sequence), repeat(seed), chains))


def round_table(results: list[ChainResult], chains: range) -> pd.DataFrame:
    """The chains' round tables, every chain's rows (column ``chain`` added)."""
    tables = [r.rounds.assign(chain=c) for r, c in zip(results, chains, strict=True)]
    return pd.concat(tables, ignore_index=True)


def mean_rounds(rounds: pd.DataFrame) -> pd.DataFrame:
    """Mean of every count over the chains, one row per round label and group."""
    numeric = rounds.drop(columns=["chain", "round", "season", "counted"])
    return numeric.groupby(["label", "group"], sort=False).mean().reset_index()


def _at(mean: pd.DataFrame, label: str, group: str, column: str) -> float:
    row = mean[(mean["label"] == label) & (mean["group"] == group)]
    return float(row[column].iloc[0])


def binomial_deviance(rate: float, hired: int, applicants: int) -> float:
    """Minus twice the binomial log-likelihood ratio of ``hired`` of ``applicants`` at the
    model's ``rate`` against the observed rate."""
    q = min(max(rate, 1e-9), 1 - 1e-9)
    p = hired / applicants

    def part(k: float, a: float, b: float) -> float:
        return k * math.log(a / b) if k else 0.0

    return 2 * (part(hired, p, q) + part(applicants - hired, 1 - p, 1 - q))


CONTINUITY = 0.5
"""Counts added to the model's and the report's figure in :func:`poisson_deviance`."""


def poisson_deviance(model: float, observed: float) -> float:
    """2 (m - o + o log(o / m)): minus twice the Poisson log-likelihood ratio, with half a
    count added to both (a continuity correction). Without it a group the model almost never
    has would cost without bound as the chains' mean falls to 0: table 2's four
    Norway-educated long-term not hired cost 16 at a mean of 0.2 and 169 at 0 (the mean
    clipped at 1e-9), a cliff that hid every other term from the search."""
    m, o = model + CONTINUITY, observed + CONTINUITY
    return 2 * (m - o + o * math.log(o / m))


def last_round_people(result: ChainResult) -> tuple[str, pd.DataFrame]:
    """The label of a chain's last round and its applicants: the people whose time in the
    queue ended in it (hired, left or waiting)."""
    last = int(result.rounds["round"].max())
    label = result.rounds.loc[result.rounds["round"] == last, "label"].iloc[0]
    return label, result.people[result.people["ended"] == last]


def last_round_by_nationality(results: list[ChainResult]) -> dict[str, tuple[float, float]]:
    """Applicants and hired of each nationality group in the last round of the chains (means
    over chains; :func:`last_round_people`)."""
    counts = []
    for r in results:
        people = last_round_people(r)[1]
        hired = people["outcome"] == "hired"
        groups = people["nationality_group"]
        counts.append({g: ((groups == g).sum(), (hired & (groups == g)).sum()) for g in GROUPS})
    return {g: tuple(float(np.mean([c[g][k] for c in counts])) for k in (0, 1)) for g in GROUPS}


def acceptance_gaps(results: list[ChainResult], targets: Targets) -> dict[str, float]:
    """Each single-round acceptance row's gap at the end of the back-cast (points): the mean
    over chains of the model's hire rate (:func:`acceptance_values`; chains where the group
    has no applicants left out) minus the report's; NaN for a group no chain has."""
    table = pd.DataFrame(
        [row for r in results for row in acceptance_values(r, targets)],
        columns=["figure", "rounds", "group", "model", "report"],
    )
    means = table.groupby("group", sort=False).agg(
        model=("model", "mean"), report=("report", "first")
    )
    return {g: 100 * (row.model - row.report) for g, row in means.iterrows()}


def objective_terms(
    mean: pd.DataFrame,
    history: History,
    targets: Targets,
    nationality: dict[str, tuple[float, float]],
    gaps: dict[str, float],
) -> tuple[dict[str, float], dict[str, float]]:
    """The fitted figures' terms (each minus twice a log-likelihood, up to a constant), and
    the model's difference from the report behind each (its sign signs the residual).
    ``nationality``: the base round's applicants and hired by nationality group at the end
    of the back-cast (:func:`last_round_by_nationality`); ``gaps``: the single-round
    acceptance's gaps there (:func:`acceptance_gaps`), each a normal term with sd half its
    limit (:data:`~lis1abm.calibration.acceptance.LIMIT_PP`), so a gap at the limit costs 4:
    the binomials above weigh a group's hire rate by its applicants alone, under which a
    gap of 5 points among the 81 outside-EEA nationals costs less than 2."""
    recent = next(f for f in history.find("applicants") if f.low is not None)
    target = (recent.low + recent.high) / 2
    terms, signs = {}, {}
    for label in RECENT_AUTUMNS:
        model = _at(mean, label, "all", "applicants")
        terms[f"applicants {label}"] = ((model - target) / APPLICANTS_SD) ** 2
        signs[f"applicants {label}"] = model - target
    for group in GROUPS:
        # Autumn 2013's applicants by education group (derived from chapter 6's changes).
        observed = history.figure("applicants", "autumn2013", group=group).value
        model = _at(mean, "autumn2013", group, "applicants")
        terms[f"applicants autumn2013 {group}"] = poisson_deviance(model, observed)
        signs[f"applicants autumn2013 {group}"] = model - observed
    base = targets.base.name
    education = {g: (_at(mean, base, g, "applicants"), _at(mean, base, g, "hired")) for g in GROUPS}
    for kind, prefix, modelled in (
        ("education", "", education),
        ("nationality", "nationality ", nationality),
    ):
        for group in GROUPS:
            applicants, hired = targets.base.groups[kind][group]
            model, model_hired = modelled[group]
            name = f"{base} {prefix}{group}"
            terms[f"applicants {name}"] = poisson_deviance(model, applicants)
            signs[f"applicants {name}"] = model - applicants
            # The hire rate: a binomial on the report's applicants, as the one-round
            # calibration fits it (a Poisson on the hires alone would let the rate drift
            # with the applicants).
            rate = model_hired / max(model, 1e-9)
            terms[f"hire rate {name}"] = binomial_deviance(rate, hired, applicants)
            signs[f"hire rate {name}"] = rate - hired / applicants
    many = 0.06 * targets.base.totals["applicants"]
    model = _at(mean, base, "all", "more_than_five_rounds")
    terms[f"more than five rounds {base}"] = poisson_deviance(model, many)
    signs[f"more than five rounds {base}"] = model - many
    for group in GROUPS:
        model = _at(mean, base, group, "long_term_not_hired")
        terms[f"table 2 {group}"] = poisson_deviance(model, targets.table2[group])
        signs[f"table 2 {group}"] = model - targets.table2[group]
    for group, gap in gaps.items():
        if not np.isnan(gap):
            sd = LIMIT_PP[group.partition(":")[0]] / 2
            terms[f"acceptance {group}"] = (gap / sd) ** 2
            signs[f"acceptance {group}"] = gap
    return terms, signs


@dataclass(frozen=True)
class Fit:
    """The best settings, the objective's terms there, and every evaluation."""

    settings: QueueSettings
    values: dict[str, float]
    terms: dict[str, float]
    evaluations: pd.DataFrame


def evaluate(
    settings: QueueSettings,
    targets: Targets,
    seed: int,
    chains: range,
    history: History,
    pool: Executor | None = None,
) -> tuple[dict[str, float], dict[str, float]]:
    """The objective's terms (:func:`objective_terms`) on chains ``chains`` of ``seed``'s
    back-cast of ``settings``, and the single-round acceptance's gaps there (points)."""
    results = backcast_chains(settings, seed, chains, history, pool)
    gaps = acceptance_gaps(results, targets)
    mean = mean_rounds(round_table(results, chains))
    terms, _ = objective_terms(mean, history, targets, last_round_by_nationality(results), gaps)
    return terms, gaps


def fit(
    settings: QueueSettings,
    targets: Targets,
    seed: int,
    chains: int,
    evaluations: int,
    progress: Callable[[int, float], None] | None = None,
    sigma0: float = SIGMA0,
    workers: int = 1,
    names: list[str] | None = None,
) -> Fit:
    """CMA-ES over :data:`FITTED` (Optuna's sampler, seeded with ``seed``; first step
    ``sigma0`` of each setting's range), starting from ``settings`` (the first evaluation),
    at most ``evaluations`` evaluations, each the sum of
    :func:`objective_terms` on chains 0 .. ``chains`` - 1 of ``seed`` (the same chains every
    time: common random numbers, so candidates differ by their settings alone), the chains
    played on ``workers`` processes (the same result on any number). ``names``: the settings
    searched (default: all of :data:`FITTED`); the others keep their values in ``settings``."""
    history = load_history()
    names = list(FITTED) if names is None else names
    unknown = sorted(set(names) - set(FITTED))
    if unknown:
        raise ValueError(f"not a fitted setting: {unknown[0]!r} (known: {list(FITTED)})")
    start = {n: v for n, v in start_values(settings).items() if n in names}
    seen: list[dict] = []

    def objective(trial: optuna.Trial) -> float:
        values = {n: trial.suggest_float(n, *FITTED[n]) for n in names}
        candidate = with_values(settings, values)
        terms, _ = evaluate(candidate, targets, seed, range(chains), history, pool)
        seen.append({**values, **terms, "objective": sum(terms.values())})
        if progress is not None:
            progress(len(seen), seen[-1]["objective"])
        return seen[-1]["objective"]

    optuna.logging.set_verbosity(logging.WARNING)
    with warnings.catch_warnings():
        # x0 and sigma0 are deprecated from Optuna 4.9 and kept until 6 (pyproject pins < 6):
        # without them CMA-ES would start from the middle of the bounds, not the config's fit.
        warnings.simplefilter("ignore", FutureWarning)
        sampler = optuna.samplers.CmaEsSampler(
            x0=start, sigma0=sigma0, seed=seed, warn_independent_sampling=False
        )
    study = optuna.create_study(direction="minimize", sampler=sampler)
    study.enqueue_trial(start)
    pool = ProcessPoolExecutor(workers) if workers > 1 else None
    try:
        study.optimize(objective, n_trials=evaluations)
    finally:
        if pool is not None:
            pool.shutdown()
    table = pd.DataFrame(seen)
    best = table.loc[table["objective"].idxmin()]
    values = {n: float(best[n]) for n in names}
    terms = {k: float(best[k]) for k in table.columns if k not in names and k != "objective"}
    return Fit(with_values(settings, values), values, terms, table)


def start_values(settings: QueueSettings) -> dict[str, float]:
    """Each :data:`FITTED` setting's value in ``settings``, clipped to its bounds: a factor
    not named is 1, a ranking weight not named the one the rounds play with (the base
    round's calibrated weight)."""
    played = Sequence.of(settings).round_params.to_dict()
    out = {}
    for name, bounds in FITTED.items():
        head, _, key = name.partition(".")
        if head == "ranking":
            value = played
            for part in path_keys(played, name)[0]:  # keys may hold dots ("2020-01..2022-02")
                value = value[part]
        else:
            value = getattr(settings, head)
            value = value.get(key, 1.0) if key else value
        out[name] = float(np.clip(value, *bounds))
    return out


def check_values(mean: pd.DataFrame, history: History) -> list[tuple]:
    """The figures kept out of the fit, from one round table (one chain's, or a mean):
    (figure, rounds, group, model, report) each."""
    rows = []

    def share_hired(label: str) -> float:
        return _at(mean, label, "all", "hired") / _at(mean, label, "all", "applicants")

    def share_of_hired(label: str, group: str) -> float:
        return _at(mean, label, group, "hired") / _at(mean, label, "all", "hired")

    for label in ("autumn2018", "autumn2019", "autumn2023"):
        fig = history.find("share_hired", round=label)[0]
        rows.append(("share hired", label, "all", share_hired(label), fig.value))
    applicants = _at(mean, "autumn2019", "all", "applicants")
    rows.append(("applicants", "autumn2019", "all", applicants,
                 history.figure("applicants", "autumn2019").value))  # fmt: skip
    autumns = [a for a in mean["label"].unique() if a.startswith("autumn") and int(a[-4:]) >= 2013]
    for fig in (f for g in GROUPS for f in history.find("share_of_hired", group=g)):
        if fig.round is not None:
            rows.append(("share of hired", fig.round, fig.group,
                         share_of_hired(fig.round, fig.group), fig.value))  # fmt: skip
        else:
            model = float(np.mean([share_of_hired(a, fig.group) for a in autumns]))
            rows.append(("share of hired, autumn mean", "2013-2024", fig.group, model, fig.value))
    labels = set(mean["label"])
    pairs = [
        (a, f"spring{int(a[-4:]) + 1}") for a in autumns if f"spring{int(a[-4:]) + 1}" in labels
    ]
    larger = np.mean([_at(mean, s, "all", "applicants") > _at(mean, a, "all", "applicants")
                      for a, s in pairs])  # fmt: skip
    rows.append(("spring rounds larger than the autumn before (share)", "2014-2024", "all",
                 float(larger), 1.0))  # fmt: skip
    return rows


ACCEPTANCE = "hire rate at the end of the back-cast"
"""The figure name of the single-round acceptance's rows in :func:`checks`."""


def acceptance_values(result: ChainResult, targets: Targets) -> list[tuple]:
    """The single-round acceptance's figures of the last round of a back-cast chain (the base
    round): each education, nationality and graduation-period group's hire rate, with the
    report's. (figure, rounds, group, model, report) each; the group reads "education:
    Norway"."""
    label, people = last_round_people(result)
    if label != targets.base.name:
        raise ValueError(f"the back-cast ends in {label}, not in {targets.base.name}")
    hired = people["outcome"] == "hired"
    report = {
        "education": targets.base.groups["education"],
        "nationality": targets.base.groups["nationality"],
        "graduation_period": {
            f.group: (f.applicants, f.hired) for f in targets.base.breakdowns["graduation_period"]
        },
    }
    rows = []
    for breakdown, figures in report.items():
        column = "graduation_period" if breakdown == "graduation_period" else f"{breakdown}_group"
        for group, (applicants, hires) in figures.items():
            mine = (people[column] == group).to_numpy()
            model = hired[mine].mean() if mine.any() else np.nan
            rows.append((ACCEPTANCE, label, f"{breakdown}: {group}", model, hires / applicants))
    return rows


def checks(results: list[ChainResult], history: History, targets: Targets) -> pd.DataFrame:
    """The back-cast beside the figures kept out of the fit: the model's mean over chains of
    each figure, its 5-95 % band over chains, the report's value and whether it lies inside;
    for the single-round acceptance's rows also the gap (points), its limit and whether the
    gap is within it."""
    per_chain = [
        check_values(mean_rounds(r.rounds.assign(chain=0)), history) + acceptance_values(r, targets)
        for r in results
    ]
    columns = ["figure", "rounds", "group", "model", "report"]
    table = pd.concat([pd.DataFrame(rows, columns=columns) for rows in per_chain])
    keys = ["figure", "rounds", "group"]
    out = (
        table.groupby(keys, sort=False)
        .agg(
            mean=("model", "mean"),
            p05=("model", lambda x: x.quantile(0.05)),
            p95=("model", lambda x: x.quantile(0.95)),
            report=("report", "first"),
        )
        .reset_index()
    )
    out["inside"] = (out["report"] >= out["p05"]) & (out["report"] <= out["p95"])
    judged = out["figure"] == ACCEPTANCE
    out["gap_pp"] = np.where(judged, 100 * (out["mean"] - out["report"]), np.nan)
    breakdown = out["group"].str.partition(":")[0]
    out["limit_pp"] = np.where(judged, breakdown.map(LIMIT_PP), np.nan)
    out["within_limit"] = (out["gap_pp"].abs() <= out["limit_pp"]).where(judged)
    return out
