"""lis1abm: an agent-based simulator of the Norwegian LIS1 hiring market.

The autumn 2024 application round (Helsedirektoratet's status report) is the reference: the
package builds a synthetic applicant population that matches the report, lets applicants apply
to ads, lets hospitals rank them, and plays the offer rounds with Mesa agents or with the
compiled engines, which give the same outcome.

The public API::

    from lis1abm import simulate, LIS1Model
    result = simulate("autumn2024", reps=200, seed=1)   # replications, compared with the report
    result.comparison()                                 # a DataFrame
    model = LIS1Model(round="autumn2024", seed=1)       # one replication with Mesa
    model.run_model()

* :func:`simulate`: replications of a round, summarised and compared with its report
  (:mod:`lis1abm.report.simulate`);
* :func:`run_experiment`: the scenarios of an experiment (a built-in name, a file, or a loaded
  config; :mod:`lis1abm.experiments`);
* :func:`calibrate`: fit the behaviour parameters to a round's report
  (:mod:`lis1abm.calibration`);
* :func:`load_round`, :func:`load_params`: the validated configs;
* :class:`LIS1Model`: the Mesa model of one replication (:mod:`lis1abm.abm.model`).

Names are imported on first use, so that ``import lis1abm`` (and the command line's
``--help``) stays fast.
"""

from importlib import import_module

from lis1abm.version import __version__

_PUBLIC = {
    "simulate": "lis1abm.report.simulate",
    "run_experiment": "lis1abm.experiments.runner",
    "calibrate": "lis1abm.calibration.calibrate",
    "load_round": "lis1abm.data.round",
    "load_params": "lis1abm.params.model",
    "LIS1Model": "lis1abm.abm.model",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str):
    """The public names, imported when first asked for (PEP 562)."""
    if name not in _PUBLIC:
        raise AttributeError(f"module 'lis1abm' has no attribute {name!r}")
    value = getattr(import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
