"""Scale-out on Dask: work split into tasks with deterministic keys, run in this process or on
a Dask cluster (local, an existing scheduler, SLURM or PBS), each task's result kept as one
Parquet part written atomically, so that an interrupted run started again resumes.

- :mod:`~lis1abm.distributed.cluster`: what ``--cluster`` names, and opening it;
- :mod:`~lis1abm.distributed.executor`: tasks, run in process or on a cluster, retried once;
- :mod:`~lis1abm.distributed.parts`: the parts folder, task keys and the code's digest.

The layer knows nothing of experiments or calibration: they make the tasks (a module-level
function, a payload sent to the workers once, and small arguments) and use it.
"""

from lis1abm.distributed.cluster import ClusterSpec, open_cluster, parse_cluster
from lis1abm.distributed.executor import Executor, Failure, Task, TasksFailed
from lis1abm.distributed.parts import PartStore, code_digest, task_key

__all__ = [
    "ClusterSpec",
    "Executor",
    "Failure",
    "PartStore",
    "Task",
    "TasksFailed",
    "code_digest",
    "open_cluster",
    "parse_cluster",
    "task_key",
]
