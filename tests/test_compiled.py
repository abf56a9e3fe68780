"""The compiled engine cannot go stale: its disk cache is keyed on the package's sources.

numba alone would reuse a cached driver while ``engine/cpu.py`` keeps its time stamp, even
after an edit of a rule it inlines (the Mesa model then follows the edit and the CPU engine
does not). These tests edit a copy of the package and check that the CPU engine follows.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import lis1abm

PACKAGE = Path(lis1abm.__file__).resolve().parent
REPO = PACKAGE.parent

# Runs in a subprocess on the copy: total hires per replication, CPU engine and Mesa model.
RUN = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import lis1abm
    from lis1abm import engine
    from lis1abm.abm.model import LIS1Model
    from lis1abm.data.round import load_round
    from lis1abm.compiled import cache_dir
    from lis1abm.market.ranking import build_market
    from lis1abm.params import load_params
    from lis1abm.outcomes.tally import Tally

    assert lis1abm.__file__.startswith(sys.argv[1]), lis1abm.__file__
    market = build_market(load_round("autumn2024"), load_params(), 2024)
    reps = np.arange(4)
    out = engine.run_cpu(
        engine.flatten(market, Tally(market)), 2024, reps, engine.param_rows(market),
        keep_applicants=True,
    )
    cpu = [int((row >= 0).sum()) for row in out.hired_ad]
    mesa = [int((LIS1Model(market, r).run().hired_ad >= 0).sum()) for r in reps]
    print(json.dumps({"cpu": cpu, "mesa": mesa, "cache": str(cache_dir())}))
    """
)


def copy_package(root: Path) -> Path:
    """A copy of the package (and the round and parameter files) under ``root``."""
    shutil.copytree(PACKAGE, root / "lis1abm", ignore=shutil.ignore_patterns("__pycache__"))
    if (REPO / "configs").is_dir() and not (root / "lis1abm" / "configs").exists():
        shutil.copytree(REPO / "configs", root / "configs")
    return root / "lis1abm"


def run_copy(root: Path, cache: Path, **env) -> dict:
    environment = dict(os.environ, PYTHONPATH=str(root), NUMBA_CACHE_DIR=str(cache), **env)
    proc = subprocess.run(
        [sys.executable, "-c", RUN, str(root)],
        env=environment,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # two compiles of the CPU engine in fresh processes: about 40-60 s
def test_cpu_engine_follows_an_edited_rule(tmp_path):
    package = copy_package(tmp_path / "src")
    cache = tmp_path / "cache"
    before = run_copy(tmp_path / "src", cache)
    assert before["cpu"] == before["mesa"]

    # Edit one rule that the driver inlines, and only that file: every ad now offers one
    # position fewer. engine/cpu.py keeps its time stamp, which is all numba itself checks.
    rules = package / "rules.py"
    old = "return capacity - hired if capacity > hired else 0"
    text = rules.read_text()
    assert old in text
    rules.write_text(
        text.replace(old, "return capacity - hired - 1 if capacity > hired + 1 else 0")
    )

    after = run_copy(tmp_path / "src", cache)
    assert after["mesa"] != before["mesa"], "the edit should change the Mesa model's outcome"
    assert after["cpu"] == after["mesa"], "the CPU engine ran a stale compiled rule"
    assert after["cache"] != before["cache"]


def test_digest_follows_sources_numba_and_bounds_checking(tmp_path):
    """The cache folder changes with any source file and with NUMBA_BOUNDSCHECK (numba would
    otherwise reuse code compiled without bounds checks)."""
    package = copy_package(tmp_path / "src")
    code = (
        "import lis1abm, sys; assert lis1abm.__file__.startswith(sys.argv[1]);"
        "from lis1abm.compiled import cache_dir; print(cache_dir())"
    )

    def folder(**env) -> str:
        environment = dict(os.environ, PYTHONPATH=str(tmp_path / "src"), **env)
        environment.pop("NUMBA_BOUNDSCHECK", None)
        environment.update(env)
        return subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / "src")],
            env=environment,
            cwd=tmp_path / "src",
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout.strip()

    base = folder()
    assert folder() == base
    assert folder(NUMBA_BOUNDSCHECK="1") != base
    layout = package / "engine" / "layout.py"
    layout.write_text(layout.read_text() + "\n# an edit\n")
    assert folder() != base
