"""Experiments: scenarios of a round (configs/experiments/<name>.toml), run with common random
numbers, written as a tidy table with provenance, and drawn.

A script follows the same four steps as ``lis1abm experiment`` (see experiments/*.py)::

    config = load_experiment("capacity")
    result = run_experiment(config)
    folder = write_results(result, "results")
    draw_figures(folder)
"""

from lis1abm.experiments.config import ExperimentConfig, Scenario, load_experiment
from lis1abm.experiments.runner import (
    ExperimentResult,
    draw_figures,
    load_results,
    run_experiment,
    write_results,
)

__all__ = [
    "ExperimentConfig",
    "ExperimentResult",
    "Scenario",
    "draw_figures",
    "load_experiment",
    "load_results",
    "run_experiment",
    "write_results",
]
