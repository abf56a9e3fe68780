"""An experiment's results folder, ``<out>/<name>/``: which files in it are the experiment's,
whether a run may write there, and how its files are put in place.

A folder may hold a user's own files beside the results (notes, a draft of a paper): no run
removes or replaces a file the experiment did not write. A run writes into a folder that is
new, holds no experiment file, or holds the results of the same experiment and configuration
(:func:`identity`: the config's digest, the seed, the replications and whether the
per-replication table is kept), whose values a run reproduces exactly. Results of any other
configuration are kept unless the run is told to replace them (``overwrite``); then only the
files the earlier run wrote go.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from lis1abm.atomic import as_new
from lis1abm.errors import UserError

TABLE, SUMMARY, META = "replications.parquet", "summary.csv", "meta.json"
FIGURE_SUFFIXES = (".png", ".pdf")
IDENTITY = (
    "experiment",
    "config_sha256",
    "seed",
    "replications",
    "populations",
    "parameter_uncertainty",
    "replications_table",
)
"""The ``meta.json`` keys that decide an experiment's values and files: two runs that agree
on them write the same results."""
OLDER = {"replications_table": True, "populations": 1, "parameter_uncertainty": False}
"""Values of keys an older ``meta.json`` lacks: the table was always written, every
replication played on one population, with the same parameters."""


def identity(meta: dict) -> dict:
    """The keys of :data:`IDENTITY` from a ``meta.json`` (:data:`OLDER` where an older file
    lacks one)."""
    return {k: meta.get(k, OLDER.get(k)) for k in IDENTITY}


def owned_files(meta: dict) -> list[str]:
    """The names of the files an experiment with this ``meta.json`` writes in its folder: the
    table, the summary, ``meta.json``, a CSV per table and a PNG and PDF per figure
    (``meta["figure_files"]``, else the config's ``figures``)."""
    names = [TABLE, SUMMARY, META, *(f"{t}.csv" for t in meta.get("tables", []))]
    figures = meta.get("figure_files") or meta.get("figures", [])
    names += [f"{f}{s}" for f in figures for s in FIGURE_SUFFIXES]
    return list(dict.fromkeys(names))


def read_meta(folder: Path) -> dict | None:
    """The folder's ``meta.json``, or None where there is none (or it is not JSON: a file
    this package did not write, e.g. a crash between two renames of :func:`put_in_place`)."""
    try:
        meta = json.loads((folder / META).read_text())
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return meta if isinstance(meta, dict) else None


def check_folder(folder: str | Path, wanted: dict, overwrite: bool = False) -> str:
    """Whether a run of ``wanted`` (a ``meta.json`` or its :func:`identity`) may write in
    ``folder``: ``"new"`` (no folder, or none of an experiment's files in it), ``"same"``
    (results of the same identity, which a run reproduces) or ``"replace"`` (other results,
    and ``overwrite``).

    Raises
    ------
    UserError : the folder holds results of another identity (one line naming the folder and
        what differs), or results without a readable ``meta.json``, and not ``overwrite``.
    """
    folder = Path(folder)
    if not folder.exists():
        return "new"
    if not folder.is_dir():
        raise UserError(f"{folder}: exists and is not a folder")
    meta = read_meta(folder)
    if meta is None:
        if not any((folder / name).exists() for name in (TABLE, SUMMARY, META)):
            return "new"
        if overwrite:
            return "replace"
        raise UserError(
            f"{folder}: holds experiment results without a readable {META}; "
            "use --overwrite to replace them, or another --out"
        )
    new, old = identity(wanted), identity(meta)
    if new == old:
        return "same"
    if overwrite:
        return "replace"
    differs = ", ".join(f"{k} {old[k]} (now {new[k]})" for k in IDENTITY if old[k] != new[k])
    raise UserError(
        f"{folder}: holds results of another configuration ({_short(differs)}); "
        "use --overwrite to replace them, or another --out"
    )


def _short(text: str) -> str:
    """Digests cut to 12 hex digits, enough to tell two configs apart on one line."""
    return re.sub(r"\b([0-9a-f]{12})[0-9a-f]{52}\b", r"\1", text)


def put_in_place(staging: Path, target: Path) -> list[Path]:
    """Move every file of ``staging`` into ``target`` (made if missing), replacing files of
    the same name; an earlier run's files (:func:`owned_files` of its ``meta.json``) that this
    one did not write are removed, and nothing else. The earlier ``meta.json`` goes first and
    the new one comes last, so that a failure midway leaves no ``meta.json`` that claims
    files it does not describe (:func:`check_folder` then refuses the folder).
    Returns the files put in place."""
    if not target.exists():
        target.mkdir()
        as_new(target)  # a folder of the user's keeps its own permissions
    old = read_meta(target)
    new = sorted(p.name for p in staging.iterdir() if p.is_file())
    (target / META).unlink(missing_ok=True)
    if old is not None:
        for name in set(owned_files(old)) - set(new):
            (target / name).unlink(missing_ok=True)
    order = [n for n in new if n != META] + ([META] if META in new else [])
    for name in order:
        os.replace(as_new(staging / name), target / name)
    return [target / n for n in order]
