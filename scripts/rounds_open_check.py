"""How often one more offer round leaves more positions open, replication by replication
(the calendar alone, rounds 2-6): the per-replication counterpart of the average tested in
tests/test_experiments.py::test_more_rounds_leave_fewer_positions_open_on_average.

Usage (about 30 s on 2 cores)::

    python scripts/rounds_open_check.py [--reps 1000] [--seed 3]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from lis1abm.experiments import load_experiment, run_experiment

CONFIG = """
description = "offer rounds 2-6, the calendar alone"
replications = {reps}
seed = {seed}
backend = "cpu"

[base]
after_calendar_rounds = 0

[[sweeps]]
name = "{{value}} rounds"
vary = "calendar_rounds"
values = [2, 3, 4, 5, 6]
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rounds.toml"
        path.write_text(CONFIG.format(reps=args.reps, seed=args.seed))
        table = run_experiment(load_experiment(path)).table
    unfilled = table[(table["breakdown"] == "cascade") & (table["metric"] == "unfilled")]
    wide = unfilled.pivot_table(
        index="replication", columns="scenario", values="value", observed=True
    )
    steps = np.diff(wide[[f"{n} rounds" for n in range(2, 7)]].to_numpy(), axis=1)
    print(
        f"{args.reps} replications, seed {args.seed}: {(steps > 0).sum()} of {steps.size} "
        f"one-round steps left more positions open (largest change {steps.max():+.0f})"
    )


if __name__ == "__main__":
    main()
