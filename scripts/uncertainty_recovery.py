"""Does the calibration's uncertainty hold? A simulated-truth check of the sandwich intervals.

For each of ``--truths`` simulated truths t:

1. parameters drawn from the sandwich covariance around the calibrated point (the covariance
   file beside the parameter file, ``<params>.covariance.csv``), z keyed by (seed, t);
2. a report simulated at them: one replication's counts of every fitted group (its
   population draw and its offer rounds), from a block of replication indices the fit never
   used;
3. the parameters refitted to that report by Fisher scoring from the calibrated point
   (:func:`lis1abm.calibration.sandwich.refit`), and the 5-95 % interval refit -+ 1.645 sd;
4. the truth inside the interval or not, per parameter.

Prints the coverage per parameter and overall (90 % if the intervals are right), and the
refits' spread against the sandwich's sd. Usage (about 1.5 minutes a truth on 2 cores)::

    python scripts/uncertainty_recovery.py [--truths 12] [--iterations 2] [--seed 1]
        [--params FILE] [--config FILE]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from lis1abm.calibration.config import default_config, load_config
from lis1abm.calibration.objective import Objective
from lis1abm.calibration.paths import value_at
from lis1abm.calibration.sandwich import Z90, refit, target_cells
from lis1abm.data.round import load_round
from lis1abm.params import load_params
from lis1abm.simulation.prepare import resolve_inputs
from lis1abm.simulation.uncertainty import load_draws

FIRST = 5_000_000
"""First replication index of the simulated reports: far from the fit's blocks."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--round", default="autumn2024")
    parser.add_argument("--params", default=None, help="default: the round's calibrated file")
    parser.add_argument("--config", default=None, help="default: the round's calibration config")
    parser.add_argument("--truths", type=int, default=12)
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1, help="keys the truths' draws")
    args = parser.parse_args()
    data = load_round(args.round)
    config = load_config(args.config or default_config(data.name))
    _, params = resolve_inputs(data, args.params, None)
    params = load_params(params.file)
    draws = load_draws(params.file)
    if list(draws.names) != config.names:
        raise SystemExit(f"{draws.file}: its parameters are not the config's free parameters")
    s = config.settings
    objective = Objective(
        config, data, s.seed, s.replications, first=s.crn_first, populations=s.populations or 1
    )
    best = np.array([value_at(params, n) for n in config.names])
    sd = np.sqrt(np.clip(np.diag(draws.factor @ draws.factor.T), 0, None))
    cells = target_cells(objective, objective.run(best))
    print(f"{params.file}: {len(best)} parameters, {args.truths} truths, seed {args.seed}")
    rows = []
    for t in range(args.truths):
        started = time.perf_counter()
        truth = np.array(list(draws.draw(args.seed, t).values()))
        report = objective.run(truth, first=FIRST + t, keep_values=True)
        observed = cells.counts(report.values)[0]
        found = refit(objective, cells, observed, best, args.iterations)
        inside = np.abs(found - truth) <= Z90 * sd
        rows += [
            {"truth": t, "parameter": n, "true": a, "refit": b, "sd": c, "inside": i}
            for n, a, b, c, i in zip(config.names, truth, found, sd, inside, strict=True)
        ]
        print(
            f"truth {t}: {inside.sum()} of {len(inside)} inside "
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    table = pd.DataFrame(rows)
    table["z"] = (table["refit"] - table["true"]) / table["sd"]
    by = table.groupby("parameter", sort=False).agg(
        coverage=("inside", "mean"), z_sd=("z", "std"), z_mean=("z", "mean")
    )
    pd.set_option("display.width", 120)
    print(by.round(2).to_string())
    print(
        f"\noverall coverage of the 5-95 % intervals: {table['inside'].mean():.3f} "
        f"({table['inside'].sum()} of {len(table)}); sd of (refit - truth) / sd: "
        f"{table['z'].std():.2f} (1 if the sd is right)"
    )


if __name__ == "__main__":
    main()
