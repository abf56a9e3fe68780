"""Where one replication's time goes in the CPU engine (one thread, autumn 2024 market).

Plays the same replications with the calendar cut to 0, 1, 2, ... rounds and prints the time
per replication: with 0 rounds only the ranking keys and every ad's first band are built, so
the differences are the cost of each offer round. Usage: ``python scripts/profile_engine.py``.
"""

from __future__ import annotations

import time

import numpy as np

from lis1abm import engine
from lis1abm.data.round import load_round
from lis1abm.market.ranking import build_market
from lis1abm.outcomes.tally import Tally
from lis1abm.params import load_params

REPS = 3000


def main() -> None:
    market = build_market(load_round("autumn2024"), load_params(), 2024)
    full = engine.flatten(market, Tally(market))
    previous = 0.0
    for n_rounds in range(full.n_rounds + 1):
        arrays = full._replace(n_rounds=n_rounds)
        rows = engine.param_rows(market)[:, : 3 + n_rounds]  # no-reply columns per round
        engine.run_cpu(arrays, 2024, np.arange(16), rows, threads=1)  # warm-up
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            engine.run_cpu(arrays, 2024, np.arange(REPS), rows, threads=1)
            best = min(best, time.perf_counter() - start)
        us = best / REPS * 1e6
        what = "keys and first bands" if n_rounds == 0 else f"+ round {n_rounds}"
        print(f"{n_rounds} rounds: {us:6.1f} us per replication ({what}: {us - previous:+.1f})")
        previous = us


if __name__ == "__main__":
    main()
