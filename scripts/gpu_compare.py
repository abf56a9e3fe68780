"""The two CUDA kernels on the autumn 2024 market: same outcome as the CPU engine, and speed.

Needs a GPU::

    python scripts/gpu_compare.py [--reps N ...] [--tune] [--profile]

For each kernel (thread per replication, ``lis1abm.engine.cuda``; block per replication,
``lis1abm.engine.cuda_block``) it prints the time of the first call (compiling the kernel, or
loading it from the cache in a new process), whether every output of 512 full-market
replications with varied parameter rows equals the CPU engine's, whether the summary counted on
the device equals the CPU engine's, and replications per second for each ``--reps``: the
kernel returning every replication's counts, and the kernel summarising on the device (what
``simulate`` runs). Both kernels run in the same process, so their ratio is the figure to
compare.

``--tune`` then times the block kernel at other launch settings, which do not change any
outcome: threads per block (32-256), first bands of ``factor * capacity + extra`` keys, and the
register cap (each cap other than the default compiles anew, 10-20 s). Its table says which
setting to make the default.

``--profile`` prints where the block kernel's blocks spend their cycles, phase by phase
(:mod:`lis1abm.engine.cuda_profile`): the place to start making it faster.
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np

from lis1abm import engine
from lis1abm.data.round import load_round
from lis1abm.engine import cuda_block
from lis1abm.engine.cuda import run_cuda
from lis1abm.engine.cuda_block import Launch, run_cuda_block
from lis1abm.engine.cuda_profile import N_PHASES, table
from lis1abm.market.ranking import build_market
from lis1abm.outcomes.aggregate import Summary
from lis1abm.outcomes.tally import Tally
from lis1abm.params import load_params

FIELDS = ("counts", "cascade", "hired_ad", "hired_round", "offers")
# 256 threads were slower in every setting on an H200 (2026-12-04); 64 registers may fit 8
# blocks of 128 threads where the shared memory allows it.
TUNE_THREADS = (64, 128)
TUNE_BANDS = ((2, 16), (1, 8), (6, 32))
TUNE_REGISTERS = tuple(dict.fromkeys((cuda_block.MAX_REGISTERS, 128, 96, 64)))


def timed(run, *args, **kwargs) -> float:
    """Seconds of one call of ``run(*args, **kwargs)``."""
    start = time.perf_counter()
    run(*args, **kwargs)
    return time.perf_counter() - start


def check(market, arrays, tally) -> None:
    """First call, equality of every output and of the device summary, for both kernels."""
    reps = np.arange(512)
    rows = engine.param_rows(market, len(reps))
    rows[1::3, engine.PARAM_WAIT] = 0
    rows[2::3, engine.PARAM_LATE] = 65536
    keep = {"keep_applicants": True, "keep_offers": True}
    expected = engine.run_cpu(arrays, market.seed, reps, rows, **keep)
    summary = Summary(tally)
    engine.run_cpu(arrays, market.seed, reps, rows, summary=summary)
    for name, run in (("thread kernel", run_cuda), ("block kernel", run_cuda_block)):
        start = time.perf_counter()
        got = run(arrays, market.seed, reps, rows, **keep)
        first = time.perf_counter() - start
        same = all(np.array_equal(getattr(got, f), getattr(expected, f)) for f in FIELDS)
        on_device = Summary(tally)
        run(arrays, market.seed, reps, rows, summary=on_device)
        same_summary = np.array_equal(on_device.hist, summary.hist)
        print(
            f"{name}: first call {first:.2f} s; equals the CPU engine on 512: {same}; "
            f"device summary equals the CPU engine's: {same_summary}",
            flush=True,
        )


def speeds(market, arrays, tally, sizes) -> None:
    """Replications per second of both kernels, with counts returned and summarised."""
    row = engine.param_rows(market)
    for name, run in (("thread kernel", run_cuda), ("block kernel", run_cuda_block)):
        for n in sizes:
            ids = np.arange(n)
            seconds = timed(run, arrays, market.seed, ids, row)
            print(f"{name}, counts returned: {n} in {seconds:.2f} s, {n / seconds:,.0f}/s")
            seconds = timed(run, arrays, market.seed, ids, row, summary=Summary(tally))
            print(f"{name}, summarised: {n} in {seconds:.2f} s, {n / seconds:,.0f}/s", flush=True)


def tune(market, arrays, tally, n: int) -> None:
    """The block kernel (summarising) at each launch setting; fastest first."""
    row = engine.param_rows(market)
    ids = np.arange(n)
    results = []
    for registers, threads, bands in itertools.product(TUNE_REGISTERS, TUNE_THREADS, TUNE_BANDS):
        settings = {"max_registers": registers, "threads": threads, "bands": bands}
        launch = Launch(**settings)
        # the first call compiles a new register cap
        timed(run_cuda_block, arrays, market.seed, ids[:1024], row, launch=launch)
        seconds = timed(
            run_cuda_block, arrays, market.seed, ids, row, summary=Summary(tally), launch=launch
        )
        results.append((n / seconds, settings))
        print(f"tune: {settings}: {n / seconds:,.0f}/s", flush=True)
    print("tune, fastest first:")
    for per_s, settings in sorted(results, key=lambda r: -r[0]):
        print(f"  {per_s:>12,.0f}/s  {settings}")


def profile(market, arrays, tally, n: int) -> None:
    """Cycles per replication in each phase of the block kernel (summarising), one run."""
    cycles = np.zeros(N_PHASES, np.int64)
    ids = np.arange(n)
    row = engine.param_rows(market)
    launch = Launch(phase_cycles=cycles)
    run_cuda_block(arrays, market.seed, ids, row, summary=Summary(tally), launch=launch)
    print(f"profile: block kernel, {n} replications, cycles per replication by phase:")
    for name, per_replication, share in table(cycles, n):
        print(f"  {name:<12} {per_replication:>14,.0f}  {100 * share:5.1f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, nargs="+", default=[1 << 20, 1 << 21])
    parser.add_argument("--tune", action="store_true", help="time other launch settings")
    parser.add_argument("--tune-reps", type=int, default=1 << 19)
    parser.add_argument("--profile", action="store_true", help="cycles by phase")
    args = parser.parse_args()
    market = build_market(load_round("autumn2024"), load_params(), 2024)
    tally = Tally(market)
    arrays = engine.flatten(market, tally)
    check(market, arrays, tally)
    speeds(market, arrays, tally, args.reps)
    if args.profile:
        profile(market, arrays, tally, args.tune_reps)
    if args.tune:
        tune(market, arrays, tally, args.tune_reps)


if __name__ == "__main__":
    main()
