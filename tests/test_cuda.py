"""The CUDA backend: the kernel under numba's CUDA simulator (in a subprocess), its PTX for an
H100 (sm_90, compiled without a GPU), the batch size, and on a real GPU the full market against
the CPU engine."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numba import cuda, types
from test_cascade import tiny_market

from lis1abm import engine
from lis1abm.engine import cuda as cuda_engine
from lis1abm.engine import cuda_resources, cuda_summary
from lis1abm.outcomes.aggregate import Summary
from lis1abm.outcomes.tally import Tally
from lis1abm.rules import CASCADE_FIELDS

TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def arrays(market):
    return engine.flatten(market, Tally(market))


def _one_cpu() -> None:
    """Keep the child on one CPU: the simulator runs a block's threads as Python threads that
    meet at barriers, and handing the interpreter lock between cores made the block kernel's
    check take 2 min 52 s on the 2-core development machine, against 45 s on one core."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def run_under_simulator(command: list[str], timeout: int, **kwargs) -> subprocess.CompletedProcess:
    """``command`` in a child with numba's CUDA simulator switched on before numba is imported
    (and the JIT off), on one CPU; its output captured as text, never raising on failure."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", NUMBA_DISABLE_JIT="1")
    return subprocess.run(
        command,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        preexec_fn=_one_cpu,
        **kwargs,
    )


def run_sim_check(*args: str, timeout: int) -> str:
    """Run tests/cuda_sim_check.py with the simulator switched on before numba is imported;
    assert it reports OK, and return its output."""
    command = [sys.executable, str(TESTS / "cuda_sim_check.py"), *args]
    proc = run_under_simulator(command, timeout, cwd=TESTS.parent)
    report = f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == 0, report
    assert "cuda_sim_check: OK" in proc.stdout, report
    return proc.stdout


def test_kernel_equals_cpu_engine_under_simulator():
    """tests/cuda_sim_check.py, with the simulator switched on before numba is imported:
    run_cuda (launches of 1, 4 and the default number of replications) gives exactly what
    run_cpu gives on small markets, offers and per-applicant outcomes included."""
    run_sim_check(timeout=300)


@pytest.mark.slow
def test_kernel_compiles_to_sm90_ptx():
    """The kernel, with the types run_cuda launches it with, compiles to PTX for an H100
    (compute capability 9.0) with no GPU here: NVVM comes from pip (numba-cuda[cu13])."""
    rng = np.random.default_rng(3)
    market = tiny_market(
        6,
        2,
        np.ones((6, 2), dtype=bool),
        rng.normal(size=(6, 2)),
        np.ones((6, 2), dtype=bool),
        [1, 2],
        seed=3,
        rounds=3,
        late=1000,
        wait=1000,
    )
    # The arguments come from the driver's own builder (cuda.launch_args), with host arrays.
    args = cuda_resources.thread_kernel_args(engine.flatten(market), batch=2)
    signature = cuda_resources.c_signature(args)
    assert str(signature.args[0]) == "UniTuple(uint64 x 2)"  # the seed's Philox key
    outputs = signature.args[-1]  # a NamedTuple: its offers are int16 codes
    assert outputs.types[outputs.instance_class._fields.index("offers")] == types.Array(
        types.int16, 2, "C"
    )
    ptx, _ = cuda.compile_ptx(cuda_engine.cascade_kernel, signature, cc=(9, 0))
    assert ".target sm_90" in ptx
    assert ".entry" in ptx  # a kernel, not only device functions


def test_summary_kernel_compiles_to_sm90_ptx(arrays):
    """The kernel that counts the thread kernel's replications into a summary compiles for
    an H100, with atomic additions to the histogram."""
    args = cuda_resources.summary_kernel_args(arrays)
    names = list(inspect.signature(cuda_summary.summary_kernel).parameters)
    assert len(args) == len(names), "summary_kernel_args() is out of step with the kernel"
    ptx = cuda_resources.compile_ptx(cuda_summary.summary_kernel, args)
    assert ".target sm_90" in ptx and ".entry" in ptx
    assert "atom.global.add" in ptx


@pytest.mark.gpu
@pytest.mark.slow
def test_gpu_equals_cpu_on_full_market(market, arrays):
    """512 replications of the autumn 2024 market on the GPU (with per-replication parameter
    rows): every output equals the CPU engine's, with the default launch size and with
    launches of 100 replications; the summary counted on the device equals the CPU
    engine's."""
    ok, why = cuda_engine.gpu_status()
    if not ok:
        pytest.skip(why)
    if cuda_engine.simulator():
        pytest.skip(f"{why}: far too slow for the full market")
    reps = np.arange(512)
    rows = engine.param_rows(market, len(reps))
    rows[1::3, engine.PARAM_WAIT] = 0
    rows[2::3, engine.PARAM_LATE] = 65536
    keep = {"keep_applicants": True, "keep_offers": True}
    expected = engine.run_cpu(arrays, market.seed, reps, rows, **keep)
    for batch in (None, 100):
        got = cuda_engine.run_cuda(arrays, market.seed, reps, rows, batch=batch, **keep)
        for field in ("replications", "counts", "cascade", "hired_ad", "hired_round", "offers"):
            np.testing.assert_array_equal(
                getattr(got, field), getattr(expected, field), err_msg=f"{field}, batch={batch}"
            )
    # Without per-applicant outputs, the tallies are the same too.
    lean = cuda_engine.run_cuda(arrays, market.seed, reps, rows, batch=100)
    assert lean.hired_ad is None and lean.offers is None
    np.testing.assert_array_equal(lean.counts, expected.counts)
    np.testing.assert_array_equal(lean.cascade, expected.cascade)
    # Summarised on the device (two launches into one histogram): the CPU engine's summary.
    assert_device_summary_equals_cpu(cuda_engine.run_cuda, market, arrays, reps, rows)


