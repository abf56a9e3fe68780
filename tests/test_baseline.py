"""The stored regression baseline: fixed seeds and replications give exactly the outcomes
stored in ``tests/baseline/autumn2024.json`` (hires per breakdown and group, per ad, the
cascade per replication, who is hired where), on the CPU engine and on the Mesa model.

The baseline is written only by ``scripts/refresh_baseline.py``, which this test also uses
to recompute it, so the two cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

import pytest

from lis1abm.params import load_params

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "refresh_baseline.py"


def load_script():
    """``scripts/refresh_baseline.py`` as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("refresh_baseline", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def flat(tree, path: str = "") -> dict[str, object]:
    """Every leaf of a JSON tree by its path (``seeds[0].cpu.summed.total | all | hired``)."""
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in flat(sub, f"{path}.{key}").items()}
    if isinstance(tree, list):
        return {k: v for i, sub in enumerate(tree) for k, v in flat(sub, f"{path}[{i}]").items()}
    return {path.lstrip("."): tree}


def differences(stored: dict, now: dict, limit: int = 12) -> list[str]:
    """The first ``limit`` leaves that differ, as ``path: stored -> now``."""
    a, b = flat(stored), flat(now)
    keys = [k for k in dict.fromkeys([*a, *b]) if a.get(k, "absent") != b.get(k, "absent")]
    lines = [f"  {k}: {a.get(k, 'absent')} -> {b.get(k, 'absent')}" for k in keys[:limit]]
    if len(keys) > limit:
        lines.append(f"  ... and {len(keys) - limit} more")
    return lines


@pytest.fixture(scope="module")
def script():
    return load_script()


@pytest.fixture(scope="module")
def stored(script):
    return json.loads(script.BASELINE.read_text())


def test_outcomes_equal_the_stored_baseline(script, stored):
    now = script.compute()
    diff = differences({"seeds": stored["seeds"]}, {"seeds": now["seeds"]})
    files = [
        f"the {what} file changed since the baseline was stored"
        for what in ("round", "params")
        if stored[f"{what}_sha256"] != now[f"{what}_sha256"]
    ]
    assert not diff, "\n".join(
        [
            "The simulation outcome changed: the same seeds and replications no longer give the "
            "stored baseline (tests/baseline/autumn2024.json).",
            *files,
            *diff,
            "If (and only if) the change is intended, refreshing the baseline must be a "
            "deliberate act: run `python scripts/refresh_baseline.py` and commit the new "
            "baseline with a message that says why the outcome changed.",
        ]
    )
    # Not vacuous: the baseline holds both engines, both seeds and real hires.
    assert [s["seed"] for s in stored["seeds"]] == list(script.SEEDS)
    for entry in stored["seeds"]:
        assert len(entry["cpu"]["hired_total"]) == len(script.CPU_REPLICATIONS)
        assert len(entry["mesa"]["hired_total"]) == len(script.MESA_REPLICATIONS)
        assert min(entry["cpu"]["hired_total"]) > 500


def test_a_parameter_change_is_caught(script, stored):
    """A small change of one parameter (late marking 2 % -> 3 %) changes the baseline: the
    comparison above would fail."""
    params = load_params()
    late = dataclasses.replace(
        params, behaviour=dataclasses.replace(params.behaviour, late_marking_probability=0.03)
    )
    assert script.compute_seed(script.SEEDS[0], late) != stored["seeds"][0]
    assert script.compute_seed(script.SEEDS[0], params) == stored["seeds"][0]
