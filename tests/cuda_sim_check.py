"""The CUDA kernel against the CPU engine, under numba's CUDA simulator (no GPU needed).

Run by ``tests/test_cuda.py`` in a subprocess, because the simulator must be switched on
before numba is imported::

    NUMBA_ENABLE_CUDASIM=1 NUMBA_DISABLE_JIT=1 python tests/cuda_sim_check.py

Plays a few small hand-made markets with ``run_cpu`` and with ``run_cuda`` (launch sizes 1, 4
and the default) and exits non-zero, naming the first difference, unless every output is
identical: hire counts, cascade, each applicant's ad and round, and every offer. With the
argument ``block`` it checks the block-per-replication kernel (``run_cuda_block``) instead:
blocks of 32 and 64 threads, launches of 4, and first bands of one key (every ad refills).
Either way it also checks the summary counted on the device (``summary=``) against the CPU
engine's, bin for bin, and that a value outside its bins is caught there too; for the block
kernel, that profiling its phases changes no outcome and times every phase that ran.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

for var in ("NUMBA_ENABLE_CUDASIM", "NUMBA_DISABLE_JIT"):
    if os.environ.get(var) != "1":
        sys.exit(f"cuda_sim_check: {var}=1 must be set before numba is imported")
if "numba" in sys.modules:
    sys.exit("cuda_sim_check: numba was imported before the simulator was switched on")

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from test_cascade import tiny_market  # noqa: E402

from lis1abm import engine  # noqa: E402
from lis1abm.engine.cuda import gpu_status, run_cuda, simulator  # noqa: E402
from lis1abm.engine.cuda_block import Launch, run_cuda_block  # noqa: E402
from lis1abm.engine.cuda_profile import N_PHASES, REFILLS  # noqa: E402
from lis1abm.outcomes.aggregate import Summary  # noqa: E402
from lis1abm.rules import CASCADE_FIELDS  # noqa: E402

OUTPUTS = ("replications", "counts", "cascade", "hired_ad", "hired_round", "offers")


def small_markets():
    """Hand-made markets, deterministic from a seeded generator: (name, market) pairs."""
    rng = np.random.default_rng(20241)
    specs = [
        # applicants, ads, capacities (0 included), rounds, late, wait
        (6, 2, [1, 0], 3, 30000, 40000),
        (9, 3, [2, 1, 0], 4, 65536, 20000),
        (12, 4, [1, 3, 0, 2], 6, 15000, 65536),
    ]
    out = []
    for k, (n, j, capacity, rounds, late, wait) in enumerate(specs):
        apply = rng.random((n, j)) < 0.7
        apply[np.arange(n), rng.integers(0, j, n)] = True  # everyone applies somewhere
        market = tiny_market(
            n,
            j,
            apply,
            rng.normal(size=(n, j)),
            rng.random((n, j)) < 0.85,
            capacity,
            seed=int(rng.integers(0, 2**40)),
            rounds=rounds,
            late=late,
            wait=wait,
            calendar=max(1, rounds - 2),  # two rounds after the calendar
        )
        out.append((f"market {k} ({n} applicants, {j} ads)", market))
    # One longer ranked list, gone through band by band (most replies missed): the kernel's
    # band refill (histogram threshold, sorting the next band).
    n, rounds = 40, 12
    market = tiny_market(
        n,
        1,
        np.ones((n, 1), dtype=bool),
        rng.normal(size=(n, 1)),
        np.ones((n, 1), dtype=bool),
        [3],
        seed=77,
        rounds=rounds,
        late=20000,
        wait=20000,
    )
    market = dataclasses.replace(market, no_reply_q16=np.full(rounds, 60000, dtype=np.int64))
    out.append((f"band market ({n} applicants, 1 ad)", market))
    # Two such lists: with short bands the larger ad pauses for its next band while the
    # smaller one still holds keys of its band, which it needs in later rounds.
    market = tiny_market(
        n,
        2,
        np.ones((n, 2), dtype=bool),
        rng.normal(size=(n, 2)),
        np.ones((n, 2), dtype=bool),
        [1, 3],
        seed=78,
        rounds=rounds,
        late=20000,
        wait=20000,
    )
    market = dataclasses.replace(market, no_reply_q16=np.full(rounds, 60000, dtype=np.int64))
    out.append((f"band market ({n} applicants, 2 ads)", market))
    return out


def parameter_rows(market, n: int) -> np.ndarray:
    """The market's row, with every other row changed (no waiting, late marking, more
    withdrawal), so that the kernel must read each replication's own row."""
    rows = engine.param_rows(market, n)
    rows[1::2, engine.PARAM_WAIT] = 0
    rows[1::2, engine.PARAM_LATE] = 65536
    rows[1::2, engine.PARAM_WITHDRAW] = 12000
    return rows


