"""The array engine on a CUDA GPU: one thread per replication.

Its job, which the block kernel (:mod:`lis1abm.engine.cuda_block`) cannot do:

* **the CPU engine's own code on the GPU.** The kernel calls
  :func:`lis1abm.engine.kernel.replicate`, the very source the CPU driver runs, compiled for
  the GPU; it is the CPU engine by construction, and the reference that
  ``scripts/gpu_compare.py`` checks the block kernel (rewritten for the GPU, where the
  threads' timing could matter) against on a GPU;
* **any market.** A replication's state lives in global memory, so there is no limit on the
  applicants or ads; the block kernel needs a replication's state to fit one block's shared
  memory (:func:`lis1abm.engine.cuda_block.fits`), and
  :func:`lis1abm.engine.backends.gpu_engine` falls back to this kernel when it does not.

It is slower than the block kernel where both run (about 2.7 times, summarised, on an H200).

Scratch memory is laid out as ``(size, batch)`` so that the threads of a warp, working on
neighbouring replications, touch neighbouring addresses (coalesced access). The kernel takes
a handful of typed tuples (:mod:`lis1abm.engine.layout`), built by :func:`launch_args`, which
the resource report (:mod:`lis1abm.engine.cuda_resources`) calls too. Device arrays are CuPy
arrays on a real GPU; under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, for tests without a
GPU) they are numba's own. The batch size is chosen from the free device memory, and each
batch's tallies are copied back to the host before the next is launched.

Nothing here is imported by ``lis1abm`` unless the ``cuda`` backend is asked for or probed.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from functools import cache, partial

import numpy as np
from numba import cuda, njit

from lis1abm import engine
from lis1abm.compiled import cached
from lis1abm.engine.cpu import Batch
from lis1abm.engine.cuda_summary import DeviceSummary
from lis1abm.engine.kernel import behaviour_of, outputs_of, scratch
from lis1abm.engine.layout import Outputs, ScratchBlocks, behaviour, outputs, scratch_blocks
from lis1abm.outcomes.aggregate import Summary
from lis1abm.rules import CASCADE_FIELDS

THREADS_PER_BLOCK = 128
MEMORY_SHARE = 0.6  # of the free device memory, for one batch
MAX_BATCH = 1 << 20


def simulator() -> bool:
    """Is numba's CUDA simulator on (kernels run on the CPU)?"""
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") == "1"


@cache
def gpu_status() -> tuple[bool, str]:
    """Whether the ``cuda`` backend can run here, and the device's name or why not."""
    if simulator():
        return True, "CUDA simulator (NUMBA_ENABLE_CUDASIM=1)"
    try:
        if not cuda.is_available():
            return False, "no usable CUDA GPU (numba.cuda.is_available() is False)"
        import cupy

        cupy.cuda.runtime.getDeviceCount()
        name = cuda.get_current_device().name
    except ImportError:
        return False, 'CuPy is not installed (pip install -e ".[gpu]")'
    except Exception as error:  # driver or runtime missing or broken
        return False, f"no usable CUDA GPU ({type(error).__name__}: {error})"
    return True, name.decode() if isinstance(name, bytes) else str(name)


# The same source as the CPU driver's, inlined into the kernel (what compile_ptx needs).
_replicate = njit(inline="always")(getattr(engine.replicate, "py_func", engine.replicate))


@njit(inline="always")
def _column(blocks, b):
    """Replication b's scratch: column b of each of a launch's scratch blocks
    (:class:`~lis1abm.engine.layout.ScratchBlocks` with a last axis per replication)."""
    return ScratchBlocks(
        blocks.keys[:, b],
        blocks.segment[:, b],
        blocks.work[:, b],
        blocks.ads[:, :, b],
        blocks.who[:, :, b],
        blocks.offer_app[:, b],
    )


def cascade_kernel(key, reps, m, behaviour, blocks, out):
    """One thread per replication: thread b plays replication ``reps[b]`` with the
    thresholds of column b of ``behaviour`` (:class:`~lis1abm.engine.layout.Behaviour`) on
    the market ``m`` (:class:`~lis1abm.engine.layout.EngineArrays` holding device arrays), in
    column b of the scratch ``blocks`` (:class:`~lis1abm.engine.layout.ScratchBlocks` laid
    out ``(size, batch)``), writing row b of ``out`` (:class:`~lis1abm.engine.layout.Outputs`).
    ``key``: the seed's Philox key (k0, k1). Arguments as :func:`launch_args` builds them."""
    b = cuda.grid(1)
    if b >= reps.shape[0]:
        return
    _replicate(
        key,
        reps[b],
        behaviour_of(behaviour, b),
        m,
        scratch(_column(blocks, b)),
        outputs_of(out, b, b),
    )


