"""Throughput of an experiment's tasks: ``--cluster local`` against ``--cluster none``.

    python scripts/bench_cluster.py [--reps 8000] [--sizes 10 100 1000 4000] [--workers 2]

One scenario of the autumn 2024 round, its market built once, ``--reps`` replications on the
cpu engine, timed in one run (the least of ``--repeats`` timings each):

- ``none, one piece``: :func:`run_batch` over every replication at once, every core as numba
  threads: the compute time T;
- ``none``, tasks of k: the same replications as tasks of k in this process, each written as
  a Parquet part (``lis1abm experiment --cluster none --task-reps k``);
- ``local``, tasks of k: the same tasks on a Dask ``LocalCluster`` of ``--workers`` worker
  processes with cores / workers numba threads each (``--cluster local``), started and warmed
  up (a worker's first task loads the compiled engine) before the timing; the market goes to
  the workers once, the parts are written here.

Per row: seconds, tasks per second, overhead per task (the seconds beyond T times the tasks
running at once, over the tasks: the worker time a task costs besides its replications), T
over the row's time, and ``size for 5 %``: the replications per task at which that overhead is
5 % of a task's compute on one worker. The cluster's start-up is printed apart (paid once per
run). The figures move with the machine's other load; the ratios, taken in one run, are the
figures to compare.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import tempfile
import time
from pathlib import Path

CONFIG = """
description = "throughput benchmark: one scenario"
replications = {reps}
seed = 2024
backend = "cpu"
breakdowns = ["total", "nationality", "education", "nationality_x_education", "cascade"]

[[scenarios]]
name = "as 2024"
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=8000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000, 4000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="timings each (the least counts)")
    args = parser.parse_args()

    import numba

    from lis1abm.distributed import Executor, PartStore, open_cluster, parse_cluster
    from lis1abm.engine.backends import resolve_backend
    from lis1abm.experiments import load_experiment
    from lis1abm.experiments.runner import prepare_scenario, run_batch
    from lis1abm.experiments.tasks import scenario_tasks

    folder = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    try:
        path = folder / "bench.toml"
        path.write_text(CONFIG.format(reps=args.reps))
        config = load_experiment(path)
        run = prepare_scenario(config, 0, config.seed, resolve_backend("cpu", 1)[0])
        run_batch(run, 0, 50)  # the compiled engine loaded
        cores = os.cpu_count() or 1
        baseline = []  # one-piece timings, taken between the rows (the least counts)

        def one_piece(repeats: int) -> float:
            baseline.append(best(repeats, lambda: run_batch(run, 0, args.reps)))
            return min(baseline)

        compute = one_piece(args.repeats)
        print(
            f"{args.reps:,} replications of one scenario (autumn 2024), cpu engine, {cores} "
            f"cores; the least of {args.repeats} timings each"
        )
        print(
            f"none, one piece ({numba.get_num_threads()} numba threads): {compute:.2f} s "
            f"({args.reps / compute:,.0f} replications/s)"
        )
        rows = []

        def timed(label: str, executor, size: int, parallel: int) -> None:
            one_piece(1)
            tasks = list(scenario_tasks(config, run, args.reps, size))
            shared = {tasks[0].payload: run if label == "none" else run.shipped()}

            def once() -> None:
                store = PartStore(folder / f"parts-{label}-{size}")
                executor.map(tasks, shared, lambda t, table: store.write(t.key, table))
                shutil.rmtree(store.folder)

            seconds = best(args.repeats, once)
            rows.append((label, size, len(tasks), seconds, parallel))

        for size in args.sizes:
            timed("none", Executor(), size, 1)
        spec = dataclasses.replace(parse_cluster("local", workers=args.workers), gpus_per_worker=0)
        start = time.perf_counter()
        with open_cluster(spec) as executor:
            started = time.perf_counter() - start
            warm = time.perf_counter()
            tasks = list(scenario_tasks(config, run, 4 * args.workers, 4))
            executor.map(tasks, {tasks[0].payload: run.shipped()}, lambda t, table: None)
            print(
                f"local: {executor.description}; started in {started:.1f} s, first tasks "
                f"(each worker loading the compiled engine) {time.perf_counter() - warm:.1f} s"
            )
            for size in args.sizes:
                timed("local", executor, size, args.workers)
        compute = min(baseline)
        print(
            f"none, one piece, least of {len(baseline)} timings between the rows: {compute:.2f} s"
        )
        print()
        print(
            f"{'cluster':<8}{'task reps':>10}{'tasks':>8}{'seconds':>9}{'tasks/s':>9}"
            f"{'overhead/task':>15}{'one piece / this':>18}{'size for 5 %':>14}"
        )
        for label, size, tasks, seconds, parallel in rows:
            overhead = max(seconds - compute, 0.0) * parallel / tasks
            # seconds per replication on one worker (all cores for none, its share for local)
            per_rep_worker = compute * (1 if label == "none" else args.workers) / args.reps
            five = overhead / (0.05 * per_rep_worker)
            print(
                f"{label:<8}{size:>10,}{tasks:>8,}{seconds:>9.2f}{tasks / seconds:>9.1f}"
                f"{overhead * 1000:>12.1f} ms{compute / seconds:>18.2f}{five:>14,.0f}"
            )
        by = {(label, size): seconds for label, size, _, seconds, _ in rows}
        print()
        for size in args.sizes:
            ratio = by[("local", size)] / by[("none", size)]
            print(f"tasks of {size:,}: local / none time {ratio:.2f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def best(repeats: int, work) -> float:
    """The least of ``repeats`` timings of ``work()``, seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


if __name__ == "__main__":
    main()
