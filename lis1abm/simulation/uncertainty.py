"""Parameter uncertainty in a run: one parameter set per population draw, drawn from the
covariance a calibration wrote beside its parameter file.

``lis1abm calibrate`` writes ``<params>.covariance.csv`` beside the calibrated parameter file
``<params>.toml``: per free parameter its best value, bounds and a row of the sandwich
covariance (:mod:`lis1abm.calibration.sandwich`). With ``--parameter-uncertainty``, draw d of
a population ensemble plays with the parameters ``best + L z_d`` (L L' = the covariance,
z_d standard normal keyed by (root seed, draw d, parameter), clipped to the bounds), so the
means and 5-95 % bands of the run are over the population draws, the offer rounds *and* the
calibration's uncertainty. Draws are paired with populations rather than crossed, so the run
costs what the ensemble costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lis1abm.errors import UserError
from lis1abm.rng import Stream, normal

SUFFIX = ".covariance.csv"
"""The covariance file of ``<params>.toml``: ``<params>.covariance.csv`` beside it."""
FIXED = ("parameter", "best", "lower", "upper")
"""The covariance file's first columns; then one column per parameter (the covariance)."""


def covariance_path(params_file: str | Path) -> Path:
    """``<params>.covariance.csv`` beside the parameter file ``<params>.toml``."""
    path = Path(params_file)
    return path.with_name(path.stem + SUFFIX)


def covariance_table(names, best, lower, upper, cov: np.ndarray) -> pd.DataFrame:
    """The covariance file's table: a row per parameter (:data:`FIXED`, then the covariance
    row, a column per parameter)."""
    table = pd.DataFrame(np.asarray(cov, dtype=np.float64), columns=list(names))
    for k, (column, values) in enumerate(
        zip(FIXED, (list(names), best, lower, upper), strict=True)
    ):
        table.insert(k, column, values)
    return table


@dataclass(frozen=True)
class ParameterDraws:
    """The calibration's uncertainty of its free parameters (d of them).

    Attributes
    ----------
    file : the covariance file read.
    names : the parameters' dotted paths.
    best, lower, upper : float64 (d,).
    factor : float64 (d, d): L with L L' the covariance (eigenvalues below 0 set to 0).
    """

    file: Path
    names: tuple[str, ...]
    best: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    factor: np.ndarray

    def draw(self, seed: int, d: int) -> dict[str, float]:
        """Parameter set of draw ``d``: best + L z, z keyed by (seed, d, parameter), clipped
        to the bounds."""
        z = normal(seed, 0, Stream.PARAMETERS, np.arange(len(self.names)), d)
        x = np.clip(self.best + self.factor @ z, self.lower, self.upper)
        return dict(zip(self.names, map(float, x), strict=True))


def load_draws(params_file: str | Path) -> ParameterDraws:
    """Read the covariance file beside a parameter file.

    Raises
    ------
    UserError : no such file (the parameter file was not written by ``lis1abm calibrate``), or
        a file that is not a covariance table (one line naming it).
    """
    path = covariance_path(params_file)
    if not path.is_file():
        raise UserError(
            f"--parameter-uncertainty: no covariance file {path} beside the parameter file "
            f"{Path(params_file).name}; lis1abm calibrate writes one with its parameter file"
        )
    try:
        table = pd.read_csv(path)
        names = tuple(table["parameter"].astype(str))
        cov = table[list(names)].to_numpy(dtype=np.float64)
        best, lower, upper = (table[c].to_numpy(dtype=np.float64) for c in FIXED[1:])
    except (KeyError, ValueError, pd.errors.ParserError) as error:
        raise UserError(f"{path}: not a covariance table ({error})") from None
    if not (np.all(np.isfinite(cov)) and np.allclose(cov, cov.T, rtol=1e-6, atol=1e-12)):
        raise UserError(f"{path}: the covariance is not a finite symmetric matrix")
    if not np.all((lower <= best) & (best <= upper)):
        raise UserError(f"{path}: a best value lies outside its bounds")
    eigval, eigvec = np.linalg.eigh(cov)
    factor = eigvec * np.sqrt(np.clip(eigval, 0.0, None))
    return ParameterDraws(path, names, best, lower, upper, factor)
