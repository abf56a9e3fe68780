"""The built-in round and parameter files, found wherever the package is installed.

The files live once, in the repository's top-level ``configs/`` folder (``rounds/*.toml``,
``params/*.toml``, ``history/lis1.toml``, ...). ``pyproject.toml`` maps that folder to the
package ``lis1abm.configs``, so :mod:`importlib.resources` finds it in an editable install (the
checkout's folder) and in a wheel install (``site-packages/lis1abm/configs``) alike, whatever
the current directory.
User files are given by path and never looked up here. A source checkout used without
installing (``PYTHONPATH=.``, as on a batch machine with its own environment) has no
``lis1abm.configs`` package; its ``configs/`` folder beside the package is used then.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

PACKAGE = "lis1abm.configs"
"""The package that holds the built-in files."""


def configs_dir() -> Path:
    """The folder of the built-in files.

    Raises
    ------
    RuntimeError : the package is not installed as files on disk (a zip import), which the
        loaders and the provenance records (paths and SHA-256 of the files read) need.
    """
    try:
        root = files(PACKAGE)
    except ModuleNotFoundError:
        checkout = Path(__file__).resolve().parents[2] / "configs"
        if not (checkout / "rounds").is_dir():
            raise
        return checkout
    if not isinstance(root, Path):
        raise RuntimeError(f"{PACKAGE} is not installed as files on disk ({root!r})")
    return root


def rounds_dir() -> Path:
    """The folder of the built-in rounds, one ``<name>.toml`` each."""
    return configs_dir() / "rounds"


def known_rounds() -> list[str]:
    """Names of the built-in rounds, sorted."""
    return sorted(p.stem for p in rounds_dir().glob("*.toml"))


def builtin_round(name: str) -> Path:
    """The file of the built-in round ``name``; it exists when ``name`` is in
    :func:`known_rounds`."""
    return rounds_dir() / f"{name}.toml"


def default_params_path() -> Path:
    """The default parameter file, ``params/default.toml`` of the built-in files."""
    return configs_dir() / "params" / "default.toml"


def round_params_path(round_name: str) -> Path:
    """The parameter file ``simulate`` uses for a round when none is given: the round's
    calibrated file ``params/<round>_calibrated.toml`` (written by ``lis1abm calibrate``) when
    one ships with the package, else ``params/default.toml`` (the hand-set base that the
    calibration starts from). ``round_name`` is a round's name (``[round] name`` of its
    file): a round file of one's own with a built-in round's name gets that round's file."""
    calibrated = configs_dir() / "params" / f"{Path(round_name).stem}_calibrated.toml"
    if round_name in known_rounds() and calibrated.is_file():
        return calibrated
    return default_params_path()


def builtin_history() -> Path:
    """The history of the LIS1 rounds, ``history/lis1.toml`` of the built-in files."""
    return configs_dir() / "history" / "lis1.toml"


def experiments_dir() -> Path:
    """The folder of the built-in experiments, one ``<name>.toml`` each."""
    return configs_dir() / "experiments"


def known_experiments() -> list[str]:
    """Names of the built-in experiments, sorted."""
    return sorted(p.stem for p in experiments_dir().glob("*.toml"))
