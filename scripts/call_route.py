"""The route of one run through the package's layers: which subpackage calls which.

Runs a command of the command line in this process (default: ``simulate --reps 2 --backend
cpu``) under :func:`sys.setprofile` and records every Python call that crosses from one
subpackage of ``lis1abm`` into another (``cli`` -> ``report``, ``report`` -> ``simulation``,
...). Compiled code is not seen (numba's kernels are one call into the engine). Prints

* every crossing, with how often it happened and whether it goes down the layers of the
  import contract (``pyproject.toml``) or back up (a callback: a caller's function called from
  below);
* the route: the subpackages in the order they are first entered.

Usage: ``python scripts/call_route.py [lis1abm arguments ...]``, e.g. ``python
scripts/call_route.py simulate --reps 2 --backend cpu``. The route of ``simulate`` is described
in ``docs/architecture.md``.
"""

from __future__ import annotations

import sys
import tomllib
from collections import Counter
from pathlib import Path

import lis1abm
from lis1abm.cli.app import app

PACKAGE = Path(lis1abm.__file__).resolve().parent
ROOT = Path(__file__).resolve().parents[1]


def layer_order() -> dict[str, int]:
    """Each subpackage or base module's layer in the import contract, 0 at the top."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    layers = config["tool"]["importlinter"]["contracts"][0]["layers"]
    order = {}
    for depth, line in enumerate(layers):
        for name in line.split("|"):
            order[name.strip().removeprefix("lis1abm.")] = depth
    return order


def part_of(filename: str) -> str | None:
    """The subpackage (or base module) of ``lis1abm`` a source file belongs to, else None."""
    try:
        relative = Path(filename).resolve().relative_to(PACKAGE)
    except ValueError:
        return None
    return relative.parts[0].removesuffix(".py") if relative.parts else None


def trace(argv: list[str]) -> tuple[Counter, list[str]]:
    """Run ``lis1abm argv`` and count the calls from one part of the package into another."""
    crossings: Counter = Counter()
    route: list[str] = []
    cache: dict[str, str | None] = {}

    def part(code) -> str | None:
        name = code.co_filename
        if name not in cache:
            cache[name] = part_of(name)
        return cache[name]

    def profile(frame, event, _arg):
        # Module bodies run on import: loading code is not the run's route.
        if event != "call" or frame.f_back is None or frame.f_code.co_name == "<module>":
            return
        callee = part(frame.f_code)
        if callee is None:
            return
        # The nearest caller inside the package (library frames in between are skipped: a
        # pandas apply calling our lambda still counts as our caller's call).
        back = frame.f_back
        while back is not None and part(back.f_code) is None:
            if back.f_code.co_name == "<module>":
                return  # called while a module is being imported
            back = back.f_back
        caller = None if back is None else part(back.f_code)
        if caller is None or caller == callee:
            return
        crossings[(caller, callee)] += 1
        if callee not in route and callee != "cli":
            route.append(callee)

    sys.setprofile(profile)
    try:
        app(argv, standalone_mode=False)
    finally:
        sys.setprofile(None)
    return crossings, route


def main() -> None:
    argv = sys.argv[1:] or ["simulate", "--reps", "2", "--backend", "cpu"]
    crossings, route = trace(argv)
    order = layer_order()
    print(f"\nlis1abm {' '.join(argv)}: calls from one part of the package into another")
    for (caller, callee), n in sorted(crossings.items(), key=lambda kv: -kv[1]):
        way = "down" if order.get(caller, -1) < order.get(callee, -1) else "UP (callback)"
        print(f"  {caller:>12} -> {callee:<12} {n:>9,}  {way}")
    up = [pair for pair in crossings if order.get(pair[0], -1) >= order.get(pair[1], -1)]
    print("route (first entry of each part): " + " -> ".join(["cli", *route]))
    print(f"calls back up: {len(up)} ({', '.join(f'{a} -> {b}' for a, b in up) or 'none'})")


if __name__ == "__main__":
    main()
