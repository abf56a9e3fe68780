"""What ``--cluster`` names, and opening it.

- ``none``: this process, tasks one after another (the default);
- ``local``: a Dask ``LocalCluster`` on this machine: one worker per GPU through dask-cuda
  where GPUs are present and dask-cuda is installed (``pip install lis1abm[gpu]``), else
  ``--workers`` CPU worker processes (default: one per core), each with its share of the cores
  as numba threads, so that the workers together do not oversubscribe the machine;
- an address (``tcp://host:8786``, ``host:8786``): a scheduler already running, with its
  workers (started with ``dask scheduler`` and ``dask worker``, or by a batch system);
- ``slurm`` / ``pbs``: dask-jobqueue submits ``--workers`` batch jobs, one Dask worker each
  (with ``--gpus-per-worker 1``: one GPU each; else one single-threaded worker per core),
  for ``--walltime``. A worker retires after its lifetime (``--lifetime``, by default the
  walltime less a margin, staggered so that workers do not all leave at once): the scheduler
  moves its tasks and data to the other workers before it leaves, and the cluster adapts,
  submitting a new job in its place, so a job reaching its walltime loses no task. Queue,
  account, cores and memory come from Dask's configuration (``jobqueue.slurm.*`` in
  ``~/.config/dask/jobqueue.yaml``) when set there.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from lis1abm.distributed.executor import DaskExecutor, Executor
from lis1abm.errors import UserError

KINDS = ("none", "local", "slurm", "pbs")
"""The ``--cluster`` values that are not an address."""
DEFAULT_WALLTIME = "01:00:00"
DEFAULT_CONNECT_TIMEOUT = 10.0
"""Seconds to wait for a scheduler named by its address before giving up."""
JOB_CORES, JOB_MEMORY = 4, "16GB"
"""A batch job's cores and memory when Dask's configuration does not set them."""
_ADDRESS = re.compile(r"([a-z][a-z0-9+]*://)?[\w.\-\[\]:]+:\d+")


@dataclass(frozen=True)
class ClusterSpec:
    """A cluster named on the command line (see the module docstring).

    Attributes
    ----------
    kind : ``none``, ``local``, ``address``, ``slurm`` or ``pbs``.
    address : the scheduler's address (kind ``address``).
    workers : local workers, or batch jobs (one worker each); None: one per core or GPU
        (local), 1 (batch).
    gpus_per_worker : 0 (CPU workers) or 1; None: local GPUs when present, else 0.
    walltime : a batch job's walltime, ``HH:MM:SS``; ``lifetime`` a worker's, seconds.
    connect_timeout : seconds to wait for a scheduler (kind ``address``).
    processes : local CPU workers as processes (False: threads of this process, for tests).
    """

    kind: str
    address: str | None = None
    workers: int | None = None
    gpus_per_worker: int | None = None
    walltime: str = DEFAULT_WALLTIME
    lifetime: int | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    processes: bool = True


def parse_cluster(
    text: str,
    *,
    workers: int | None = None,
    gpus_per_worker: int | None = None,
    walltime: str = DEFAULT_WALLTIME,
    lifetime: str | None = None,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
) -> ClusterSpec:
    """The cluster a ``--cluster`` value and its options name.

    Raises
    ------
    UserError : an unknown value, or an option out of range or that does not apply.
    """
    if text in KINDS:
        kind, address = text, None
    elif _ADDRESS.fullmatch(text):
        kind, address = "address", text
    else:
        raise UserError(
            f"--cluster: unknown value {text!r} (none, local, slurm, pbs, or a scheduler "
            "address such as tcp://host:8786)"
        )
    if workers is not None and workers < 1:
        raise UserError(f"--workers must be at least 1, got {workers}")
    if workers is not None and kind in ("none", "address"):
        raise UserError(f"--workers: does not apply to --cluster {text} (it starts no workers)")
    if gpus_per_worker is not None and gpus_per_worker not in (0, 1):
        raise UserError(
            f"--gpus-per-worker must be 0 or 1 (the cuda engine runs on one GPU; use "
            f"--workers for more GPUs), got {gpus_per_worker}"
        )
    if connect_timeout <= 0:
        raise UserError(f"--connect-timeout must be positive, got {connect_timeout}")
    wall = seconds(walltime, "--walltime")
    life = None if lifetime is None else seconds(lifetime, "--lifetime")
    if life is not None and life >= wall:
        raise UserError(f"--lifetime {lifetime} must be shorter than --walltime {walltime}")
    if life is None and kind in ("slurm", "pbs"):
        worker_lifetime(wall)  # a walltime too short for a lifetime is an error now
    return ClusterSpec(
        kind, address, workers, gpus_per_worker, walltime, life, connect_timeout, True
    )


def seconds(text: str, flag: str) -> int:
    """Seconds in ``[[H:]M:]S`` (``01:00:00``, ``90:00``, ``3600``).

    Raises
    ------
    UserError : another form, or not positive.
    """
    parts = text.split(":")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        raise UserError(f"{flag}: expected HH:MM:SS, got {text!r}")
    total = 0
    for p in parts:
        total = total * 60 + int(p)
    if total <= 0:
        raise UserError(f"{flag}: must be positive, got {text!r}")
    return total


def worker_lifetime(walltime: int) -> tuple[int, int]:
    """A batch worker's lifetime and its stagger, seconds, for a job's ``walltime``: the
    walltime less a margin of a tenth (at least 5 minutes), staggered by a third of the
    margin, so that the last worker still has a third of the margin to hand its tasks over.

    Raises
    ------
    UserError : a walltime under 10 minutes (too short to retire a worker in time).
    """
    margin = max(300, walltime // 10)
    if walltime < 2 * margin:
        raise UserError(f"--walltime: at least 00:10:00 for a worker lifetime, got {walltime} s")
    return walltime - margin, margin // 3


@contextmanager
def open_cluster(
    spec: ClusterSpec, notice: Callable[[str], None] | None = None
) -> Iterator[Executor]:
    """The executor of a cluster, open for the ``with`` block (a local or batch cluster is
    started and then shut down; a scheduler named by address is only connected to).

    Raises
    ------
    UserError : the scheduler cannot be reached (one line naming it).
    """
    if spec.kind == "none":
        yield Executor()
        return
    _quiet_dask()
    from distributed import Client

    if spec.kind == "address":
        try:
            client = Client(spec.address, timeout=spec.connect_timeout)
        except (OSError, TimeoutError) as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else "no answer"
            raise UserError(
                f"--cluster {spec.address}: cannot reach the Dask scheduler at "
                f"{spec.address} within {spec.connect_timeout:g} s ({reason})"
            ) from None
        with client:
            workers = len(client.scheduler_info().get("workers", {})) or 1
            gpu = bool(spec.gpus_per_worker)
            yield DaskExecutor(client, f"scheduler {spec.address}", workers, gpu, None)
        return
    cluster, description, workers, gpu, threads = _start(spec, notice)
    with cluster, Client(cluster) as client:
        yield DaskExecutor(client, description, workers, gpu, threads)


def _quiet_dask() -> None:
    """Dask's own log lines (workers starting and stopping, ports) only when they are errors:
    the command's progress bar and its one-line errors say what the user needs."""
    for name in ("distributed", "dask_jobqueue", "dask_cuda"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _start(spec: ClusterSpec, notice):
    """A local or batch cluster: (cluster, description, workers, gpu, numba threads)."""
    if spec.kind == "local":
        return _local(spec, notice)
    cluster, description, workers, gpu, threads = batch_cluster(spec)
    jobs = spec.workers or 1
    # Adaptive at a fixed size: a job that ends (its walltime, its worker's lifetime) is
    # replaced by a new one; the retiring worker's tasks move to the others first.
    cluster.adapt(minimum_jobs=jobs, maximum_jobs=jobs)
    return cluster, description, workers, gpu, threads


def _local(spec: ClusterSpec, notice):
    from distributed import LocalCluster

    gpus = _local_gpus() if spec.gpus_per_worker != 0 else 0
    if spec.gpus_per_worker == 1 and not gpus:
        raise UserError("--gpus-per-worker 1: no usable GPU here (--cluster local)")
    if gpus:
        try:
            from dask_cuda import LocalCUDACluster
        except ImportError:
            if notice is not None:
                notice(
                    f"{gpus} GPU(s) here but dask-cuda is not installed (pip install "
                    "'lis1abm[gpu]'): CPU workers instead"
                )
        else:
            n = spec.workers or gpus
            cluster = LocalCUDACluster(
                n_workers=n, threads_per_worker=1, dashboard_address=":0", silence_logs=40
            )
            return cluster, f"local: {n} GPU workers (dask-cuda)", n, True, None
    cores = os.cpu_count() or 1
    n = spec.workers or cores
    threads = max(1, cores // n)
    extra = {}
    if spec.processes:
        # Each worker process starts numba's thread pool at this size (the task then sets the
        # same count), so n workers use about the machine's cores, not n times them.
        extra["env"] = {"NUMBA_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    cluster = LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=spec.processes,
        # Any free port: a fixed one (8787) clashes with another cluster on the machine.
        dashboard_address=":0",
        silence_logs=logging.ERROR,
        **extra,
    )
    kind = "processes" if spec.processes else "threads"
    return (
        cluster,
        f"local: {n} CPU workers ({kind}, {threads} numba threads each)",
        n,
        False,
        threads,
    )


def _local_gpus() -> int:
    """GPUs usable here (0 without a driver, without probing further)."""
    from lis1abm.engine.backends import driver_present, gpu_status

    if not driver_present() or not gpu_status()[0]:
        return 0
    from numba import cuda

    return len(cuda.gpus)


def batch_cluster(spec: ClusterSpec):
    """A SLURM or PBS cluster for ``workers`` jobs, none submitted yet (see the module
    docstring): (cluster, description, workers, gpu, numba threads per task)."""
    import dask
    import dask_jobqueue

    wall = seconds(spec.walltime, "--walltime")
    if spec.lifetime is not None:
        life, stagger = spec.lifetime, max(1, min(300, (wall - spec.lifetime) // 3))
    else:
        life, stagger = worker_lifetime(wall)
    section = f"jobqueue.{spec.kind}"
    cores = dask.config.get(f"{section}.cores", None) or JOB_CORES
    memory = dask.config.get(f"{section}.memory", None) or JOB_MEMORY
    kwargs: dict = {
        # The dashboard on any free port unless configured: a login node is shared.
        "scheduler_options": dask.config.get(f"{section}.scheduler-options", None)
        or {"dashboard_address": ":0"},
        "walltime": spec.walltime,
        "memory": memory,
        "worker_extra_args": ["--lifetime", f"{life}s", "--lifetime-stagger", f"{stagger}s"],
    }
    gpu = bool(spec.gpus_per_worker)
    if gpu:
        # One single-threaded worker per job drives the job's GPU; the job's other cores
        # summarise the GPU's counts (the engine's CPU side).
        kwargs |= {"cores": 1, "processes": 1}
        kwargs["job_script_prologue"] = [f"export NUMBA_NUM_THREADS={cores}"]
        if spec.kind == "slurm":
            kwargs |= {"job_cpu": cores, "job_extra_directives": ["--gres=gpu:1"]}
        else:
            kwargs["resource_spec"] = f"select=1:ncpus={cores}:ngpus=1:mem={memory}"
        threads = cores
    else:
        # One single-threaded worker process per core: numba runs one thread per task.
        kwargs |= {"cores": cores, "processes": cores}
        kwargs["job_script_prologue"] = ["export NUMBA_NUM_THREADS=1"]
        threads = 1
    cls = dask_jobqueue.SLURMCluster if spec.kind == "slurm" else dask_jobqueue.PBSCluster
    cluster = cls(**kwargs)
    jobs = spec.workers or 1
    what = "GPU worker" if gpu else f"{cores} CPU workers"
    description = f"{spec.kind}: {jobs} job(s) of {what}, walltime {spec.walltime}"
    return cluster, description, jobs * (1 if gpu else cores), gpu, threads
