"""Speed of the engines on the autumn 2024 market, measured in one run.

:func:`run_bench` times the Mesa model, the CPU engine on one thread and on all threads, the
whole :func:`~lis1abm.report.simulate.simulate` path on the CPU engine (``simulate``:
replications summarised as they come, then the comparison and the cascade; the market built
once beforehand, not timed), and the CUDA engine when a GPU is usable, each on the same
market and seed, and reports
replications per second (the median of ``repeats`` timings, after a warm-up that compiles
and loads the kernels) and the ratios between them. The backends are timed in turn (one
timing of each, then the next round), so that a slow spell of a shared machine does not fall
on one backend only. Timings on shared machines are noisy; ratios from the same run are the
figures to compare.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from lis1abm.atomic import replacing
from lis1abm.errors import UserError
from lis1abm.report.provenance import describe

# Relative, so resolved against the current directory when saving: the package folder may be
# site-packages, which is no place for results.
BENCH_DIR = Path("results") / "bench"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        return round(pages * size / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def machine() -> dict:
    """A description of this machine: CPU, cores, memory, GPU, library versions."""
    import numba

    from lis1abm.engine.cuda import gpu_status

    ok, gpu = gpu_status()
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "numba_threads": numba.get_num_threads(),
        "memory_gib": _memory_gib(),
        "gpu": gpu if ok else None,
        "gpu_unavailable_because": None if ok else gpu,
        "numba": numba.__version__,
        "numpy": np.__version__,
    }


def _rates(runs: dict, repeats: int) -> dict:
    """Median replications per second of each ``runs[name] = (run, reps)``: ``repeats`` timed
    calls of ``run(reps)`` each, taken in turn (one of each backend, then again), so that a
    slow spell of a shared machine falls on every backend rather than on one."""
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, (run, reps) in runs.items():
            start = time.perf_counter()
            run(reps)
            seconds[name].append(time.perf_counter() - start)
    rates = {}
    for name, (_, reps) in runs.items():
        median = statistics.median(seconds[name])
        rates[name] = {
            "reps_per_s": reps / median,
            "replications": reps,
            "seconds_median": median,
            "seconds": seconds[name],
        }
    return rates


GPU_BACKENDS = ("cuda", "cuda_thread_kernel", "cuda_block_kernel")
"""Timed on a GPU: ``cuda`` is the ``simulate`` path end to end on the cuda backend (the
kernel it picks, and the summaries); the other two are the kernels alone."""


def run_bench(
    *,
    seed: int = 2024,
    mesa_reps: int = 20,
    cpu_reps: int = 20_000,
    cuda_reps: int = 1 << 20,
    repeats: int = 5,
    backends: tuple[str, ...] = ("mesa", "cpu_1thread", "cpu", "simulate", *GPU_BACKENDS),
) -> dict:
    """Measure the engines. Returns ``{"backends": {name: {...} or None}, "ratios": {...},
    "machine": {...}, "meta": {...}}``; a backend not measured (not asked for, or ``cuda``
    without a GPU) is None. ``simulate`` runs ``cpu_reps`` replications, like ``cpu``; their
    ratio ``simulate_over_engine`` is the share of the engine's rate that a user gets; the GPU
    backends (:data:`GPU_BACKENDS`) run ``cuda_reps`` each."""
    for n, name in ((mesa_reps, "mesa"), (cpu_reps, "cpu"), (cuda_reps, "cuda"), (repeats, "")):
        if n < 1:
            raise UserError(f"--{name + '-' if name else ''}reps must be at least 1, got {n}")
    from lis1abm import engine
    from lis1abm.abm.model import LIS1Model
    from lis1abm.engine.cuda import gpu_status
    from lis1abm.params import DEFAULT_PARAMS
    from lis1abm.report.compare import cascade_summary, compare
    from lis1abm.simulation.prepare import prepare
    from lis1abm.simulation.replications import run_replications

    prepared = prepare("autumn2024", DEFAULT_PARAMS, seed=seed)
    market, tally, arrays, rows = prepared.market, prepared.tally, prepared.arrays, prepared.rows

    def mesa(reps):
        for r in range(reps):
            LIS1Model(market, r, log_events=False, collect=False).run()

    def cpu(threads):
        def run(reps):
            engine.run_cpu(arrays, seed, np.arange(reps), rows, threads=threads)

        return run

    def simulate(reps):
        summary = run_replications("cpu", market, tally, arrays, reps)
        compare(tally, summary)
        cascade_summary(tally, summary)

    import numba

    runs = {}
    extra = {}
    if "mesa" in backends:
        mesa(1)  # warm-up: compiles the behavioural rules
        runs["mesa"] = (mesa, mesa_reps)
    if "cpu_1thread" in backends:
        cpu(1)(64)  # warm-up: compiles (or loads) the CPU kernel
        runs["cpu_1thread"] = (cpu(1), max(1, cpu_reps // 4))
        extra["cpu_1thread"] = {"threads": 1}
    if "cpu" in backends:
        cpu(None)(64)
        runs["cpu"] = (cpu(None), cpu_reps)
        extra["cpu"] = {"threads": numba.get_num_threads()}
    if "simulate" in backends:
        simulate(64)  # warm-up: compiles (or loads) the summarising driver
        runs["simulate"] = (simulate, cpu_reps)
        extra["simulate"] = {
            "threads": numba.get_num_threads(),
            "path": "simulate() on the cpu backend without building the market",
        }
    gpu_backends = [b for b in GPU_BACKENDS if b in backends]
    if gpu_backends and gpu_status()[0]:
        from lis1abm.engine.cuda import run_cuda
        from lis1abm.engine.cuda_block import run_cuda_block

        def kernel(run):
            def timed(reps):
                run(arrays, seed, np.arange(reps), rows)

            return timed

        def simulate_cuda(reps):
            summary = run_replications("cuda", market, tally, arrays, reps)
            compare(tally, summary)
            cascade_summary(tally, summary)

        gpu_runs = {
            "cuda": (simulate_cuda, "simulate() on the cuda backend without building the market"),
            "cuda_thread_kernel": (kernel(run_cuda), "run_cuda: a thread per replication"),
            "cuda_block_kernel": (
                kernel(run_cuda_block),
                "run_cuda_block: a block per replication",
            ),
        }
        for name in gpu_backends:
            run, path = gpu_runs[name]
            run(1024)  # warm-up: compiles (or loads) the kernel
            runs[name] = (run, cuda_reps)
            extra[name] = {"device": gpu_status()[1], "path": path}
    names = ("mesa", "cpu_1thread", "cpu", "simulate", *GPU_BACKENDS)
    results: dict[str, dict | None] = dict.fromkeys(names)
    for name, rate in _rates(runs, repeats).items():
        results[name] = rate | extra.get(name, {})

    def ratio(a, b):
        if results[a] is None or results[b] is None:
            return None
        return results[a]["reps_per_s"] / results[b]["reps_per_s"]

    return {
        "backends": results,
        "ratios": {
            "cpu_over_mesa": ratio("cpu", "mesa"),
            "cpu_over_cpu_1thread": ratio("cpu", "cpu_1thread"),
            "cpu_1thread_over_mesa": ratio("cpu_1thread", "mesa"),
            "simulate_over_engine": ratio("simulate", "cpu"),
            "cuda_over_cpu": ratio("cuda", "cpu"),
            "cuda_over_mesa": ratio("cuda", "mesa"),
            "cuda_block_over_thread_kernel": ratio("cuda_block_kernel", "cuda_thread_kernel"),
        },
        "machine": machine(),
        "meta": describe(
            round="autumn2024",
            seed=seed,
            repeats=repeats,
            timestamp=datetime.now(UTC).isoformat(timespec="seconds"),
        ),
    }


def save(result: dict, folder: Path = BENCH_DIR) -> Path:
    """Write the result as ``bench-<UTC time>-<host>.json`` in ``folder`` (by default
    ``results/bench/`` under the current directory), creating it; returns the path.

    Raises
    ------
    UserError : the folder cannot be created or written.
    """
    try:
        return _write(result, save_folder(folder))
    except OSError as error:
        raise UserError(f"--save-dir: {folder}: cannot save there ({error.strerror})") from None


def save_folder(folder: Path = BENCH_DIR) -> Path:
    """Create ``folder`` for bench records if needed and check that it can be written; call it
    before the timings so that a bad folder fails at once.

    Raises
    ------
    UserError : the folder cannot be created, or is not writable.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"--save-dir: {folder}: cannot create it ({error.strerror})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"--save-dir: {folder}: not writable")
    return folder


def _write(result: dict, folder: Path) -> Path:
    stamp = result["meta"]["timestamp"].replace(":", "").replace("+0000", "Z")
    host = "".join(c if c.isalnum() or c in "-_" else "_" for c in result["machine"]["hostname"])
    path = folder / f"bench-{stamp}-{host or 'host'}.json"
    with replacing(path) as tmp:  # never a half-written file
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    return path
