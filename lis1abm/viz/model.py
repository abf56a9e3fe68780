"""The model the view shows and rebuilds: :class:`~lis1abm.abm.model.LIS1Model` with its
behaviour parameters and total positions as plain keywords, so that Mesa's ``SolaraViz`` can
rebuild it from its sliders (it calls the model's class with ``model_params``).

Nothing here steps the cascade: the page's Step and Play buttons call
:meth:`LIS1Model.step <lis1abm.abm.model.LIS1Model.step>`, one offer round per step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lis1abm.abm.model import LIS1Model
from lis1abm.data.round import GROUPS
from lis1abm.market.inputs import resolve_inputs
from lis1abm.params import Params

BEHAVIOUR = {
    "withdrawal": "withdrawal_probability",
    "waiting": "wait_probability_max",
    "no_reply": "no_reply_probability_one_day",
    "late_marking": "late_marking_probability",
}
"""The view's slider keywords and the behaviour parameters (``behaviour.<name>``) they set."""

LABELS = {
    "withdrawal": "Withdrawal (probability)",
    "waiting": "Waiting, at most (probability)",
    "no_reply": "No reply, one-day window (probability)",
    "late_marking": "Late marking (probability)",
    "total_positions": "Total positions",
}
"""The sliders' labels on the page (the browser test finds the sliders by them)."""


class ViewModel(LIS1Model):
    """Replication 0 of a round, as ``lis1abm simulate --backend mesa --reps 1`` plays it
    with the same round, parameters and seed, unless a slider moved.

    Parameters
    ----------
    round : a built-in round's name or a round file's path.
    params : a parameter file's path; None: the round's (as ``simulate``).
    seed : the root seed.
    withdrawal, waiting, no_reply, late_marking : the behaviour probabilities (see
        :data:`BEHAVIOUR`); None, or the parameter file's value: unchanged.
    total_positions : every ad's positions scaled to this total (positions), as an
        experiment's ``total_positions`` (:func:`lis1abm.experiments.overrides.scale_positions`,
        with the capacity rule ``"positions"``); None, or the round's total: unchanged.

    Only values that differ from the files become overrides (a probability within half a
    slider step of the file's value is the file's value: the browser's slider snaps the file's
    0.1623 to 0.16), so that the page's first model, and a Reset with the sliders untouched,
    is exactly the file's.
    """

    def __init__(
        self,
        round: str = "autumn2024",  # Mesa-style keyword, as LIS1Model's
        params: str | None = None,
        seed: int = 2024,
        withdrawal: float | None = None,
        waiting: float | None = None,
        no_reply: float | None = None,
        late_marking: float | None = None,
        total_positions: int | None = None,
    ):
        data, base = resolve_inputs(round, params)
        values = dict(
            withdrawal=withdrawal, waiting=waiting, no_reply=no_reply, late_marking=late_marking
        )
        overrides: dict[str, Any] = {
            f"behaviour.{BEHAVIOUR[k]}": float(v)
            for k, v in values.items()
            if v is not None and not on_file_value(float(v), behaviour_value(base, k))
        }
        if total_positions is not None and int(total_positions) != positions(data):
            # Imported here: the experiments package brings the figures (seaborn, scipy), a
            # second of the view's start for a slider that may never move.
            from lis1abm.experiments.overrides import scale_positions

            data = scale_positions(data, int(total_positions))
            # As an experiment's total_positions: the report's extra hires (capacity rule
            # "report_hires") belong to the report's positions, not to scaled ones.
            overrides["capacity.rule"] = "positions"
        self.overrides = overrides
        super().__init__(round=data, params=base, overrides=overrides or None, seed=seed)

    @property
    def hires_possible(self) -> int:
        """Hires the ads can make in all (the positions after the capacity rule; 606 for
        autumn 2024 with the rule "report_hires")."""
        return int(self.market.capacity.sum())

    @property
    def open_positions(self) -> np.ndarray:
        """int64 (J,): each ad's open positions now."""
        return np.array([ad.capacity - len(ad.hires) for ad in self.ad_list], dtype=np.int64)

    @property
    def hired_round(self) -> np.ndarray:
        """int64 (N,): each applicant's round of acceptance, 0 if not hired (yet)."""
        return np.array([a.hired_round for a in self.applicant_list], dtype=np.int64)

    def hires_by_round(self, breakdown: str) -> dict[str, np.ndarray]:
        """Hires so far after each round played, by group.

        Parameters
        ----------
        breakdown : ``"education"`` or ``"nationality"``.

        Returns
        -------
        group (:data:`~lis1abm.data.round.GROUPS`) -> int64 (rounds played,): hires so far.
        """
        group = self.market.population[f"{breakdown}_group"].to_numpy()
        hired_round = self.hired_round
        rounds = np.arange(1, self.round_number + 1)
        return {
            g: np.array(
                [
                    np.count_nonzero((group == g) & (hired_round > 0) & (hired_round <= r))
                    for r in rounds
                ],
                dtype=np.int64,
            )
            for g in GROUPS
        }

    def report_hires(self, breakdown: str) -> dict[str, int]:
        """The report's hires by group (``"education"`` or ``"nationality"``)."""
        return {g: int(self.market.data.groups[breakdown][g][1]) for g in GROUPS}


STEP = 0.01
"""The behaviour sliders' step (probability)."""


def on_file_value(value: float, file_value: float) -> bool:
    """A slider's probability stands for the file's: within half a step of it (the slider
    shows and returns values on its grid of :data:`STEP`)."""
    return abs(value - file_value) <= STEP / 2 + 1e-12


def behaviour_value(params: Params, keyword: str) -> float:
    """The parameter file's value of a slider keyword of :data:`BEHAVIOUR` (probability)."""
    return float(getattr(params.behaviour, BEHAVIOUR[keyword]))


def positions(data) -> int:
    """The round's advertised positions (positions)."""
    return sum(a.positions for a in data.ads)


def model_params(round: str | Path, params: str | Path | None, seed: int) -> dict[str, Any]:
    """SolaraViz's ``model_params``: the round, parameters and seed fixed, a slider per
    behaviour probability (0-1, or 0-0.5 for withdrawal and no reply, by 0.01) and one for
    the total positions (half to one and a half times the round's, by 1), each starting at
    the files' value.

    Raises
    ------
    UserError : a bad round or parameter file (ConfigError), or a round without a market.
    """
    from mesa.visualization import Slider  # the viz extra; the module imports without it

    data, base = resolve_inputs(str(round), None if params is None else str(params))
    data.require_market()  # a calendar-only round (spring 2024) has nothing to show
    out: dict[str, Any] = {
        "round": str(round),
        "params": None if params is None else str(params),
        "seed": seed,
    }
    for k in BEHAVIOUR:
        top = 0.5 if k in ("withdrawal", "no_reply") else 1.0
        value = behaviour_value(base, k)
        out[k] = Slider(LABELS[k], value=value, min=0.0, max=max(top, value), step=STEP)
    total = positions(data)
    out["total_positions"] = Slider(
        LABELS["total_positions"],
        value=total,
        min=max(len(data.ads), total // 2),
        max=total + total // 2,
        step=1,
    )
    return out
