"""The array engine: the offer cascade of many replications in compiled code.

Modules, in the order data flows through them:

* :mod:`~lis1abm.engine.layout`: the market flattened into the kernels' arrays, and the
  per-replication parameter rows;
* :mod:`~lis1abm.engine.kernel`: one replication (:func:`~lis1abm.engine.kernel.replicate`),
  written once and compiled for the CPU and the GPU;
* :mod:`~lis1abm.engine.cpu`: the CPU driver (numba threads);
* :mod:`~lis1abm.engine.cuda`: the GPU driver (numba-cuda, CuPy), imported only when asked for.
"""

from lis1abm.engine.cpu import EngineResult, check_batch, run_cpu
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
    "flatten",
    "param_rows",
    "replicate",
    "run_cpu",
]
