"""Fit the queue's re-application and spring inflow on the back-cast, and check the back-cast on
the figures kept out of the fit (docs/queue.md).

Starts from the ``[queue]`` table of ``configs/experiments/queue.toml``, fits on chains 0 ..
CHAINS - 1 of the fitting seed, then plays the fitted back-cast on CHECK_CHAINS chains of each
check seed (never the fitting seed) and writes, in OUT (default ``results/queue_fit``):

* ``fit.csv``: every evaluation (the settings and the objective's terms);
* ``checks.csv``: per check seed, each kept-out figure: the model's mean over chains, its
  5-95 % band over chains, the report's value, inside or not; for the single-round
  acceptance on the back-cast's last round also the gap in points, its limit and whether it
  is within;
* ``rounds.csv``: the back-cast's rounds (mean over the check chains of every seed), to read
  beside the report's chapter 6;
* ``summary.json``: the settings played on the check seeds; the fitted ones (to copy into
  the config's ``[queue]`` table) and the terms at the best point; the seeds, the command's
  arguments and the time taken.

``--only PREFIX ...`` searches only the settings whose names start so (the others keep the
config's values); ``--check-only`` searches nothing and checks the config's settings as they
are (no ``fit.csv``).

Usage: ``python scripts/fit_queue.py [--seed 2024] [--chains 4] [--evaluations 100]
[--sigma0 0.05] [--only PREFIX ...] [--check-only] [--check-seeds 1 2 3] [--check-chains 40]
[--workers N] [--out results/queue_fit]`` (docs/queue.md gives the commands of the adopted
fit and their times).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from lis1abm.calibration.queue_fit import (
    FITTED,
    Targets,
    backcast_chains,
    checks,
    fit,
    mean_rounds,
    round_table,
)
from lis1abm.data.history import load_history
from lis1abm.experiments.queue_config import load_queue_experiment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2024, help="the fitting seed")
    parser.add_argument("--chains", type=int, default=4, help="chains per evaluation")
    parser.add_argument("--evaluations", type=int, default=100, help="at most, for the search")
    parser.add_argument("--sigma0", type=float, default=0.05, help="CMA-ES's first step")
    parser.add_argument("--check-seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument(
        "--check-chains", type=int, default=40, help="chains per check seed (the gaps are means)"
    )
    parser.add_argument("--out", type=Path, default=Path("results/queue_fit"))
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="PREFIX",
        help="search only the settings whose names start so (ranking, return_probability, ...)",
    )
    parser.add_argument(
        "--check-only",
        action="store_true",
        help="no search: play the config's settings on the check seeds (checks.csv, rounds.csv)",
    )
    parser.add_argument(
        "--workers", type=int, default=min(4, os.cpu_count() or 1), help="processes for the chains"
    )
    args = parser.parse_args()
    if args.seed in args.check_seeds:
        parser.error("--check-seeds must not include the fitting seed")
    started = time.perf_counter()
    config = load_queue_experiment("queue")
    history = load_history()

    def report(n: int, value: float) -> None:
        print(f"evaluation {n}: objective {value:.2f} ({time.perf_counter() - started:.0f} s)")

    names = [n for n in FITTED if not args.only or n.startswith(tuple(args.only))]
    if not names:
        parser.error(f"--only: no fitted setting starts with {args.only} (known: {list(FITTED)})")
    targets = Targets.of(config.settings.base_round)
    found = None
    if not args.check_only:
        found = fit(config.settings, targets, args.seed, args.chains, args.evaluations, report,
                    args.sigma0, args.workers, names)  # fmt: skip
        print("fitted:", json.dumps(found.values, indent=1))
    settings = config.settings if found is None else found.settings
    rows, rounds = [], []
    chains = range(args.check_chains)
    with ProcessPoolExecutor(args.workers) as pool:
        for seed in args.check_seeds:
            played = backcast_chains(settings, seed, chains, history, pool)
            rows.append(checks(played, history, targets).assign(seed=seed))
            rounds.append(mean_rounds(round_table(played, chains)).assign(seed=seed))
    table = pd.concat(rows, ignore_index=True)
    print(table.to_string(index=False))
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "checks.csv", index=False, float_format="%.6g")
    pd.concat(rounds).to_csv(args.out / "rounds.csv", index=False, float_format="%.6g")
    summary: dict = {"settings": settings.model_dump()}
    if found is not None:
        found.evaluations.to_csv(args.out / "fit.csv", index=False, float_format="%.6g")
        summary |= {
            "fitted": found.values,
            "terms": found.terms,
            "objective": sum(found.terms.values()),
        }
    summary |= {
        "arguments": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "seconds": round(time.perf_counter() - started),
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"written to {args.out}/ in {summary['seconds']} s")


if __name__ == "__main__":
    main()
