"""Which engine runs the cascade: the backend names a user can give, and the one each stands for
here."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

from lis1abm.errors import UserError

BACKENDS = ("auto", "mesa", "cpu", "cuda")
"""Engines that can run the cascade: ``mesa`` (the readable reference), ``cpu`` (numba),
``cuda`` (a GPU), ``auto`` (``cuda`` for large runs when a GPU is usable, else ``cpu``)."""

CUDA_MIN_REPS = 200_000
"""Smallest run, in replications, for which ``auto`` picks the GPU.

The GPU must first load its kernel: on the H100 lent to this project that took 0.8-1.1 s from
the cache and 12-15 s when it compiled (the first run after installing or changing the code);
the block kernel then ran about 290,000 replications/s, the CPU engine about 38,000/s on the
2-core development machine (README, Performance). The GPU finishes first from about 44,000
replications when its kernel is cached and from about 650,000 when it compiles; this
threshold lies between, nearer the cached case, which is the usual one.
"""

_DRIVER_LIBRARIES = ("libcuda.so.1", "libcuda.so", "nvcuda.dll")


def driver_present() -> bool:
    """A cheap look for an NVIDIA driver, before importing numba.cuda or CuPy (which takes
    over a second even without a GPU): a device node, or the driver library loads. Numba's
    CUDA simulator counts as present."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") == "1":
        return True
    if Path("/dev/nvidia0").exists():
        return True
    for name in _DRIVER_LIBRARIES:
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return True
    return False


def gpu_status() -> tuple[bool, str]:
    """Whether the ``cuda`` backend can run here, and the device's name or why not; imports
    the GPU engine only when a driver is there."""
    if not driver_present():
        return False, "no CUDA driver found (no /dev/nvidia0, libcuda cannot be loaded)"
    from lis1abm.engine.cuda import gpu_status as probe

    return probe()


def resolve_backend(backend: str, reps: int) -> tuple[str, str]:
    """The engine a backend name stands for in a run of ``reps`` replications, and a
    description of the device it runs on.

    ``auto`` is ``cpu`` below :data:`CUDA_MIN_REPS` replications without probing for a GPU,
    and ``cuda`` from there on where a GPU is usable.

    Raises
    ------
    UserError : an unknown backend, or ``cuda`` without a usable GPU.
    """
    if backend not in BACKENDS:
        raise UserError(f"--backend: unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
    if backend == "mesa":
        return "mesa", "cpu: 1 thread"
    if backend == "cuda" or (backend == "auto" and reps >= CUDA_MIN_REPS):
        ok, device = gpu_status()
        if ok:
            return "cuda", f"gpu: {device}"
        if backend == "cuda":
            raise UserError(f"--backend cuda: {device}")
    import numba

    threads = numba.get_num_threads()
    return "cpu", f"cpu: {threads} thread{'s' if threads != 1 else ''}"


def gpu_engine(arrays):
    """The GPU engine for a market: the block-per-replication kernel
    (:func:`lis1abm.engine.cuda_block.run_cuda_block`) where a replication's state fits a
    block's shared memory, else the thread-per-replication kernel
    (:func:`lis1abm.engine.cuda.run_cuda`). Both give the same outcome."""
    from lis1abm.engine import cuda_block

    if cuda_block.fits(arrays):
        return cuda_block.run_cuda_block
    from lis1abm.engine.cuda import run_cuda

    return run_cuda


def compile_notice(engine_name: str) -> str | None:
    """What a user should be told before a run that will first compile the engine (numba
    compiles once per version of the code and caches it, see
    :mod:`lis1abm.compiled`), or None when the compiled engine is cached."""
    from lis1abm.compiled import is_cached

    if engine_name == "cpu":
        from lis1abm.engine.cpu import needs_compile

        if needs_compile():
            return (
                "Compiling the CPU engine: once after installing or changing the code, "
                "about 20-40 s on 2 cores..."
            )
    if engine_name == "cuda" and not (is_cached("block_kernel") or is_cached("cascade_kernel")):
        return "Compiling the GPU kernel: once after installing or changing the code, about 15 s..."
    return None