def launch_args(dev, market, batch: Batch, blocks: ScratchBlocks, out: Outputs) -> tuple:
    """:func:`cascade_kernel`'s arguments for one launch, in its order: the replications and
    parameter rows of ``batch`` (a :class:`~lis1abm.engine.cpu.Batch`, host arrays) put on
    the device by ``dev`` (:class:`_Device`, or host memory for
    :mod:`lis1abm.engine.cuda_resources`), the ``market`` there, the scratch ``blocks`` and
    the launch's outputs ``out``."""
    return (batch.key, dev.put(batch.reps), market, behaviour(batch.prows, dev.put), blocks, out)


@cache
def _kernel():
    """:func:`cascade_kernel` for ``numba.cuda``, cached on disk between processes by the
    digest of the engine's sources (:mod:`lis1abm.compiled`); under the simulator it is
    not cached (there is no machine code)."""
    if simulator():
        return cuda.jit(cascade_kernel)
    from numba.cuda.core import config

    return cached(partial(cuda.jit), cascade_kernel, config)


class _Device:
    """Device memory: CuPy on a GPU, numba's arrays under the simulator."""

    def __init__(self):
        self.cuda = cuda
        self.cupy = None
        if not simulator():
            import cupy

            self.cupy = cupy

    def zeros(self, shape, dtype):
        if self.cupy is not None:
            return self.cupy.zeros(shape, dtype=dtype)
        return self.cuda.to_device(np.zeros(shape, dtype=dtype))

    def empty(self, shape, dtype):
        if self.cupy is not None:
            return self.cupy.empty(shape, dtype=dtype)
        return self.cuda.device_array(shape, dtype=dtype)

    def put(self, array):
        if self.cupy is not None:
            return self.cupy.asarray(array)
        return self.cuda.to_device(np.ascontiguousarray(array))

    def get(self, array) -> np.ndarray:
        if self.cupy is not None:
            return self.cupy.asnumpy(array)
        return array.copy_to_host()

    def free_bytes(self) -> int:
        if self.cupy is not None:
            return int(self.cupy.cuda.runtime.memGetInfo()[0])
        return 1 << 30  # the simulator: host memory, kept small

    def synchronize(self):
        self.cuda.synchronize()


def device_market(dev: _Device, arrays: engine.EngineArrays) -> engine.EngineArrays:
    """The market with every array on the device (the same NamedTuple type)."""
    return arrays._replace(
        **{f: dev.put(x) for f, x in arrays._asdict().items() if isinstance(x, np.ndarray)}
    )


@contextmanager
def quiet_small_grids():
    """A small batch (a test, a short run) is a small grid, and numba-cuda warns about it;
    the warning is about speed, not results, and the size is the user's choice."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Grid size .* under-utilization")
        yield


class RunOutputs:
    """A run's outputs: host arrays for every replication, filled launch by launch from
    device arrays for the launch's rows (shapes as in :class:`lis1abm.engine.cpu.EngineResult`;
    the outputs not kept are 1-row device dummies). With a ``summary``, the hire counts and
    cascades are counted into it on the device (:class:`DeviceSummary`) and not copied back."""

    def __init__(self, dev: _Device, arrays: engine.EngineArrays, reps, keep, summary=None):
        """``keep``: (keep_applicants, keep_offers); ``summary``: a
        :class:`~lis1abm.outcomes.aggregate.Summary` or None."""
        self.dev, self.reps, self.arrays = dev, reps, arrays
        self.keep_applicants, self.keep_offers = keep
        self.summary = DeviceSummary(dev, summary)
        b = len(reps)
        n, a = arrays.n_applicants, arrays.n_applications
        per_replication = summary is None
        self.counts = np.zeros((b, arrays.n_slots), np.int64) if per_replication else None
        self.cascade = (
            np.zeros((b, arrays.n_rounds, len(CASCADE_FIELDS)), np.int64)
            if per_replication
            else None
        )
        self.hired_ad = np.zeros((b, n), np.int64) if self.keep_applicants else None
        self.hired_round = np.zeros_like(self.hired_ad) if self.keep_applicants else None
        self.offers = np.zeros((b, a), np.int16) if self.keep_offers else None

    def launch(self, rows: int, counts_rows: int | None = None) -> Outputs:
        """Device :class:`~lis1abm.engine.layout.Outputs` for one launch of ``rows``
        replications. ``counts_rows``: rows of counts and cascade (default ``rows``; 1 for a
        kernel that summarises them itself)."""
        counted = rows if counts_rows is None else counts_rows
        keep = (self.keep_applicants, self.keep_offers)
        return outputs(self.arrays, rows, counted, keep, self.dev.zeros)

    def fetch(self, start: int, stop: int, launched: Outputs) -> None:
        """Copy a finished launch's outputs into rows ``start:stop``."""
        if self.counts is not None:
            self.counts[start:stop] = self.dev.get(launched.counts)
            self.cascade[start:stop] = self.dev.get(launched.cascade)
        if self.keep_applicants:
            self.hired_ad[start:stop] = self.dev.get(launched.hired_ad)
            self.hired_round[start:stop] = self.dev.get(launched.hired_round)
        if self.keep_offers:
            self.offers[start:stop] = self.dev.get(launched.offers)

    def result(self) -> engine.EngineResult:
        """The run's result; a summary gets its histogram, copied back once."""
        if self.summary.on:
            self.summary.add_to_summary(len(self.reps))
        return engine.EngineResult(
            self.reps, self.counts, self.cascade, self.hired_ad, self.hired_round, self.offers
        )


