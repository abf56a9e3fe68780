"""The two CUDA kernels on the autumn 2024 market: same outcome as the CPU engine, and speed.

Needs a GPU::

    python scripts/gpu_compare.py [--reps N ...]

For each kernel (thread per replication, ``lis1abm.engine.cuda``; block per replication,
``lis1abm.engine.cuda_block``) it prints the time of the first call (compiling the kernel, or
loading it from the cache in a new process), whether every output of 512 full-market
replications with varied parameter rows equals the CPU engine's, and replications per second
for each ``--reps`` (the kernel alone, one timing each; both kernels in the same run, so their
ratio is the figure to compare).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from lis1abm import engine
from lis1abm.data.round import load_round
from lis1abm.engine.cuda import run_cuda
from lis1abm.engine.cuda_block import run_cuda_block
from lis1abm.market.ranking import build_market
from lis1abm.params import load_params
from lis1abm.results.tally import Tally

FIELDS = ("counts", "cascade", "hired_ad", "hired_round", "offers")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, nargs="+", default=[1 << 20, 1 << 21])
    args = parser.parse_args()
    market = build_market(load_round("autumn2024"), load_params(), 2024)
    arrays = engine.flatten(market, Tally(market))
    reps = np.arange(512)
    rows = engine.param_rows(market, len(reps))
    rows[1::3, engine.PARAM_WAIT] = 0
    rows[2::3, engine.PARAM_LATE] = 65536
    keep = {"keep_applicants": True, "keep_offers": True}
    expected = engine.run_cpu(arrays, market.seed, reps, rows, **keep)
    one_row = engine.param_rows(market)
    for name, run in (("thread kernel", run_cuda), ("block kernel", run_cuda_block)):
        start = time.perf_counter()
        got = run(arrays, market.seed, reps, rows, **keep)
        first = time.perf_counter() - start
        same = all(np.array_equal(getattr(got, f), getattr(expected, f)) for f in FIELDS)
        print(f"{name}: first call {first:.2f} s; equals the CPU engine on 512: {same}")
        for n in args.reps:
            start = time.perf_counter()
            run(arrays, market.seed, np.arange(n), one_row)
            seconds = time.perf_counter() - start
            print(f"{name}: {n} replications in {seconds:.2f} s, {n / seconds:,.0f}/s", flush=True)


if __name__ == "__main__":
    main()
