"""Fitting the queue's re-application and spring inflow to the report's figures about the
queue, and the back-cast's checks on the figures kept out of the fit.

Fitted (:data:`FITTED`), on the back-cast (:func:`~lis1abm.queue.schedule.backcast`):

* applicants in each of the autumn rounds 2021-2024: between 921 and 932 (chapter 6), a
  normal error around 926.5 with sd :data:`APPLICANTS_SD` (the chapter's own figures disagree
  by about that much, docs/queue.md);
* applicants of autumn 2024 with more than five rounds applied: 6 % of 932 (Poisson);
* table 2: the not hired of autumn 2024 with four or more rounds, by education group
  (Norway 4, EEA+UK 30, outside EEA 38; Poisson);
* the applicants of autumn 2013 by education group (310, 341, 78: derived from chapter 6's
  changes since 2013, ``configs/history/lis1.toml``; Poisson), which set the back-cast's
  inflow in 2013 (``inflow_then``).

Kept out, the checks (:data:`CHECKS`): the share hired in autumn 2018 and 2019 (46 %) and 2023
(65 %), the applicants of autumn 2019 (about 1,030), the education groups' shares of the hired
in autumn 2013 and 2024 and on average over the autumn rounds, and that spring rounds have
more applicants than autumn rounds.

The search is bounded least squares (scipy), every evaluation on the same chains (common random
numbers); the checks are judged on other root seeds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize as scipy_optimize

from lis1abm.data.history import History, load_history
from lis1abm.data.round import GROUPS
from lis1abm.queue.schedule import backcast
from lis1abm.queue.sequence import Sequence, play_chain
from lis1abm.queue.settings import QueueSettings

APPLICANTS_SD = 15.0  # applicants: the spread the fit allows around 926.5 per autumn round
RECENT_AUTUMNS = ("autumn2021", "autumn2022", "autumn2023", "autumn2024")
FITTED = {
    "return_probability.Norway": (0.3, 1.0),
    "return_probability.EEA+UK": (0.3, 1.0),
    "return_probability.Outside EEA": (0.3, 1.0),
    "return_decay": (0.7, 1.15),
    "spring_inflow_factor": (1.0, 2.0),
    "inflow_then.Norway": (0.3, 1.5),
    "inflow_then.EEA+UK": (0.3, 1.5),
    "inflow_then.Outside EEA": (0.3, 1.5),
}
"""Searched settings and their bounds."""


def with_values(settings: QueueSettings, values: dict[str, float]) -> QueueSettings:
    """``settings`` with the dotted :data:`FITTED` names set to ``values``."""
    data = settings.model_dump()
    for name, value in values.items():
        head, _, key = name.partition(".")
        if key:
            data[head] = {**data[head], key: float(value)}
        else:
            data[head] = float(value)
    return QueueSettings(**data)


def backcast_rounds(
    settings: QueueSettings, seed: int, chains: range, history: History | None = None
) -> pd.DataFrame:
    """The back-cast's round table, every chain's rows (column ``chain`` added)."""
    history = load_history() if history is None else history
    sequence = Sequence.of(settings, backcast(settings, history))
    tables = [play_chain(sequence, seed, c).rounds.assign(chain=c) for c in chains]
    return pd.concat(tables, ignore_index=True)


def mean_rounds(rounds: pd.DataFrame) -> pd.DataFrame:
    """Mean of every count over the chains, one row per round label and group."""
    numeric = rounds.drop(columns=["chain", "round", "season", "counted"])
    return numeric.groupby(["label", "group"], sort=False).mean().reset_index()


def _at(mean: pd.DataFrame, label: str, group: str, column: str) -> float:
    row = mean[(mean["label"] == label) & (mean["group"] == group)]
    return float(row[column].iloc[0])


def poisson_deviance(model: float, observed: float) -> float:
    """2 (m - o + o log(o / m)): minus twice the Poisson log-likelihood ratio."""
    model = max(model, 1e-9)
    return 2 * (model - observed + (observed * math.log(observed / model) if observed else 0))


def objective_terms(
    mean: pd.DataFrame, history: History, table2: dict[str, int]
) -> tuple[dict[str, float], dict[str, float]]:
    """The fitted figures' terms (each minus twice a log-likelihood, up to a constant), and
    the model's difference from the report behind each (its sign signs the residual)."""
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
    many = 0.06 * history.figure("applicants", "autumn2024").value
    model = _at(mean, "autumn2024", "all", "more_than_five_rounds")
    terms["more than five rounds autumn2024"] = poisson_deviance(model, many)
    signs["more than five rounds autumn2024"] = model - many
    for group in GROUPS:
        model = _at(mean, "autumn2024", group, "long_term_not_hired")
        terms[f"table 2 {group}"] = poisson_deviance(model, table2[group])
        signs[f"table 2 {group}"] = model - table2[group]
    return terms, signs


@dataclass(frozen=True)
class Fit:
    """The best settings, the objective's terms there, and every evaluation."""

    settings: QueueSettings
    values: dict[str, float]
    terms: dict[str, float]
    evaluations: pd.DataFrame


def residuals(terms: dict[str, float], signs: dict[str, float]) -> np.ndarray:
    """Each term as a signed residual whose square is the term (least squares)."""
    return np.array([math.copysign(math.sqrt(max(v, 0.0)), signs[k]) for k, v in terms.items()])


def fit(
    settings: QueueSettings,
    table2: dict[str, int],
    seed: int,
    chains: int,
    evaluations: int,
    progress: Callable[[int, float], None] | None = None,
) -> Fit:
    """Bounded least squares (scipy's trust-region reflective method, finite differences)
    over :data:`FITTED` from ``settings``, at most ``evaluations`` evaluations, each on chains
    0 .. ``chains`` - 1 of ``seed`` (the same chains every time: common random numbers, so the
    objective is a smooth enough function of the settings for finite differences)."""
    history = load_history()
    names = list(FITTED)
    lower = np.array([FITTED[n][0] for n in names])
    upper = np.array([FITTED[n][1] for n in names])
    x0 = np.clip([_value(settings, n) for n in names], lower, upper)
    seen: list[dict] = []

    def evaluate(x: np.ndarray) -> np.ndarray:
        values = dict(zip(names, map(float, x), strict=True))
        rounds = backcast_rounds(with_values(settings, values), seed, range(chains), history)
        mean = mean_rounds(rounds)
        terms, signs = objective_terms(mean, history, table2)
        seen.append({**values, **terms, "objective": sum(terms.values())})
        if progress is not None:
            progress(len(seen), seen[-1]["objective"])
        return residuals(terms, signs)

    scipy_optimize.least_squares(
        evaluate, x0, bounds=(lower, upper), diff_step=0.05, max_nfev=evaluations, x_scale=0.1
    )
    table = pd.DataFrame(seen)
    best = table.loc[table["objective"].idxmin()]
    values = {n: float(best[n]) for n in names}
    terms = {k: float(best[k]) for k in table.columns if k not in names and k != "objective"}
    return Fit(with_values(settings, values), values, terms, table)


def _value(settings: QueueSettings, name: str) -> float:
    head, _, key = name.partition(".")
    value = getattr(settings, head)
    return float(value[key] if key else value)


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


def checks(rounds: pd.DataFrame, history: History) -> pd.DataFrame:
    """The back-cast beside the figures kept out of the fit: the model's mean over chains of
    each figure, its 5-95 % band over chains, the report's value and whether it lies inside."""
    per_chain = [
        check_values(mean_rounds(rounds[rounds["chain"] == c]), history)
        for c in sorted(rounds["chain"].unique())
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
    return out
