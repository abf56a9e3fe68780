"""Tasks and where they run: in this process, or on a Dask cluster.

A :class:`Task` is a module-level function, the name of a *payload* (a large object every task
of a kind shares: a flattened market, a calibration objective) and small arguments (a
replication range, a candidate). A payload is sent to the cluster once (``Client.scatter``),
not with every task. Each task runs ``function(payload, *args)``; a task that raises is
retried once (Dask's ``retries=1``; in process, once more at once), and a task that fails
twice is reported with its key (:class:`Failure`) while the other tasks still run to the end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from lis1abm.errors import UserError

RETRIES = 1
"""Times a failed task is run again before it is reported."""


@dataclass(frozen=True)
class Task:
    """One unit of work: ``function(shared[payload], *args)`` under the key ``key``."""

    key: str
    function: Callable[..., Any]
    payload: str
    args: tuple = ()


@dataclass(frozen=True)
class Failure:
    """A task that failed on every try: its key and the last error, one line."""

    key: str
    error: str


class TasksFailed(UserError):
    """Tasks failed twice; the others finished. One line naming the keys (the first three)."""

    def __init__(self, failures: list[Failure], total: int, hint: str = ""):
        self.failures = failures
        shown = "; ".join(f"{f.key}: {f.error}" for f in failures[:3])
        more = f"; and {len(failures) - 3} more" if len(failures) > 3 else ""
        super().__init__(
            f"{len(failures)} of {total} tasks failed after {RETRIES} retry: {shown}{more}"
            + (f"; {hint}" if hint else "")
        )


def call(function: Callable[..., Any], payload: Any, args: tuple, threads: int | None) -> Any:
    """Run a task's function, with ``threads`` numba threads when given (numba's thread count
    is per calling thread, so this bounds the task alone: workers sharing a machine's cores do
    not oversubscribe them)."""
    if threads is not None:
        import numba

        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    return function(payload, *args)


def one_line(error: BaseException) -> str:
    """``Type: message``, the message's first line, at most 300 characters."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]


class Executor:
    """Runs tasks in this process, one after another (``--cluster none``).

    Attributes
    ----------
    description : where the tasks run, for the results' provenance.
    workers : how many tasks run at once.
    gpu : whether the workers have a GPU each (the ``auto`` backend is then ``cuda``).
    """

    description = "this process"
    workers = 1
    gpu = False

    def map(
        self,
        tasks: Iterable[Task],
        shared: dict[str, Any],
        on_done: Callable[[Task, Any], None],
        progress: Callable[[int], None] | None = None,
    ) -> list[Failure]:
        """Run ``tasks``; ``on_done(task, result)`` for each as it finishes (in this process,
        in any order), ``progress(1)`` after each. Returns the tasks that failed twice."""
        failures = []
        for task in tasks:
            for attempt in range(RETRIES + 1):
                try:
                    result = call(task.function, shared[task.payload], task.args, None)
                except Exception as error:  # a task's failure is reported, never fatal
                    if attempt == RETRIES:
                        failures.append(Failure(task.key, one_line(error)))
                    continue
                on_done(task, result)
                break
            if progress is not None:
                progress(1)
        return failures


class DaskExecutor(Executor):
    """Runs tasks on a Dask cluster through ``client``, each with ``threads`` numba threads
    (None: the worker's own)."""

    def __init__(self, client, description: str, workers: int, gpu: bool, threads: int | None):
        self.client = client
        self.description = description
        self.workers = workers
        self.gpu = gpu
        self.threads = threads

    def map(self, tasks, shared, on_done, progress=None) -> list[Failure]:
        from distributed import as_completed

        tasks = list(tasks)
        if not tasks:
            return []
        # In a list, so that a payload that is itself a list or dict is sent as one object.
        sent = {
            name: self.client.scatter([shared[name]], hash=False)[0]
            for name in dict.fromkeys(t.payload for t in tasks)
        }
        futures = {
            self.client.submit(
                call,
                t.function,
                sent[t.payload],
                t.args,
                self.threads,
                key=t.key,
                retries=RETRIES,
                pure=False,
            ): t
            for t in tasks
        }
        failures = []
        for future in as_completed(futures):
            task = futures[future]
            if future.status == "error":
                failures.append(Failure(task.key, one_line(future.exception())))
            else:
                on_done(task, future.result())
            future.release()
            if progress is not None:
                progress(1)
        for future in sent.values():
            future.release()
        return failures
