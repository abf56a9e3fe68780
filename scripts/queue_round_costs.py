"""Why a queue's chain is a loop over rounds on the host (docs/queue.md, "Engines"): where a
chain's time goes, and how often compiled and NumPy floating-point functions disagree.

1. Profiles one chain of the default queue settings (``--rounds`` rounds after the base round,
   seed 1, chain 1, after one chain to warm the compiled engine) with cProfile and prints the
   share of its time in drawing new applicants, drawing applications, and the cascade
   (flattening the market and the compiled engine).
2. Draws ``--draws`` standard normal values (NumPy generator, seed 1) and counts where numba's
   compiled ``math.tanh``, ``math.exp`` and ``math.log`` (of ``|x| + 0.001``) differ from
   NumPy's ``np.tanh``, ``np.exp`` and ``np.log`` in any bit.

Usage: ``python scripts/queue_round_costs.py [--rounds 6] [--draws 10000000]`` (about 10 s).
"""

from __future__ import annotations

import argparse
import cProfile
import math
import pstats
import time

import numba
import numpy as np

from lis1abm.queue import QueueSettings, Sequence, play_chain

PARTS = {
    "new applicants": "new_applicants",
    "applications": "draw_applications",
    "cascade": "play_market",
}
"""What the profile reports: a label and the function whose cumulative time it is."""


def chain_profile(rounds: int) -> tuple[float, dict[str, float]]:
    """Seconds of one chain, and each of :data:`PARTS`' share of them."""
    sequence = Sequence.of(QueueSettings(rounds=rounds))
    play_chain(sequence, 1, 0)  # compiles or loads the engine
    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.runcall(play_chain, sequence, 1, 1)
    seconds = time.perf_counter() - start
    stats = pstats.Stats(profile).stats
    cumulative = {}
    for (_, _, name), (_, _, _, cum, _) in stats.items():
        cumulative[name] = max(cumulative.get(name, 0.0), cum)
    return seconds, {label: cumulative[name] / seconds for label, name in PARTS.items()}


def _compiled(function):
    @numba.njit
    def each(x):
        out = np.empty_like(x)
        for i in range(x.size):
            out[i] = function(x[i])
        return out

    return each


def disagreements(draws: int) -> dict[str, float]:
    """Share of ``draws`` values where the compiled function and NumPy's differ."""
    x = np.random.default_rng(1).standard_normal(draws)
    positive = np.abs(x) + 1e-3
    pairs = {
        "tanh": (_compiled(math.tanh)(x), np.tanh(x)),
        "exp": (_compiled(math.exp)(x), np.exp(x)),
        "log": (_compiled(math.log)(positive), np.log(positive)),
    }
    return {name: float(np.mean(a != b)) for name, (a, b) in pairs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--draws", type=int, default=10_000_000)
    args = parser.parse_args()
    seconds, shares = chain_profile(args.rounds)
    print(f"one chain of {args.rounds + 1} rounds: {seconds:.2f} s (under cProfile)")
    for label, share in shares.items():
        print(f"  {label}: {share:.0%}")
    print(f"numba against NumPy, {args.draws:,} normal draws (numba {numba.__version__}, "
          f"NumPy {np.__version__}):")  # fmt: skip
    for name, share in disagreements(args.draws).items():
        print(f"  {name}: {share:.1%} differ")


if __name__ == "__main__":
    main()
