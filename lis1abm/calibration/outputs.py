"""The calibration's files: tables, summary, figures and the calibrated parameter file, each
written completely or not at all.

In the output folder (beside the study's journal):

- ``fit.csv``: breakdown, group, role (``fitted`` / ``held-out``), observed (what
  report, model_mean, p05 and p95 count: ``hired``, or ``not_hired`` for the report's table 2,
  the long-term breakdowns), applicants, report (the report's hires, or its not hired),
  model_mean, p05, p95 (the model's hires over the fixed block at the best point; for
  ``not_hired`` rows its not hired, applicants - hires: the applicants of a group are the same
  in every replication, so the not-hired 5 % point is applicants - the hires' 95 % point and
  the other way round), inside_band (``yes`` when the report's figure lies in [p05, p95],
  ``no``, or empty without a report figure). Rows of breakdown ``figure_4_3`` are the report's
  figure 4.3 statements (:mod:`lis1abm.report.statements`): ``report`` is the reference
  figure, ``model_mean`` the model's, inside_band ``hit`` or ``miss``;
- ``estimates.csv``: parameter, best, ci_lo, ci_hi, ci_open (the conditional 95 % likelihood
  interval of :mod:`lis1abm.calibration.scan`; ``ci_open`` names a side where it extends
  further), laplace_q05, laplace_q95 (the Laplace approximation's: the best point -+ 1.645 sd
  of the quadratic response surface, clipped to the bounds; see
  :mod:`lis1abm.calibration.laplace`),
  lower, upper;
- ``trials.csv``: every trial of the study (Optuna's table);
- ``summary.json``: provenance, objective on the fixed and the fresh replication blocks,
  the quadratic fit's diagnostics, elapsed seconds, budget;
- ``fit.png`` / ``fit.pdf``: the figure of :func:`lis1abm.plots.fit.fit_figure`.

Everything is written into a staging folder inside the output folder, then each file is moved
into place (a rename, atomic on one file system): an error leaves the files of the previous
run, never a half-written one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from lis1abm.atomic import as_new, cannot_write_in, replacing
from lis1abm.calibration.paths import tree_of
from lis1abm.errors import UserError
from lis1abm.params import Params, load_params
from lis1abm.report.compare import report_table

FIT_COLUMNS = (
    "breakdown",
    "group",
    "role",
    "observed",
    "applicants",
    "report",
    "model_mean",
    "p05",
    "p95",
    "inside_band",
)


def fit_table(rows: list[dict], roles: dict[str, str], statements: list[dict]) -> pd.DataFrame:
    """``fit.csv`` from the comparison rows (:func:`lis1abm.report.compare.compare`) of the
    breakdowns in ``roles`` (breakdown -> role) and the figure 4.3 statements (held out):
    :func:`lis1abm.report.compare.report_table` with a ``role`` column."""
    table = report_table([r for r in rows if r["breakdown"] in roles], statements)
    table["role"] = table["breakdown"].map(roles).fillna("held-out")
    return table[list(FIT_COLUMNS)]


def estimates_table(
    names, best, scan, laplace: np.ndarray, lower, upper, sandwich=None
) -> pd.DataFrame:
    """``estimates.csv``: one row per free parameter: the best point; ``scan`` (a
    :class:`~lis1abm.calibration.scan.Scan`): the conditional 95 % likelihood interval
    (``ci_lo``/``ci_hi``, ``ci_open``: "lo", "hi" or "both" where the scan found no crossing,
    so the interval extends further); ``laplace`` (2, d): the Laplace approximation's 5 and 95 %;
    ``sandwich`` (a :class:`~lis1abm.calibration.sandwich.Sandwich`): its sd and 5-95 %
    interval (``sd``, ``q05``, ``q95``)."""
    open_side = np.where(
        scan.open_lo & scan.open_hi,
        "both",
        np.where(scan.open_lo, "lo", np.where(scan.open_hi, "hi", "")),
    )
    table = pd.DataFrame(
        {
            "parameter": list(names),
            "best": np.asarray(best, dtype=float),
            "ci_lo": scan.lo,
            "ci_hi": scan.hi,
            "ci_open": open_side,
            "laplace_q05": laplace[0],
            "laplace_q95": laplace[1],
            "lower": list(lower),
            "upper": list(upper),
        }
    )
    if sandwich is not None:
        q = sandwich.intervals(best, np.asarray(lower), np.asarray(upper))
        table.insert(2, "sd", sandwich.sd)
        table.insert(3, "q05", q[0])
        table.insert(4, "q95", q[1])
    return table


def write_outputs(
    out: Path,
    tables: dict[str, pd.DataFrame],
    summary: dict,
    figures: dict[str, Callable[[Path], list[Path]]],
) -> list[Path]:
    """Write ``<name>.csv`` of each table, ``summary.json`` and each figure (a function
    that saves itself under a path stem) into ``out``, all or nothing."""
    out.mkdir(parents=True, exist_ok=True)
    staging = as_new(tempfile.mkdtemp(prefix=".staging-", dir=out))
    try:
        names = []
        for name, table in tables.items():
            table.to_csv(staging / f"{name}.csv", index=False)
            names.append(f"{name}.csv")
        (staging / "summary.json").write_text(json.dumps(summary, indent=2, default=_plain) + "\n")
        names.append("summary.json")
        for name, draw in figures.items():
            names += [p.name for p in draw(staging / name)]
        written = []
        for name in names:
            os.replace(staging / name, out / name)
            written.append(out / name)
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _plain(value):
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# -- the calibrated parameter file ---------------------------------------------------------


def params_toml(params: Params, header: list[str]) -> str:
    """A parameter file (TOML) holding ``params``, after the comment lines ``header``."""
    lines = [f"# {h}".rstrip() for h in header]
    for table, entries in tree_of(params).items():
        lines += ["", f"[{table}]"]
        for key, value in entries.items():
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(
            f"{json.dumps(str(k), ensure_ascii=False)} = {_toml_value(v)}" for k, v in value.items()
        )
        return "{ " + inner + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def write_params_file(path: Path, params: Params, header: list[str]) -> Path:
    """Write the parameter file atomically: to a temporary file beside ``path``, checked with
    :func:`load_params` (so that an invalid file is never left in place), then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path, suffix=".toml") as tmp:
        tmp.write_text(params_toml(params, header), encoding="utf-8")
        load_params(tmp)
    return path


def write_table(path: Path, table: pd.DataFrame) -> Path:
    """Write a CSV table atomically (a temporary file beside ``path``, then renamed)."""
    with replacing(path, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)
    return path


def check_writable(path: Path, flag: str) -> Path:
    """``path`` (a folder or a file to be made, with any missing parent folders) can be
    written: its nearest existing ancestor is a writable folder, and it is not of the other
    kind."""
    path = Path(path)
    if flag == "--out" and path.exists() and not path.is_dir():
        raise UserError(f"{flag} {path}: exists and is not a folder")
    if flag != "--out" and path.is_dir():
        raise UserError(f"{flag} {path}: is a folder")
    probe = path if flag == "--out" and path.is_dir() else path.parent
    while not probe.exists():
        probe = probe.parent
    why = "not a folder" if not probe.is_dir() else cannot_write_in(probe)
    if why:
        raise UserError(f"{flag} {path}: cannot write in {probe} ({why})")
    return path
