"""The queue played on the GPU kernels under numba's CUDA simulator (no GPU needed).

Run by ``tests/test_queue.py`` in a subprocess, because the simulator must be switched on
before numba is imported::

    NUMBA_ENABLE_CUDASIM=1 NUMBA_DISABLE_JIT=1 python tests/queue_sim_check.py OUT_DIR

Plays chain ``CHAIN`` of seed ``SEED`` over the base round and three rounds after it (the
short sequence of ``tests/test_queue.py``) with ``play_chain(..., "cuda")`` twice: each
round's cascade on the kernel the GPU engine picks for it (the block-per-replication kernel,
which a round's market fits) and then on the thread-per-replication kernel. Writes each
chain's ``rounds`` and ``people`` tables as pickles (exact dtypes) to
``OUT_DIR/{kernel}_rounds.pkl`` and ``OUT_DIR/{kernel}_people.pkl``, with the kernel's
launches counted in ``OUT_DIR/{kernel}_launches.txt``; the test compares them with the
compiled CPU engine's chain.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

for var in ("NUMBA_ENABLE_CUDASIM", "NUMBA_DISABLE_JIT"):
    if os.environ.get(var) != "1":
        sys.exit(f"queue_sim_check: {var}=1 must be set before numba is imported")
if "numba" in sys.modules:
    sys.exit("queue_sim_check: numba was imported before the simulator was switched on")

from lis1abm.engine import backends  # noqa: E402
from lis1abm.engine.cuda import run_cuda  # noqa: E402
from lis1abm.engine.cuda_block import run_cuda_block  # noqa: E402
from lis1abm.queue import QueueSettings, Sequence, play_chain  # noqa: E402

SEED, CHAIN, ROUNDS = 11, 0, 3  # as tests/test_queue.py's `chain` fixture


def counted(kernel, launches: list):
    """``kernel`` that records each launch in ``launches``."""

    def run(*args, **kwargs):
        launches.append(kernel.__name__)
        return kernel(*args, **kwargs)

    return run


def main() -> int:
    out = Path(sys.argv[1])
    sequence = Sequence.of(QueueSettings(rounds=ROUNDS))
    picked = backends.gpu_engine
    for name, choose in (("picked", picked), ("thread", lambda arrays: run_cuda)):
        launches: list[str] = []
        backends.gpu_engine = lambda arrays, c=choose, seen=launches: counted(c(arrays), seen)
        result = play_chain(sequence, SEED, CHAIN, "cuda")
        result.rounds.to_pickle(out / f"{name}_rounds.pkl")
        result.people.to_pickle(out / f"{name}_people.pkl")
        (out / f"{name}_launches.txt").write_text("\n".join(launches) + "\n")
    backends.gpu_engine = picked
    print(f"queue_sim_check: OK: {ROUNDS + 1} rounds on {run_cuda_block.__name__} and run_cuda")
    return 0


if __name__ == "__main__":
    sys.exit(main())
