"""Registers, shared and local memory, spills and occupancy of the two CUDA kernels.

Needs a GPU (the figures come from the compiled kernels as the driver loads them)::

    python scripts/kernel_resources.py

Prints, for the thread-per-replication kernel (``lis1abm.engine.cuda``) and the
block-per-replication kernel (``lis1abm.engine.cuda_block``) on the autumn 2024 market:
registers per thread, static and dynamic shared memory per block, local memory per thread
(register spills and stack), resident blocks per multiprocessor and the theoretical occupancy
(resident warps over the device's 64 per multiprocessor).
"""

from __future__ import annotations

import numpy as np

from lis1abm import engine
from lis1abm.data.round import load_round
from lis1abm.engine import cuda as thread_engine
from lis1abm.engine import cuda_block
from lis1abm.market.ranking import build_market
from lis1abm.params import load_params
from lis1abm.results.tally import Tally

WARPS_PER_SM = 64  # Hopper (sm_90): 2,048 threads per multiprocessor


def describe(name: str, dispatcher, threads: int, dynamic_shared: int) -> None:
    from numba import cuda

    sms = cuda.get_current_device().MULTIPROCESSOR_COUNT
    for compiled in dispatcher.overloads.values():
        blocks = compiled.max_cooperative_grid_blocks(threads, dynamic_shared) // sms
        warps = blocks * threads // 32
        print(
            f"{name}: {compiled.get_regs_per_thread()} registers/thread, "
            f"{compiled.get_shared_mem_per_block()} B static + {dynamic_shared} B dynamic "
            f"shared/block, {compiled.get_local_mem_per_thread()} B local/thread, "
            f"{threads} threads/block, {blocks} blocks/SM, occupancy {warps}/{WARPS_PER_SM} "
            f"warps ({100 * warps / WARPS_PER_SM:.0f} %)"
        )


def main() -> None:
    market = build_market(load_round("autumn2024"), load_params(), 2024)
    arrays = engine.flatten(market, Tally(market))
    rows = engine.param_rows(market)
    reps = np.arange(256)
    thread_engine.run_cuda(arrays, market.seed, reps, rows)  # compiles (or loads) each kernel
    cuda_block.run_cuda_block(arrays, market.seed, reps, rows)
    describe("thread kernel", thread_engine._kernel(), thread_engine.THREADS_PER_BLOCK, 0)
    describe(
        "block kernel",
        cuda_block._kernel(),
        cuda_block.THREADS,
        cuda_block.shared_bytes(arrays),
    )


if __name__ == "__main__":
    main()
