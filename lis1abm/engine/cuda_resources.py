"""What each GPU kernel asks of a multiprocessor, found without a GPU.

Each kernel is compiled to PTX for a compute capability (numba-cuda and NVVM from pip), and
the PTX is assembled into machine code by ptxas inside nvJitLink (``cuda.core.Linker``, also
from pip), whose log gives registers per thread, local memory (register spills and stack) and
barriers. With the dynamic shared memory a launch asks for, the occupancy follows from the
architecture's limits (:data:`HOPPER`), as NVIDIA's occupancy calculator computes it.

The driver assembles the same PTX with its own ptxas when a kernel is loaded; a driver of
another CUDA version may allocate a few registers more or fewer than the figures here.

Used by ``scripts/kernel_resources.py`` (the README's table) and the tests. Needs the
``dev`` or ``gpu`` extra (numba-cuda[cu13]); nothing here runs a kernel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numba
import numpy as np
from numba import types

from lis1abm.engine.cpu import Batch
from lis1abm.engine.cuda_profile import N_PHASES, Profile
from lis1abm.engine.layout import EngineArrays, SummaryArgs, outputs, scratch_blocks
from lis1abm.rng import key
from lis1abm.rules import CASCADE_FIELDS


@dataclass(frozen=True)
class Architecture:
    """A GPU generation's per-multiprocessor limits (CUDA C Programming Guide, "Compute
    Capabilities", and the occupancy calculator's allocation rules)."""

    name: str
    cc: tuple[int, int]
    registers: int  # 32-bit registers per multiprocessor
    register_unit: int  # registers are allocated per warp in units of this many
    max_warps: int  # resident warps per multiprocessor
    max_blocks: int  # resident blocks per multiprocessor
    shared: int  # shared memory per multiprocessor at the largest carve-out (bytes)
    shared_reserved: int  # shared memory the system takes per block (bytes)
    shared_unit: int  # shared memory is allocated per block in units of this many bytes


HOPPER = Architecture(
    name="sm_90 (H100, H200)",
    cc=(9, 0),
    registers=65536,
    register_unit=256,
    max_warps=64,
    max_blocks=32,
    shared=228 * 1024,
    shared_reserved=1024,
    shared_unit=128,
)