def differences(name: str, expected: engine.EngineResult, got: engine.EngineResult) -> list[str]:
    """What differs between two results (empty if nothing)."""
    problems = []
    for field in OUTPUTS:
        a, b = getattr(expected, field), getattr(got, field)
        if (a is None) != (b is None):
            problems.append(f"{name}: {field} is {'missing' if b is None else 'unexpected'}")
        elif a is not None and (a.shape != b.shape or a.dtype != b.dtype):
            problems.append(f"{name}: {field} {b.dtype}{b.shape} instead of {a.dtype}{a.shape}")
        elif a is not None and not np.array_equal(a, b):
            rows = np.flatnonzero((a != b).reshape(len(a), -1).any(axis=1))
            problems.append(f"{name}: {field} differs in batch rows {rows.tolist()}")
    return problems


def thread_kernel_runs(arrays, market, reps, rows):
    """(name, result) of the thread-per-replication kernel: launches of 1, 4 and the default
    size with every output, and a lean launch of 4."""
    full = {"keep_applicants": True, "keep_offers": True}
    for batch in (1, 4, None):
        yield f"batch={batch}", run_cuda(arrays, market.seed, reps, rows, batch=batch, **full)
    yield "lean, batch=4", run_cuda(arrays, market.seed, reps, rows, batch=4)


def block_kernel_runs(arrays, market, reps, rows, refills_only=False):
    """(name, result) of the block-per-replication kernel: blocks of 64 threads; blocks of
    32 with bands of one key (each ad refills for every candidate); a lean launch of 4 with
    bands of capacity + 1 keys. The last two are perturbed (shared memory poisoned, shares of
    work dealt to other threads). With ``refills_only`` (the band markets, whose lists the
    kernel's own first bands would hold whole), those two alone."""
    full = {"keep_applicants": True, "keep_offers": True}
    args = (arrays, market.seed, reps, rows)
    if not refills_only:
        yield "64 threads", run_cuda_block(*args, launch=Launch(threads=64), **full)
    # 32 threads here: a band of one key is a block-wide refill (with its barriers) for every
    # candidate, and the simulator's barriers cost a Python thread switch per thread. This
    # run and the lean one are perturbed: shared memory poisoned (the simulator's starts
    # zeroed, a GPU's does not), and the shares of the work dealt to other threads.
    perturbed = {"poison": True, "lanes": (13, 7)}
    yield (
        "32 threads, bands of one, perturbed",
        run_cuda_block(*args, launch=Launch(threads=32, bands=(0, 1), **perturbed), **full),
    )
    # Bands of capacity + 1 keys: some ads pause for a band while others still hold keys of
    # theirs (which a refill taken by mistake would skip).
    lean = Launch(batch=4, threads=32, bands=(1, 1), poison=True, lanes=(31, 3))
    yield "lean, batch=4, bands of capacity + 1, perturbed", run_cuda_block(*args, launch=lean)


def small_tally(arrays, *, narrow: bool = False) -> SimpleNamespace:
    """A stand-in for :class:`lis1abm.outcomes.tally.Tally` on a hand-made market (which has
    no round data): every hire-count slot and every cascade count is a value of its own, with
    a constant added to some, and one more value sums them all. Bounds are wide enough for
    any outcome, or, ``narrow``, a single bin at the constant (most values then fall
    outside)."""
    n_sources = arrays.n_slots + arrays.n_rounds * len(CASCADE_FIELDS)
    src = np.concatenate([np.arange(n_sources), np.arange(n_sources)]).astype(np.int64)
    ptr = np.concatenate([np.arange(n_sources + 1), [2 * n_sources]]).astype(np.int64)
    const = (np.arange(n_sources + 1) % 3).astype(np.int64)
    widest = arrays.n_applications + arrays.n_applicants
    hi = const if narrow else const + widest * (ptr[1:] - ptr[:-1])
    return SimpleNamespace(
        n_slots=arrays.n_slots,
        market=SimpleNamespace(n_rounds=arrays.n_rounds),
        value_const=const,
        value_ptr=ptr,
        value_src=src,
        value_hi=hi.astype(np.int64),
    )


