"""The offer rounds after the calendar: how many are played, and what they do.

Plays the autumn 2024 market on the CPU engine with up to ``--max`` rounds after the calendar,
at 100 % and 130 % of the capacity (the capacity rule's figures scaled, rounded per ad), and
prints per round after the calendar the share of replications that played it (made offers),
the mean offers and acceptances, and the mean open positions after it; then the last round
with offers (largest over the replications) and the open positions at the end. This is how
the default ``after_calendar_rounds`` of the round files was chosen: enough rounds that no
replication was stopped by the maximum, so positions stay open only where lists ran out.

Usage: ``python scripts/after_calendar.py [--reps N] [--max K] [--seed S]`` (from the
repository root; about a minute for 20,000 replications on 2 cores, most of it compiling).
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from lis1abm import engine
from lis1abm.data.round import MAX_AFTER_CALENDAR, load_round
from lis1abm.params import DEFAULT_PARAMS
from lis1abm.rules import CASCADE_FIELDS
from lis1abm.simulation.prepare import prepare

OFFERS = CASCADE_FIELDS.index("offers")
ACCEPTED = CASCADE_FIELDS.index("accepted")
OPEN = CASCADE_FIELDS.index("open_after")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20000)
    parser.add_argument("--max", type=int, default=MAX_AFTER_CALENDAR)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    data = load_round("autumn2024")
    data = dataclasses.replace(data, after_calendar_rounds=args.max)
    market = prepare(data, DEFAULT_PARAMS, seed=args.seed).market
    n_calendar = market.n_calendar
    for factor in (1.0, 1.3):
        capacity = np.round(market.capacity * factor).astype(np.int64)
        scaled = dataclasses.replace(market, capacity=capacity)
        arrays = engine.flatten(scaled)
        out = engine.run_cpu(arrays, args.seed, np.arange(args.reps), engine.param_rows(scaled))
        casc = out.cascade  # (B, R, F)
        print(f"capacity {factor:.0%}: {int(capacity.sum())} positions, {args.reps} replications")
        print(f"  after round 5: open {casc[:, n_calendar - 1, OPEN].mean():.2f}")
        for r in range(n_calendar, scaled.n_rounds):
            played = casc[:, r, OFFERS] > 0
            if not played.any():
                break
            print(
                f"  after {r - n_calendar + 1}: played in {played.mean():7.2%}, offers "
                f"{casc[:, r, OFFERS].mean():6.2f}, accepted {casc[:, r, ACCEPTED].mean():6.2f}, "
                f"open after {casc[:, r, OPEN].mean():6.2f}"
            )
        with_offers = casc[:, :, OFFERS] > 0
        last = scaled.n_rounds - np.argmax(with_offers[:, ::-1], axis=1)
        print(
            f"  last round with offers: at most {last.max()} (after {last.max() - n_calendar}); "
            f"open at the end: mean {casc[:, -1, OPEN].mean():.2f}, "
            f"max {casc[:, -1, OPEN].max()}, "
            f"replications with open positions {np.mean(casc[:, -1, OPEN] > 0):.2%}"
        )


if __name__ == "__main__":
    main()