@dataclass(frozen=True)
class Resources:
    """One compiled kernel at one launch shape, and its theoretical occupancy."""

    kernel: str
    registers: int  # per thread
    local_bytes: int  # local memory per thread (spills and stack)
    spill_stores: int  # bytes
    spill_loads: int  # bytes
    static_shared: int  # bytes per block
    dynamic_shared: int  # bytes per block, as launched
    threads: int  # per block
    blocks_per_sm: int
    limited_by: str  # what sets blocks_per_sm: "registers", "shared memory", "warps" or "blocks"
    arch: Architecture

    @property
    def warps_per_sm(self) -> int:
        return self.blocks_per_sm * (-(-self.threads // 32))

    @property
    def occupancy(self) -> float:
        """Resident warps over the most a multiprocessor can hold (0-1)."""
        return self.warps_per_sm / self.arch.max_warps

    def line(self) -> str:
        return (
            f"{self.kernel}: {self.registers} registers/thread, {self.local_bytes} B local/thread "
            f"(spills: {self.spill_stores} B stored, {self.spill_loads} B loaded), "
            f"{self.static_shared} B static + {self.dynamic_shared} B dynamic shared/block, "
            f"{self.threads} threads/block: {self.blocks_per_sm} blocks/SM "
            f"(limited by {self.limited_by}), {self.warps_per_sm}/{self.arch.max_warps} warps, "
            f"occupancy {100 * self.occupancy:.0f} %"
        )


def blocks_per_sm(
    registers: int, threads: int, shared_per_block: int, arch: Architecture = HOPPER
) -> tuple[int, str]:
    """Resident blocks per multiprocessor and the limit that sets it.

    registers : per thread; threads : per block; shared_per_block : static + dynamic bytes.
    """
    warps = -(-threads // 32)
    per_warp = -(-registers * 32 // arch.register_unit) * arch.register_unit
    shared = -(-(shared_per_block + arch.shared_reserved) // arch.shared_unit) * arch.shared_unit
    limits = {  # on a tie, the first is named
        "warps": arch.max_warps // warps,
        "blocks": arch.max_blocks,
        "registers": (arch.registers // per_warp) // warps if per_warp else arch.max_blocks,
        "shared memory": arch.shared // shared,
    }
    limited_by = min(limits, key=limits.get)
    return limits[limited_by], limited_by


def assemble(ptx: str, arch: Architecture = HOPPER, max_registers: int | None = None) -> dict:
    """Assemble PTX into machine code with nvJitLink's ptxas (at most ``max_registers`` per
    thread, as the kernel's ``cuda.jit(max_registers=...)`` asks the driver); its figures
    for the (one) kernel, as :func:`parse_link_log` gives them."""
    from cuda.core import Linker, LinkerOptions, ObjectCode

    options = LinkerOptions(
        arch=f"sm_{arch.cc[0]}{arch.cc[1]}", verbose=True, max_register_count=max_registers
    )
    linker = Linker(ObjectCode.from_ptx(ptx.encode()), options=options)
    linker.link("cubin")
    return parse_link_log(linker.get_info_log(), arch)


def parse_link_log(log: str, arch: Architecture = HOPPER) -> dict:
    """registers, local_bytes, spill_stores, spill_loads, static_shared (ints) from
    nvJitLink's verbose log of one kernel; ValueError if a figure is missing.

    local_bytes is ptxas's stack frame: the local memory a thread uses, spills included.

    The linker's summary line (``used N registers, ..., S bytes smem, ..., L bytes lmem``)
    counts in S the block's static shared memory plus, where the kernel uses any shared
    memory, the system's reserved kilobyte, which :func:`blocks_per_sm` adds itself."""

    def number(pattern: str) -> int:
        found = re.search(pattern, log)
        if found is None:
            raise ValueError(f"no {pattern!r} in the linker's log:\n{log}")
        return int(found.group(1))

    summary = r"used \d+ registers.*?"
    return {
        "registers": number(r"used (\d+) registers"),
        "local_bytes": number(r"(\d+) bytes stack frame"),
        "spill_stores": number(r"(\d+) bytes spill stores"),
        "spill_loads": number(r"(\d+) bytes spill loads"),
        "static_shared": max(0, number(summary + r"(\d+) bytes smem") - arch.shared_reserved),
    }


def toolchain() -> str:
    """The compiler versions the figures come from: register counts depend on them (the
    H100 lent to this project held a kernel in at most 102 registers where this module,
    with nvJitLink 13.5, found 128: see the README)."""
    from importlib.metadata import PackageNotFoundError, version

    from cuda.bindings import nvjitlink

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not from pip"

    major, minor = nvjitlink.version()
    return (
        f"numba-cuda {installed('numba-cuda')}, NVVM {installed('nvidia-nvvm')}, "
        f"nvJitLink {major}.{minor}"
    )


def c_signature(args: tuple) -> types.Signature:
    """``void(...)`` of host values standing for a kernel's arguments, arrays as C-contiguous
    (what CuPy and numba's device arrays are)."""

    def c_type(value):
        t = numba.typeof(value)
        return types.Array(t.dtype, t.ndim, "C") if isinstance(t, types.Array) else t

    return types.void(*map(c_type, args))


def compile_ptx(kernel, args: tuple, arch: Architecture = HOPPER) -> str:
    """PTX of ``kernel`` (a Python function) for ``args``' types; no GPU needed."""
    from numba import cuda

    ptx, _ = cuda.compile_ptx(kernel, c_signature(args), cc=arch.cc)
    return ptx


def resources(
    name, kernel, args, threads, dynamic_shared, arch=HOPPER, max_registers=None
) -> Resources:
    """A kernel's :class:`Resources` at ``threads`` per block, ``dynamic_shared`` bytes and
    at most ``max_registers`` registers per thread."""
    figures = assemble(compile_ptx(kernel, args, arch), arch, max_registers)
    shared = figures["static_shared"] + dynamic_shared
    blocks, limited_by = blocks_per_sm(figures["registers"], threads, shared, arch)
    return Resources(
        kernel=name,
        dynamic_shared=dynamic_shared,
        threads=threads,
        blocks_per_sm=blocks,
        limited_by=limited_by,
        arch=arch,
        **figures,
    )


# -- host stand-ins for each kernel's arguments, built as its driver builds them -----------


class HostMemory:
    """Host arrays standing in for device memory, with the interface of the GPU drivers'
    device (:class:`lis1abm.engine.cuda._Device`): the drivers' own builders then make each
    kernel's arguments, so that no argument list is written twice."""

    put = staticmethod(np.ascontiguousarray)
    zeros = staticmethod(np.zeros)
    empty = staticmethod(np.zeros)  # stand-ins are never read, but defined all the same


def stand_in_batch(arrays: EngineArrays, batch: int) -> Batch:
    """A :class:`~lis1abm.engine.cpu.Batch` of ``batch`` replications (their values do not
    matter: only their types)."""
    i64 = np.int64
    return Batch(key(1), np.zeros(batch, i64), np.zeros((batch, 3 + arrays.n_rounds), i64))


def summary_args() -> SummaryArgs:
    """The summary's part of a kernel's arguments, as a GPU driver builds it."""
    from lis1abm.engine.cuda_summary import DeviceSummary

    return DeviceSummary(HostMemory(), None).kernel_args()


def thread_kernel_args(arrays: EngineArrays, batch: int = 2) -> tuple:
    """:func:`lis1abm.engine.cuda.cascade_kernel`'s arguments for a launch of ``batch``
    replications with every output kept (:func:`lis1abm.engine.cuda.launch_args`)."""
    from lis1abm.engine import cuda

    host = HostMemory()
    return cuda.launch_args(
        host,
        arrays,
        stand_in_batch(arrays, batch),
        scratch_blocks(arrays, host.empty, columns=batch),
        outputs(arrays, batch, batch, (True, True), host.zeros),
    )


def block_kernel_args(arrays: EngineArrays, batch: int = 3, blocks: int = 2) -> tuple:
    """:func:`lis1abm.engine.cuda_block.block_kernel`'s arguments for a launch of ``batch``
    replications on ``blocks`` blocks, summarising on the device and profiled
    (:func:`lis1abm.engine.cuda_block.launch_args`)."""
    from lis1abm.engine import cuda_block

    host = HostMemory()
    return cuda_block.launch_args(
        host,
        arrays,
        stand_in_batch(arrays, batch),
        cuda_block.block_scratch(arrays, blocks, host),
        outputs(arrays, batch, 1, (True, True), host.zeros),
        summary_args(),
        Profile(True, host.zeros((blocks, N_PHASES), np.int64)),
    )


def summary_kernel_args(arrays: EngineArrays, batch: int = 2) -> tuple:
    """:func:`lis1abm.engine.cuda_summary.summary_kernel`'s arguments."""
    i64 = np.int64
    cascade = np.zeros((batch, arrays.n_rounds * len(CASCADE_FIELDS)), i64)
    summary = summary_args()
    return (
        np.zeros((batch, arrays.n_slots), i64),
        cascade,
        summary.recipe,
        summary.hist,
        summary.outside,
    )


def all_kernels(arrays: EngineArrays, arch: Architecture = HOPPER) -> list[Resources]:
    """The three GPU kernels as their drivers launch them on this market."""
    from lis1abm.engine import cuda, cuda_block, cuda_summary

    return [
        resources(
            "thread kernel (lis1abm.engine.cuda)",
            cuda.cascade_kernel,
            thread_kernel_args(arrays),
            cuda.THREADS_PER_BLOCK,
            0,
            arch,
        ),
        resources(
            "block kernel (lis1abm.engine.cuda_block)",
            cuda_block.block_kernel,
            block_kernel_args(arrays),
            cuda_block.THREADS,
            cuda_block.shared_bytes(arrays),
            arch,
            cuda_block.MAX_REGISTERS,
        ),
        resources(
            "summary kernel (lis1abm.engine.cuda_summary)",
            cuda_summary.summary_kernel,
            summary_kernel_args(arrays),
            cuda_summary.THREADS,
            0,
            arch,
        ),
    ]