def assert_device_summary_equals_cpu(run, market, arrays, reps, rows) -> None:
    """``run``'s summary counted on the GPU equals run_cpu's, bin for bin."""
    tally = Tally(market)
    expected = Summary(tally)
    engine.run_cpu(arrays, market.seed, reps, rows, summary=expected)
    got = Summary(tally)
    out = run(arrays, market.seed, reps, rows, batch=len(reps) // 2, summary=got)
    assert out.counts is None and out.cascade is None
    assert got.replications == expected.replications == len(reps)
    np.testing.assert_array_equal(got.hist, expected.hist)


# -- batch size ---------------------------------------------------------------------------


@pytest.mark.parametrize("keep_applicants", [False, True])
@pytest.mark.parametrize("keep_offers", [False, True])
def test_batch_size_bounds_and_growth(arrays, keep_applicants, keep_offers):
    """A launch holds at least one replication, never more than asked for, and more of them
    with more free memory; the ones it holds fit in MEMORY_SHARE of the free memory."""
    keep = {"keep_applicants": keep_applicants, "keep_offers": keep_offers}
    per_rep = cuda_engine.bytes_per_replication(arrays, **keep)
    assert per_rep > 8 * len(arrays.ad_app)  # at least the ranking keys
    for reps in (1, 7, 10_000):
        assert cuda_engine.batch_size(arrays, reps, 0, **keep) == 1
        assert cuda_engine.batch_size(arrays, reps, 1 << 50, **keep) == reps
    free = [0, per_rep, 10 * per_rep, 1 << 24, 1 << 28, 1 << 32, 1 << 36]
    sizes = [cuda_engine.batch_size(arrays, 10**6, f, **keep) for f in free]
    assert all(s >= 1 for s in sizes)
    assert sizes == sorted(sizes), sizes
    assert sizes[-1] > sizes[3] > sizes[1], sizes
    for f, s in zip(free, sizes, strict=True):
        if s > 1:
            assert s * per_rep <= cuda_engine.MEMORY_SHARE * f
    # Never more than MAX_BATCH replications per launch.
    assert cuda_engine.batch_size(arrays, 10**9, 1 << 60, **keep) == cuda_engine.MAX_BATCH


def test_bytes_per_replication_counts_kept_outputs(arrays):
    """Keeping per-applicant outcomes costs two int64 per applicant, keeping offers two bytes
    per application, and a kernel that summarises on the device keeps no hire counts or
    cascade; so a launch keeping more holds fewer replications."""
    bpr = cuda_engine.bytes_per_replication
    lean = bpr(arrays, keep_applicants=False, keep_offers=False)
    assert bpr(arrays, keep_applicants=True, keep_offers=False) == lean + 16 * arrays.n_applicants
    assert bpr(arrays, keep_applicants=False, keep_offers=True) == lean + 2 * arrays.n_applications
    counted = 8 * (arrays.n_slots + arrays.n_rounds * len(CASCADE_FIELDS))
    out = cuda_engine.output_bytes
    assert out(arrays, False, False, counts=False) == out(arrays, False, False) - counted
    free = 1 << 30
    small = cuda_engine.batch_size(arrays, 10**6, free, keep_applicants=True, keep_offers=True)
    large = cuda_engine.batch_size(arrays, 10**6, free, keep_applicants=False, keep_offers=False)
    assert small < large
