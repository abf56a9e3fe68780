"""The array engine: the offer cascade of many replications in compiled code.

Modules, in the order data flows through them:

* :mod:`~lis1abm.engine.layout`: the kernels' typed arguments (NamedTuples): the market
  flattened into arrays, the behavioural thresholds from the per-replication parameter rows,
  scratch memory, outputs;
* :mod:`~lis1abm.engine.kernel`: one replication (:func:`~lis1abm.engine.kernel.replicate`),
  written once and compiled for the CPU and the GPU;
* :mod:`~lis1abm.engine.cpu`: the CPU driver (numba threads);
* :mod:`~lis1abm.engine.cuda`, :mod:`~lis1abm.engine.cuda_block`: the GPU drivers
  (numba-cuda, CuPy), imported only when asked for; :mod:`~lis1abm.engine.cuda_summary`:
  summaries counted on the GPU.
"""

from lis1abm.engine.cpu import EngineResult, check_batch, check_summary, run_cpu
from lis1abm.engine.kernel import replicate
from lis1abm.engine.layout import (
    INT64_MAX,
    INT64_MIN,
    N_EDUCATION,
    PARAM_LATE,
    PARAM_NO_REPLY,
    PARAM_WAIT,
    PARAM_WITHDRAW,
    EngineArrays,
    flatten,
    param_rows,
)

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "N_EDUCATION",
    "PARAM_LATE",
    "PARAM_NO_REPLY",
    "PARAM_WAIT",
    "PARAM_WITHDRAW",
    "EngineArrays",
    "EngineResult",
    "check_batch",
    "check_summary",
    "flatten",
    "param_rows",
    "replicate",
    "run_cpu",
]
