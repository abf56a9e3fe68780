"""The CPU engine alone on autumn 2024: replications per second at 1 and 2 threads.

Times ``engine.run_cpu`` (default parameters, seed 2024; 4,000 replications on 1 thread and
8,000 on 2), the median of 5 after a warm-up. To compare two versions of the package on one
machine, run it on each checkout in turn::

    PYTHONPATH=/path/to/checkout-a python scripts/time_cpu_engine.py
    PYTHONPATH=/path/to/checkout-b python scripts/time_cpu_engine.py

(``lis1abm bench`` times every engine of one version, with the summaries and Mesa.)
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from lis1abm import engine
from lis1abm.params import DEFAULT_PARAMS
from lis1abm.simulation.prepare import prepare


def main() -> None:
    run = prepare("autumn2024", DEFAULT_PARAMS, seed=2024)
    engine.run_cpu(run.arrays, run.seed, np.arange(16), run.rows, threads=1)  # compile or load
    for threads, reps in ((1, 4000), (2, 8000)):
        times = []
        for _ in range(5):
            start = time.perf_counter()
            engine.run_cpu(run.arrays, run.seed, np.arange(reps), run.rows, threads=threads)
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        print(
            f"threads={threads}: {reps / median:,.0f} replications/s (median of 5: {median:.3f} s)"
        )


if __name__ == "__main__":
    main()
