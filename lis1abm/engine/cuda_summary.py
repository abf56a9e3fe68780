"""Replications summarised on the GPU: the exact histograms of
:class:`lis1abm.outcomes.aggregate.Summary`, counted on the device as replications finish.

A run that only needs the summary (what ``simulate``, the experiments and the calibration
ask for) then copies one histogram back per call, about 2.3 MB for autumn 2024, instead of
every replication's 270 hire counts and 13 x 9 cascade counts (3.1 KB a replication: 3.1 GB
a second at a million replications a second, to copy and then summarise on the host).

Every value's bin is incremented with an atomic addition. Integer additions commute, so the
histogram does not depend on the order in which blocks, threads or launches get there: it is
the same, bin for bin, as the CPU engine's (:func:`lis1abm.outcomes.aggregate.add_replication`).
"""

from __future__ import annotations

from functools import cache, partial

import numpy as np
from numba import cuda

from lis1abm.compiled import cached
from lis1abm.engine.layout import SummaryArgs
from lis1abm.outcomes.aggregate import Summary
from lis1abm.outcomes.tally import recipe_value

THREADS = 128  # threads per block of summary_kernel


@cuda.jit(device=True, inline="always")
def count_values(first, step, counts, cascade, recipe, hist, outside):
    """Count values ``first, first + step, ...`` of one replication into ``hist``.

    counts : int64 (S,): hires per slot. cascade : int64 (R * F,): the cascade, round by round.
    recipe : :meth:`Summary.kernel_args` on the device (const, ptr, src, lo, width, offset).
    hist : int64 (H,), outside : int64 (1,): incremented atomically (threads and blocks add
    into the same bins)."""
    const, ptr, src, lo, width, offset = recipe
    for k in range(first, const.shape[0], step):
        b = recipe_value(k, counts, cascade, const, ptr, src) - lo[k]
        if 0 <= b < width[k]:
            cuda.atomic.add(hist, offset[k] + b, 1)
        else:
            cuda.atomic.add(outside, 0, 1)


def summary_kernel(counts, cascade, recipe, hist, outside):
    """Count replications already played, a thread each: counts int64 (B, S), cascade int64
    (B, R * F). For the thread-per-replication kernel, which writes these rows anyway."""
    b = cuda.grid(1)
    if b < counts.shape[0]:
        count_values(0, 1, counts[b], cascade[b], recipe, hist, outside)


@cache
def _kernel():
    """:func:`summary_kernel` for ``numba.cuda``, cached on disk like the engine's kernels."""
    from lis1abm.engine.cuda import simulator

    if simulator():
        return cuda.jit(summary_kernel)
    from numba.cuda.core import config

    return cached(partial(cuda.jit), summary_kernel, config)


class DeviceSummary:
    """A :class:`Summary`'s histogram on the device, for one run of a GPU engine.

    ``summary=None`` gives one-element dummies, so that a kernel has the same arguments (and
    one compiled version) whether it summarises or not. ``dev``: the engine's device memory
    (:class:`lis1abm.engine.cuda._Device`)."""

    def __init__(self, dev, summary: Summary | None):
        self.dev, self.summary = dev, summary
        if summary is None:
            recipe = tuple(np.zeros(1, np.int64) for _ in range(6))
            bins = 1
        else:
            recipe, bins = summary.kernel_args(), len(summary.hist)
        self.recipe = tuple(dev.put(x) for x in recipe)
        self.hist = dev.zeros(bins, np.int64)
        self.outside = dev.zeros(1, np.int64)

    @property
    def on(self) -> bool:
        return self.summary is not None

    def kernel_args(self) -> SummaryArgs:
        """What a kernel that summarises takes (:class:`~lis1abm.engine.layout.SummaryArgs`):
        whether to, the recipe, hist, outside."""
        return SummaryArgs(self.on, self.recipe, self.hist, self.outside)

    def count(self, counts, cascade) -> None:
        """Count a launch's replications from their device rows: counts (B, S), cascade
        (B, R, F)."""
        rows = counts.shape[0]
        flat = cascade.reshape(rows, -1)
        blocks = (rows + THREADS - 1) // THREADS
        _kernel()[blocks, THREADS](counts, flat, self.recipe, self.hist, self.outside)

    def add_to_summary(self, replications: int) -> None:
        """Copy the histogram back (once) and add it, of ``replications`` replications, to
        the summary; a value outside its bins raises RuntimeError there."""
        hist = self.dev.get(self.hist)
        outside = int(self.dev.get(self.outside)[0])
        self.summary.add_histogram(hist, replications, outside)
