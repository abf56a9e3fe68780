"""The architecture contract: each layer of the package imports only the layers below it.

The contract is the ``[tool.importlinter]`` section of ``pyproject.toml`` (a ``layers``
contract: cli > simulation > engine > abm > results > market > params > data > the base
modules rules, rng and errors). ``lint-imports`` checks every import, including those inside
functions and under ``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def lint_imports(cwd: Path, config: Path) -> subprocess.CompletedProcess:
    """Run ``lint-imports`` (installed beside this Python by the ``dev`` extras) in ``cwd``,
    with ``cwd`` first on the import path, so that the ``lis1abm`` found is the one there."""
    exe = Path(sys.executable).with_name("lint-imports")
    if not exe.exists():
        found = shutil.which("lint-imports")
        assert found, "lint-imports is missing: install the dev extras (pip install -e '.[dev]')"
        exe = Path(found)
    env = os.environ | {"PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(exe), "--config", str(config), "--no-cache", "--no-logo"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_layers_contract_is_kept():
    """The package as it is keeps the layers contract."""
    done = lint_imports(ROOT, ROOT / "pyproject.toml")
    assert done.returncode == 0, f"an import breaks the layers contract:\n{done.stdout}"
    assert "1 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "upward"),
    [
        ("data/round.py", "import lis1abm.params.model"),  # data imports parameters
        ("market/ranking.py", "from lis1abm.outcomes import tally"),  # market imports outcomes
        ("rules.py", "from lis1abm import rng"),  # one base module imports another
        # A type hint counts too.
        ("outcomes/events.py", "if TYPE_CHECKING:\n    from lis1abm.abm.model import LIS1Model"),
    ],
)
def test_contract_catches_an_upward_import(tmp_path, module, upward):
    """A copy of the package with one upward import added breaks the contract (so the test
    above can fail), and lint-imports names the offending module."""
    shutil.copytree(ROOT / "lis1abm", tmp_path / "lis1abm", ignore=shutil.ignore_patterns("*.pyc"))
    target = tmp_path / "lis1abm" / module
    text = target.read_text()
    # After the module's own imports (its `from __future__` line must stay first).
    anchor = "from __future__ import annotations\n"
    assert anchor in text
    prelude = "from typing import TYPE_CHECKING\n" if "TYPE_CHECKING" in upward else ""
    target.write_text(text.replace(anchor, anchor + prelude + upward + "\n", 1))
    config = tmp_path / "importlinter.toml"
    section = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    config.write_text(toml_of(section))
    done = lint_imports(tmp_path, config)
    assert done.returncode != 0, f"the upward import in {module} was not caught:\n{done.stdout}"
    assert "BROKEN" in done.stdout
    assert "lis1abm." + module.removesuffix(".py").replace("/", ".") in done.stdout


def toml_of(section: dict) -> str:
    """The ``[tool.importlinter]`` section as TOML (strings and lists of strings only)."""

    def value(v):
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = ["[tool.importlinter]"]
    lines += [f"{k} = {value(v)}" for k, v in section.items() if k != "contracts"]
    for contract in section["contracts"]:
        lines.append("[[tool.importlinter.contracts]]")
        lines += [f"{k} = {value(v)}" for k, v in contract.items()]
    return "\n".join(lines) + "\n"
