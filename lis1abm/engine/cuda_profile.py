"""Where a GPU block spends its cycles: the block kernel's phases, timed on the device.

With ``profile`` on, thread 0 of each block reads the multiprocessor's cycle counter
(``%clock64``) after the barrier that ends each phase and adds the cycles since the last reading
to the phase's total. Every thread waits at those barriers, so a phase's cycles are the block's
time in it, waiting for its slowest thread included. ``scripts/gpu_compare.py --profile``
prints the totals per replication; under the CUDA simulator the counter is the host's
nanosecond clock. Profiling changes no outcome (tested), only adds a few instructions.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

PHASES = (
    "start",  # the applicants' state reset, withdrawals drawn
    "keys",  # every ranking key; each ad's first band appended
    "first bands",  # the first bands ranked
    "offers",  # the ads going down their bands (a thread per ad)
    "refills",  # the block taking paused ads' next bands
    "replies",  # the applicants with offers replying
    "responses",  # the offers' responses counted
    "round end",  # the cascade row closed, best offers cleared
    "tally",  # hires per slot; the summary or the rows written
)
N_PHASES = len(PHASES)
START, KEYS, FIRST_BANDS, OFFERS, REFILLS, REPLIES, RESPONSES, ROUND_END, TALLY = range(N_PHASES)


class Profile(NamedTuple):
    """The block kernel's profiling argument.

    Attributes
    ----------
    on : bool: time the phases.
    cycles : int64 (G, N_PHASES): each block's cycles per phase, added to (a (1, 1) dummy
        when ``on`` is False).
    """

    on: bool
    cycles: np.ndarray


if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") == "1":
    import time

    def clock64():
        """The host's nanosecond clock (the simulator has no cycle counter)."""
        return time.perf_counter_ns()

else:
    from llvmlite import ir
    from numba.cuda import types
    from numba.cuda.extending import intrinsic

    @intrinsic
    def clock64(typingctx):
        """The multiprocessor's cycle counter (PTX ``%clock64``), as int64 (it would take
        146 years at 2 GHz to reach the sign bit)."""

        def codegen(context, builder, signature, args):
            read = ir.InlineAsm(
                ir.FunctionType(ir.IntType(64), []),
                "mov.u64 $0, %clock64;",
                "=l",
                side_effect=True,
            )
            return builder.call(read, [])

        return types.int64(), codegen


def table(cycles: np.ndarray, replications: int) -> list[tuple[str, float, float]]:
    """(phase, cycles per replication, share of the total) for each phase, from the cycles
    summed over blocks (int64 (N_PHASES,))."""
    cycles = np.asarray(cycles, dtype=np.float64)
    total = cycles.sum()
    return [
        (name, cycles[p] / max(replications, 1), cycles[p] / total if total else 0.0)
        for p, name in enumerate(PHASES)
    ]
