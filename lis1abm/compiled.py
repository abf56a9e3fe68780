"""Compiled code that cannot go stale: every disk cache of compiled code is keyed on the sources.

numba caches a compiled function on disk and reuses it while the *file that defines it* keeps
its time stamp. The engine's driver inlines code from other files (the behavioural rules, the
random numbers, the kernel), so an edit there would silently run the old machine code, and
``NUMBA_BOUNDSCHECK=1`` would reuse code compiled without bounds checks. Here every cached
function (the engine's drivers and kernels, the summaries in ``results/``) is compiled into a
cache folder named by a digest of everything the compiled code depends on: the source of the
package (every module it inlines or takes constants from), the numba version and the
bounds-checking setting. A change to any of them gives a new
folder, hence a fresh compile. (Folders of earlier versions are left in place: two checkouts
of different versions can then share one cache without recompiling each other's engine.)

The folder lies under ``NUMBA_CACHE_DIR`` when the user set it, else under the user's cache
folder (``$XDG_CACHE_HOME`` or ``~/.cache``)``/lis1abm``, so that an installed package (in a
read-only ``site-packages``) caches too.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from functools import cache, partial, wraps
from pathlib import Path

import numba
from numba import njit

PACKAGE = Path(__file__).resolve().parent


def source_files() -> list[Path]:
    """Every Python file of the package, in a fixed order. The compiled engine inlines the
    rules, the random numbers and the kernel, and freezes module constants (group counts,
    field indices) from wherever they are defined: digesting the whole package (about 40
    small files) cannot miss one, at the cost of a recompile after any code edit."""
    return sorted(PACKAGE.rglob("*.py"), key=lambda path: path.relative_to(PACKAGE).as_posix())


@cache
def source_digest() -> str:
    """A digest (16 hex digits) of what the compiled engine depends on: the path and bytes of
    every source file, the numba version and whether bounds checking is on."""
    h = hashlib.sha256()
    for path in source_files():
        h.update(path.relative_to(PACKAGE).as_posix().encode())
        h.update(path.read_bytes())
    h.update(f"numba={numba.__version__};boundscheck={numba.config.BOUNDSCHECK}".encode())
    return h.hexdigest()[:16]


def cache_root() -> Path:
    """Where compiled engines are cached: ``NUMBA_CACHE_DIR`` if set, else the user's cache
    folder."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lis1abm"


def cache_dir() -> Path:
    """The cache folder of this version of the engine."""
    return cache_root() / f"engine-{source_digest()}"


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


def cached(decorator: Callable, py_func: Callable, config) -> Callable:
    """``decorator(cache=True)(py_func)`` with numba's cache folder set, for the time of the
    decoration, to :func:`cache_dir` (numba picks a function's cache folder when it is
    decorated). ``config`` is the numba config module whose ``CACHE_DIR`` the decorator reads
    (``numba.config`` for the CPU, ``numba.cuda.core.config`` for numba-cuda). Without a
    writable cache folder the function is compiled in every process, uncached."""
    folder = cache_dir()
    if not _writable(folder):
        return decorator(cache=False)(py_func)
    previous = config.CACHE_DIR
    config.CACHE_DIR = str(folder)
    try:
        return decorator(cache=True)(py_func)
    finally:
        config.CACHE_DIR = previous


def is_cached(function_name: str) -> bool:
    """Whether this version of the engine's ``function_name`` has been compiled and cached
    before (numba's index file is in its cache folder)."""
    folder = cache_dir()
    return folder.is_dir() and any(folder.rglob(f"*{function_name}*.nbi"))


def cached_njit(**options) -> Callable:
    """A decorator for a function called from Python: ``njit(**options)``, compiled on first
    call into :func:`cache_dir` (see :func:`cached`). Functions that only compiled code calls
    need no cache of their own: they are compiled into their callers."""

    def decorate(py_func: Callable) -> Callable:
        @cache
        def compiled():
            return cached(partial(njit, **options), py_func, numba.config)

        @wraps(py_func)
        def call(*args):
            return compiled()(*args)

        return call

    return decorate
