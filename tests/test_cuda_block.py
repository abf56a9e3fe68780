"""The block-per-replication CUDA kernel: against the CPU engine under numba's CUDA simulator
(in a subprocess), its PTX for an H100 (sm_90, without a GPU), its shared memory, and on a real
GPU the full market against the CPU engine."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from test_cuda import assert_device_summary_equals_cpu, run_sim_check, run_under_simulator

from lis1abm import engine
from lis1abm.cli import main
from lis1abm.engine import cuda_block, cuda_resources
from lis1abm.engine.cuda import gpu_status, simulator
from lis1abm.outcomes.tally import Tally


@pytest.fixture(scope="module")
def arrays(market):
    return engine.flatten(market, Tally(market))


@pytest.mark.slow  # about 60 s: the simulator runs each thread of a block as a Python thread
def test_block_kernel_equals_cpu_engine_under_simulator():
    """tests/cuda_sim_check.py block: every output of run_cuda_block (blocks of 32 and 64
    threads, lean launches, bands of one key so that every ad refills) equals run_cpu's, on
    small markets with per-replication parameter rows."""
    assert "run_cuda_block" in run_sim_check("block", timeout=600)


@pytest.mark.slow
def test_block_kernel_compiles_to_sm90_ptx_within_its_registers(arrays):
    """The kernel, with the argument types run_cuda_block launches it with (the autumn 2024
    market), compiles to PTX for an H100 with no GPU here; nvJitLink's ptxas fits it in
    MAX_REGISTERS registers per thread, so that as many blocks share a multiprocessor as its
    shared memory allows (without the cap ptxas takes about twice as many, and only 3 fit),
    with a spill of a few hundred bytes a thread (scalars, not arrays: under 1 KB)."""
    args = cuda_resources.block_kernel_args(arrays)  # built by cuda_block.launch_args
    ptx = cuda_resources.compile_ptx(cuda_block.block_kernel, args)
    assert ".target sm_90" in ptx and ".entry" in ptx
    assert ".extern .shared" in ptx  # the dynamic shared memory holding the applicants' state
    pytest.importorskip("cuda.core", reason="nvJitLink's ptxas comes with numba-cuda[cu13]")
    got = cuda_resources.assemble(ptx, max_registers=cuda_block.MAX_REGISTERS)
    assert got["registers"] <= cuda_block.MAX_REGISTERS
    assert got["spill_stores"] < 1024 and got["spill_loads"] < 1024, got
    shared = got["static_shared"] + cuda_block.shared_bytes(arrays)
    blocks, limit = cuda_resources.blocks_per_sm(got["registers"], cuda_block.THREADS, shared)
    assert blocks >= 6 and limit in ("shared memory", "registers"), (blocks, limit)


def test_shared_memory_holds_a_replication(arrays):
    """The autumn 2024 market's per-replication state fits a block without opting in to more
    than 48 KB; a market with many more applicants does not, and is refused in one line."""
    words64, words32 = cuda_block.shared_layout(arrays)
    assert cuda_block.shared_bytes(arrays) == 8 * words64 + 4 * words32
    assert cuda_block.fits(arrays)
    big = arrays._replace(n_applied=np.zeros(5000, np.int64))
    assert not cuda_block.fits(big)
    with pytest.raises(ValueError, match="shared memory"):
        cuda_block.run_cuda_block(big, 1, [0], np.zeros((1, 3 + big.n_rounds), np.int64))


@pytest.mark.gpu
@pytest.mark.slow
def test_gpu_block_kernel_equals_cpu_on_full_market(market, arrays):
    """512 replications of the autumn 2024 market on the GPU (with per-replication parameter
    rows), a block each: every output equals the CPU engine's, with the default launch, with
    launches of 100 replications whose shared memory is poisoned and whose shares of work are
    dealt to other threads, and with bands of one key for 16 of them; the summary counted on
    the device equals the CPU engine's."""
    ok, why = gpu_status()
    if not ok:
        pytest.skip(why)
    if simulator():
        pytest.skip(f"{why}: far too slow for the full market")
    reps = np.arange(512)
    rows = engine.param_rows(market, len(reps))
    rows[1::3, engine.PARAM_WAIT] = 0
    rows[2::3, engine.PARAM_LATE] = 65536
    keep = {"keep_applicants": True, "keep_offers": True}
    expected = engine.run_cpu(arrays, market.seed, reps, rows, **keep)
    fields = ("replications", "counts", "cascade", "hired_ad", "hired_round", "offers")
    launches = {
        "default": cuda_block.Launch(),
        "batch 100, perturbed": cuda_block.Launch(batch=100, poison=True, lanes=(37, 11)),
        "64 threads, bands of capacity + 1": cuda_block.Launch(threads=64, bands=(1, 1)),
    }
    for name, launch in launches.items():
        got = cuda_block.run_cuda_block(arrays, market.seed, reps, rows, launch=launch, **keep)
        for field in fields:
            np.testing.assert_array_equal(
                getattr(got, field), getattr(expected, field), err_msg=f"{field}, {name}"
            )
    assert_device_summary_equals_cpu(block_kernel_in_batches, market, arrays, reps, rows)
    few = cuda_block.run_cuda_block(
        arrays, market.seed, reps[:16], rows[:16], launch=cuda_block.Launch(bands=(0, 1)), **keep
    )
    for field in fields:
        np.testing.assert_array_equal(
            getattr(few, field), getattr(expected, field)[:16], err_msg=f"{field}, bands of one"
        )


def block_kernel_in_batches(*args, batch=None, **kwargs):
    """run_cuda_block taking ``batch`` as run_cuda does (for the shared summary check)."""
    return cuda_block.run_cuda_block(*args, launch=cuda_block.Launch(batch=batch), **kwargs)


@pytest.mark.slow  # about 20 s: two full-market replications under the simulator
def test_simulate_on_cuda_under_simulator_equals_cpu(capsys):
    """`lis1abm simulate --backend cuda` (the block kernel summarising on the device, the
    autumn 2024 market and its real tally) prints, under numba's CUDA simulator, the same
    comparison and cascade as on the CPU backend."""
    args = ["simulate", "--reps", "2", "--seed", "11", "--json"]
    done = run_under_simulator(
        [sys.executable, "-m", "lis1abm.cli", *args, "--backend", "cuda"], timeout=600
    )
    assert done.returncode == 0, done.stderr
    on_gpu = json.loads(done.stdout)
    with pytest.raises(SystemExit) as stop:
        main([*args, "--backend", "cpu"])
    assert stop.value.code == 0
    on_cpu = json.loads(capsys.readouterr().out)
    assert on_gpu["backend"] == "cuda" and on_cpu["backend"] == "cpu"
    assert on_gpu["rows"] == on_cpu["rows"]
    assert on_gpu["cascade"] == on_cpu["cascade"]


def test_lanes_must_deal_every_share_once(arrays):
    """A lanes stride sharing a factor with the threads would give some shares of the work
    to two threads and others to none: refused before anything runs."""
    rows = np.zeros((1, 3 + arrays.n_rounds), np.int64)
    launch = cuda_block.Launch(threads=128, lanes=(6, 1))
    with pytest.raises(ValueError, match="stride 6"):
        cuda_block.run_cuda_block(arrays, 1, [0], rows, launch=launch)