def output_bytes(
    arrays: engine.EngineArrays, keep_applicants: bool, keep_offers: bool, counts: bool = True
) -> int:
    """Device memory of one replication's inputs and outputs (bytes): parameter row,
    replication index, hire counts and cascade (unless ``counts`` is False: a kernel that
    summarises them itself), and the per-applicant and per-offer outputs when kept."""
    words = (3 + arrays.n_rounds) + 1  # parameter row and replication index
    if counts:
        words += arrays.n_slots + arrays.n_rounds * len(CASCADE_FIELDS)
    if keep_applicants:
        words += 2 * arrays.n_applicants
    return 8 * words + (2 * arrays.n_applications if keep_offers else 0)


def bytes_per_replication(arrays: engine.EngineArrays, keep_applicants: bool, keep_offers: bool):
    """Device memory one replication of a thread-per-replication batch needs: its scratch
    (a column of each scratch array) and its inputs and outputs (bytes)."""
    scratch = sum(int(np.prod(shape)) for shape in arrays.scratch_shapes())
    return 8 * scratch + output_bytes(arrays, keep_applicants, keep_offers)


def batch_size(arrays: engine.EngineArrays, reps: int, free_bytes: int, **keep) -> int:
    """Replications per launch: as many as fit in MEMORY_SHARE of the free memory."""
    fit = int(MEMORY_SHARE * free_bytes) // bytes_per_replication(arrays, **keep)
    return max(1, min(reps, fit, MAX_BATCH))


def run_cuda(
    arrays: engine.EngineArrays,
    seed: int,
    replications,
    params,
    *,
    batch: int | None = None,
    keep_applicants: bool = False,
    keep_offers: bool = False,
    summary: Summary | None = None,
) -> engine.EngineResult:
    """Play replications on the GPU (same arguments and result as
    :func:`lis1abm.engine.cpu.run_cpu`; a ``summary`` is counted on the device, after each
    launch). ``batch``: replications per launch (default: from the free device memory);
    results do not depend on it."""
    ok, why = gpu_status()
    if not ok:
        raise RuntimeError(why)
    batch_in = engine.check_batch(arrays, seed, replications, params)
    reps = batch_in.reps
    dev = _Device()
    kernel = _kernel()
    keep = {"keep_applicants": keep_applicants, "keep_offers": keep_offers}
    size = batch or batch_size(arrays, len(reps), dev.free_bytes(), **keep)
    market = device_market(dev, arrays)
    if summary is not None:
        engine.check_summary(summary, arrays)
    out = RunOutputs(dev, arrays, reps, (keep_applicants, keep_offers), summary)
    blocks = scratch_blocks(arrays, dev.empty, columns=size)
    for start in range(0, len(reps), size):
        stop = min(start + size, len(reps))
        launched = out.launch(stop - start)
        grid = (stop - start + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
        with quiet_small_grids():  # the summary's kernel too: a thread per replication
            kernel[grid, THREADS_PER_BLOCK](
                *launch_args(dev, market, batch_in.part(start, stop), blocks, launched)
            )
            if out.summary.on:
                out.summary.count(launched.counts, launched.cascade)
        dev.synchronize()
        out.fetch(start, stop, launched)
    return out.result()
