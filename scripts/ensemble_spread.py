"""How far apart two root seeds' group means lie, by the size of the population ensemble.

For each number of populations K and each root seed, runs what ``lis1abm simulate --reps R
--populations K --seed S --backend cpu --json`` runs (:func:`lis1abm.simulate`, in this
process so that the engine is loaded once) and prints, per K, the largest difference between
two seeds' mean hires of each education and nationality group (the ``rows`` of the JSON), the
largest of them, and the seconds a run took (the first run's compiling or loading of the
engine excluded). docs/ensemble.md records its output.

    python scripts/ensemble_spread.py                       # K 1, 4, 8, 16, 32, 64; seeds 1-5
    python scripts/ensemble_spread.py --populations 1 16 --seeds 1 2 3 --reps 500
"""

from __future__ import annotations

import argparse
import itertools
import time

from lis1abm import simulate
from lis1abm.data.round import GROUPS

BREAKDOWNS = ("education", "nationality")


def group_means(result) -> dict[tuple[str, str], float]:
    """(breakdown, group) -> mean hires of the education and nationality groups."""
    return {
        (r["breakdown"], r["group"]): r["sim_hired_mean"]
        for r in result.rows
        if r["breakdown"] in BREAKDOWNS
    }


def spread(means: list[dict]) -> dict[tuple[str, str], float]:
    """The largest difference between two seeds' means, per group."""
    return {
        key: max(abs(a[key] - b[key]) for a, b in itertools.combinations(means, 2))
        for key in means[0]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--populations", type=int, nargs="+", default=[1, 4, 8, 16, 32, 64])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--reps", type=int, default=2000)
    parser.add_argument("--round", default="autumn2024")
    args = parser.parse_args()
    simulate(args.round, reps=1, seed=0, backend="cpu", populations=1)  # compile or load
    groups = [(b, g) for b in BREAKDOWNS for g in GROUPS]
    header = ["K", *(f"{b[:3]} {g}" for b, g in groups), "max", "s/run"]
    print(f"# {args.reps} replications, seeds {args.seeds}, round {args.round}, backend cpu")
    print("# max difference of mean hires between two seeds, per group")
    print(" | ".join(header))
    for k in args.populations:
        means, seconds = [], []
        for seed in args.seeds:
            start = time.perf_counter()
            result = simulate(args.round, args.reps, seed, "cpu", populations=k)
            seconds.append(time.perf_counter() - start)
            means.append(group_means(result))
        by_group = spread(means)
        cells = [f"{by_group[key]:.2f}" for key in groups]
        worst = max(by_group.values())
        print(" | ".join([str(k), *cells, f"{worst:.2f}", f"{sum(seconds) / len(seconds):.2f}"]))


if __name__ == "__main__":
    main()
