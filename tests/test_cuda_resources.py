"""Occupancy from a kernel's resources (lis1abm.engine.cuda_resources), against figures of
NVIDIA's occupancy calculator for compute capability 9.0, and the parsing of the linker's log."""

from __future__ import annotations

import pytest

from lis1abm.engine.cuda_resources import HOPPER, blocks_per_sm, parse_link_log

# nvJitLink's verbose log of a 12-register kernel with a 2 KB static shared array and no spills
# (the kernel names shortened).
LOG = """ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function '_Z2k1' for 'sm_90'
ptxas info    : Function properties for _Z2k1
ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 12 registers, used 1 barriers
info    : 0 bytes gmem
info    : Function properties for '_Z2k1':
info    : used 12 registers, used 1 barriers, 0 stack, 3072 bytes smem, 584 bytes cmem[0], 0 bytes lmem
"""  # noqa: E501

SPILLING = LOG.replace(
    "0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads",
    "176 bytes stack frame, 232 bytes spill stores, 1080 bytes spill loads",
)


@pytest.mark.parametrize(
    ("registers", "threads", "shared", "expected"),
    [
        (128, 128, 0, (4, "registers")),  # 4,096 registers a warp: 16 warps
        (140, 128, 34_328, (3, "registers")),  # 144 allocated: 14 warps, 3 blocks of 4
        (64, 128, 34_328, (6, "shared memory")),  # 35,456 B a block (1 KB reserved)
        (32, 256, 48 * 1024, (4, "shared memory")),
        (32, 1024, 0, (2, "warps")),  # 64 warps at most
        (16, 32, 0, (32, "blocks")),  # 32 blocks at most
        (255, 32, 0, (8, "registers")),  # 8,192 registers a warp
    ],
)
def test_blocks_per_sm_as_the_occupancy_calculator(registers, threads, shared, expected):
    assert blocks_per_sm(registers, threads, shared, HOPPER) == expected


def test_link_log_figures():
    """The figures of a real log; static shared memory without the reserved kilobyte."""
    assert parse_link_log(LOG) == {
        "registers": 12,
        "local_bytes": 0,
        "spill_stores": 0,
        "spill_loads": 0,
        "static_shared": 2048,
    }
    spilled = parse_link_log(SPILLING)
    assert (spilled["local_bytes"], spilled["spill_stores"], spilled["spill_loads"]) == (
        176,
        232,
        1080,
    )


def test_a_log_without_figures_is_refused():
    with pytest.raises(ValueError, match="registers"):
        parse_link_log("ptxas info    : 0 bytes gmem")
