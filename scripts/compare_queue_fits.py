"""Compare fitted queue settings on chains no search saw: the objective and the single-round
acceptance's gaps, each candidate on the same chains (docs/queue.md).

A search's best evaluation is the best on its own chains, partly by their luck (common random
numbers make every candidate meet the same draws); this plays each candidate on other chains
of the fitting seed, so that the choice between fit stages is made on the fitting seed, apart
from the check seeds that judge the result.

Each candidate is ``config`` (the ``[queue]`` table of ``configs/experiments/queue.toml``) or a
fit's ``summary.json``: the config with that fit's values, rounded to 3 decimals as the
config holds them.

Usage: ``python scripts/compare_queue_fits.py [--seed 2024] [--chains 24:72] [--workers 2]
CANDIDATE ...``
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor

from lis1abm.calibration.queue_fit import Targets, evaluate, with_values
from lis1abm.data.history import load_history
from lis1abm.experiments.queue_config import load_queue_experiment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candidates", nargs="+", help="'config' or a fit's summary.json")
    parser.add_argument("--seed", type=int, default=2024, help="the fitting seed")
    parser.add_argument("--chains", default="24:72", help="FIRST:END, chains FIRST .. END - 1")
    parser.add_argument("--workers", type=int, default=2, help="processes for the chains")
    args = parser.parse_args()
    first, end = map(int, args.chains.split(":"))
    chains = range(first, end)
    config = load_queue_experiment("queue").settings
    history = load_history()
    targets = Targets.of(config.base_round)
    with ProcessPoolExecutor(args.workers) as pool:
        for candidate in args.candidates:
            started = time.perf_counter()
            values = {}
            if candidate != "config":
                with open(candidate, encoding="utf-8") as file:
                    values = {k: round(v, 3) for k, v in json.load(file)["fitted"].items()}
            candidate_settings = with_values(config, values)
            terms, gaps = evaluate(candidate_settings, targets, args.seed, chains, history, pool)
            seconds = time.perf_counter() - started
            print(f"{candidate}: objective {sum(terms.values()):.1f} on chains {first}-{end - 1}"
                  f" of seed {args.seed} ({seconds:.0f} s)")  # fmt: skip
            for group, gap in gaps.items():
                print(f"  {group}: {gap:+.2f} points")


if __name__ == "__main__":
    main()