def summary_problems(name, run, arrays, market, reps, rows) -> list[str]:
    """A kernel's device summary (``run``; launches of 4: two launches into one histogram)
    against the CPU engine's, and narrow bounds refused."""
    expected = Summary(small_tally(arrays))
    engine.run_cpu(arrays, market.seed, reps, rows, summary=expected)
    problems = []
    got = Summary(small_tally(arrays))
    out = run(arrays, market.seed, reps, rows, batch=4, summary=got)
    if out.counts is not None or out.cascade is not None:
        problems.append(f"{name}, summary: per-replication counts came back with a summary")
    if got.replications != len(reps) or not np.array_equal(got.hist, expected.hist):
        problems.append(f"{name}, summary: the device summary differs from run_cpu's")
    try:
        run(arrays, market.seed, reps, rows, summary=Summary(small_tally(arrays, narrow=True)))
        problems.append(f"{name}, summary: values outside their bins were not caught")
    except RuntimeError as error:
        if "outside the bounds" not in str(error):
            problems.append(f"{name}, summary: unexpected error {error}")
    return problems


def profile_problems(name, arrays, market, reps, rows, expected) -> list[str]:
    """The block kernel profiled (``phase_cycles``): the same outcome, and time in each phase
    that always runs (the simulator's clock is in nanoseconds)."""
    cycles = np.zeros(N_PHASES, np.int64)
    full = {"keep_applicants": True, "keep_offers": True}
    start = time.perf_counter_ns()
    got = run_cuda_block(
        arrays, market.seed, reps, rows, launch=Launch(threads=32, phase_cycles=cycles), **full
    )
    elapsed = time.perf_counter_ns() - start
    problems = differences(f"{name}, profiled", expected, got)
    ran = [p for p in range(N_PHASES) if p != REFILLS]  # bands may never run out
    # Each block's phases follow one another: together they last at most the run times the
    # blocks (the simulator runs 2).
    if (cycles < 0).any() or (cycles[ran] == 0).any() or cycles.sum() > 2 * elapsed:
        problems.append(f"{name}, profiled: phase times {cycles.tolist()} in {elapsed} ns")
    return problems


def block_of_32(*args, batch=None, **kwargs):
    """run_cuda_block with blocks of 32 threads (fewer simulated threads, a faster check),
    taking ``batch`` as :func:`run_cuda` does."""
    return run_cuda_block(*args, launch=Launch(batch=batch, threads=32), **kwargs)


def main() -> int:
    block = sys.argv[1:] == ["block"]
    ok, why = gpu_status()
    if not (simulator() and ok):
        print(f"cuda_sim_check: the CUDA simulator is not available: {why}", file=sys.stderr)
        return 2
    reps = np.array([0, 1, 2, 5, 9, 2**32 - 1], dtype=np.int64)
    problems = []
    runs = 0
    offers = 0
    for name, market in small_markets():
        arrays = engine.flatten(market)
        rows = parameter_rows(market, len(reps))
        full = {"keep_applicants": True, "keep_offers": True}
        expected = engine.run_cpu(arrays, market.seed, reps, rows, **full)
        offers += int(np.count_nonzero(expected.offers))
        if name.startswith("band"):
            made = np.count_nonzero(expected.offers, axis=1).max()
            if made <= arrays.band_size[0]:
                problems.append(f"{name}: {made} offers, never past the first band")
        lean = engine.run_cpu(arrays, market.seed, reps, rows)
        if block:
            played = block_kernel_runs(arrays, market, reps, rows, name.startswith("band"))
        else:
            played = thread_kernel_runs(arrays, market, reps, rows)
        for what, got in played:
            want = lean if what.startswith("lean") else expected
            problems += differences(f"{name}, {what}", want, got)
            runs += 1
        if not block:
            problems += summary_problems(name, run_cuda, arrays, market, reps, rows)
        elif name.startswith("market 1"):  # one market: each block-kernel run takes seconds
            problems += summary_problems(name, block_of_32, arrays, market, reps, rows)
            problems += profile_problems(name, arrays, market, reps, rows, expected)
    if offers == 0:
        problems.append("no offers were made at all: the comparison is vacuous")
    if problems:
        kernel = "run_cuda_block" if block else "run_cuda"
        print(f"cuda_sim_check: {kernel} differs from run_cpu:", file=sys.stderr)
        for line in problems:
            print(f"  {line}", file=sys.stderr)
        return 1
    print(
        f"cuda_sim_check: OK: {runs} {'run_cuda_block' if block else 'run_cuda'} calls "
        f"({len(reps)} replications each, "
        f"{offers} offers per launch size) identical to run_cpu"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
