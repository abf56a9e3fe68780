"""Registers, local memory (spills), shared memory and theoretical occupancy of the GPU kernels
on an H100 or H200 (sm_90), on the autumn 2024 market. No GPU needed::

    python scripts/kernel_resources.py

The kernels are compiled as their drivers launch them and assembled by nvJitLink's ptxas
(:mod:`lis1abm.engine.cuda_resources`); needs the dev or gpu extra.
"""

from __future__ import annotations

from lis1abm import engine
from lis1abm.data.round import load_round
from lis1abm.engine import cuda_block
from lis1abm.engine.cuda_resources import (
    HOPPER,
    all_kernels,
    block_kernel_args,
    resources,
    toolchain,
)
from lis1abm.market.ranking import build_market
from lis1abm.outcomes.tally import Tally
from lis1abm.params import load_params

TUNE_CAPS = (128, 96, 64)


def main() -> None:
    market = build_market(load_round("autumn2024"), load_params(), 2024)
    arrays = engine.flatten(market, Tally(market))
    print(f"{HOPPER.name}, autumn 2024 market; {toolchain()}:")
    for kernel in all_kernels(arrays):
        print(f"  {kernel.line()}")
    # The block kernel at other register caps (its cap, MAX_REGISTERS, is above): what
    # scripts/gpu_compare.py --tune times.
    print("block kernel at other register caps:")
    args = block_kernel_args(arrays)
    for cap in (None, *TUNE_CAPS):
        kernel = resources(
            f"cap {cap or 'none'}",
            cuda_block.block_kernel,
            args,
            cuda_block.THREADS,
            cuda_block.shared_bytes(arrays),
            max_registers=cap,
        )
        print(f"  {kernel.line()}")


if __name__ == "__main__":
    main()
