"""The engine under numba's bounds checking, compiled afresh.

The compiled engine indexes its arrays without bounds checks (unsigned indices, no
wraparound), so an index one past the end reads a neighbour's memory silently and may still
give Mesa's answer by luck. Here a small set of engine-versus-Mesa checks runs in a subprocess
with ``NUMBA_BOUNDSCHECK=1`` (every array access checked: an index out of range raises
IndexError) and ``NUMBA_CACHE_DIR`` set to a fresh folder, so that the engine is really
compiled with the checks rather than loaded from a cache compiled without them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKS = [
    "tests/test_engine.py::test_cpu_engine_equals_mesa_on_full_market",
    "tests/test_engine.py::test_cpu_engine_equals_mesa_on_tiny_markets",
    "tests/test_engine.py::test_band_refill_matches_mesa",
    "tests/test_engine.py::test_same_results_for_any_thread_count_and_chunk",
    "tests/test_engine_seeds.py::test_cpu_engine_equals_mesa_across_seeds_and_parameters"
    "[9223372036854775807]",
]


@pytest.mark.slow  # compiles the engine and the rules afresh, with bounds checks: about a minute
def test_engine_equals_mesa_with_bounds_checking(tmp_path):
    env = os.environ | {
        "NUMBA_BOUNDSCHECK": "1",
        "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *CHECKS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert f"{len(CHECKS)} passed" in done.stdout, done.stdout[-2000:]
    # The engine was compiled into the fresh cache, not loaded from the usual one.
    assert any((tmp_path / "numba-cache").rglob("*.nbi"))
