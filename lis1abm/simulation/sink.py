"""Where a run's tables go: kept in memory, or streamed to Parquet and moved into place.

Every table of a run carries the provenance columns (:data:`PROVENANCE_COLUMNS`), so that
tables of many runs can be concatenated.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lis1abm.atomic import cannot_write_in
from lis1abm.errors import UserError
from lis1abm.rng import population_of

PROVENANCE_COLUMNS = ("seed", "round", "params_name", "params_sha256", "scenario")
"""Columns every result table carries, so that tables of many runs can be concatenated."""


def with_provenance(
    table: pd.DataFrame, provenance: dict, round_column: str = "round"
) -> pd.DataFrame:
    """``table`` with the :data:`PROVENANCE_COLUMNS` appended (``seed`` int64, the others
    categorical: one category each, so they cost a byte a row). The round's name goes in
    ``round_column``: ``round_name`` in the event table, whose ``round`` is the offer round."""
    if round_column in table.columns:
        raise ValueError(f"the table already has a column {round_column!r}")
    n = len(table)
    columns = {"seed": np.full(n, provenance["seed"], dtype=np.int64)}
    for name in PROVENANCE_COLUMNS[1:]:
        column = round_column if name == "round" else name
        columns[column] = pd.Categorical.from_codes(np.zeros(n, np.int8), [str(provenance[name])])
    return table.assign(**columns)


def with_population(table: pd.DataFrame, populations: int) -> pd.DataFrame:
    """``table`` with a column ``population`` (int64) after ``replication``: the population
    draw each row's replication played on (:func:`lis1abm.rng.population_of`), 0 for a run on
    one population."""
    table = table.drop(columns="population", errors="ignore")
    draw = population_of(table["replication"].to_numpy(dtype=np.int64), populations)
    table.insert(table.columns.get_loc("replication") + 1, "population", draw)
    return table


def _tag_events(events: pd.DataFrame, provenance: dict, populations: int = 1) -> pd.DataFrame:
    untagged = events.drop(columns=["seed", *PROVENANCE_COLUMNS[2:], "round_name"], errors="ignore")
    tagged = with_provenance(untagged, provenance, round_column="round_name")
    return with_population(tagged, populations)


def replication_table(tally, replications, values, provenance: dict, populations: int = 1):
    """The long table of replications (R,) with values (R, K) (:meth:`Tally.table`), with
    their population draw and the provenance columns."""
    table = with_population(tally.table(replications, values), populations)
    return with_provenance(table, provenance)


def check_out(out: str | Path) -> Path:
    """The results folder, if it can be written (its parent must exist)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    parent = out.resolve().parent
    if not parent.is_dir():
        raise UserError(f"--out {out}: parent folder {parent} does not exist")
    folder = out if out.is_dir() else parent
    if why := cannot_write_in(folder):
        raise UserError(f"--out {out}: cannot write in {folder} ({why})")
    return out


class ResultSink:
    """Where per-replication values and offers go as batches come: kept in memory (no
    ``out``), or streamed to Parquet files in a staging folder beside ``out`` that
    :meth:`commit` moves into place once everything is written; leaving the ``with`` block
    removes the staging folder, so a failure leaves nothing half-written.

    Both tables name each replication's population draw (column ``population``) of an
    ensemble of ``populations`` draws."""

    FILES = (
        "replications.parquet",
        "events.parquet",
        "population.parquet",
        "ads.parquet",
        "comparison.parquet",
        "meta.json",
    )

    def __init__(self, tally, provenance, out, per_replication, log_events, populations=1):
        self.populations = int(populations)
        self.tally = tally
        self.provenance = provenance
        self.out = None if out is None else check_out(out)
        self.per_replication = per_replication
        self.log_events = log_events
        self.staging: Path | None = None
        self._writers: dict[str, pq.ParquetWriter] = {}
        self._values: list[np.ndarray] = []
        self._events: list[pd.DataFrame] = []

    def __enter__(self) -> ResultSink:
        if self.out is not None:
            parent = self.out.resolve().parent
            self.staging = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.", dir=parent))
        return self

    def __exit__(self, *exc) -> None:
        self._close()
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)

    def add_values(self, replications: np.ndarray, values: np.ndarray) -> None:
        """Values (B, K) of replications (B,), if kept."""
        if not self.per_replication:
            return
        if self.staging is None:
            self._values.append(values)
        else:
            table = replication_table(
                self.tally, replications, values, self.provenance, self.populations
            )
            self._append("replications.parquet", table)

    def add_events(self, events: pd.DataFrame) -> None:
        """Offers of a batch of replications (rows of :func:`offer_events`), if kept."""
        if not self.log_events:
            return
        if self.staging is None:
            self._events.append(events)
        else:
            self._append("events.parquet", _tag_events(events, self.provenance, self.populations))

    def values(self) -> np.ndarray | None:
        if not (self.per_replication and self.staging is None):
            return None
        return np.concatenate(self._values)

    def kept_events(self) -> pd.DataFrame | None:
        """The offers kept in memory as the engines gave them, without provenance."""
        if not (self.log_events and self.staging is None):
            return None
        return pd.concat(self._events, ignore_index=True)

    def events(self) -> pd.DataFrame | None:
        if not (self.log_events and self.staging is None):
            return None
        events = pd.concat(self._events, ignore_index=True)
        return _tag_events(events, self.provenance, self.populations)

    def commit(self, tables: dict[str, pd.DataFrame], meta: dict) -> list[Path]:
        """Write the run's summary ``tables`` (file name: table, among :attr:`FILES`) and
        ``meta.json``, then move every file into ``out``; a file of an earlier run that this
        run did not write is removed (it would not match)."""
        assert self.staging is not None and self.out is not None
        for name, table in tables.items():
            assert name in self.FILES, name
            table.to_parquet(self.staging / name, index=False)
        (self.staging / "meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
        self._close()
        self.out.mkdir(exist_ok=True)
        written = []
        for name in self.FILES:
            if (self.staging / name).exists():
                os.replace(self.staging / name, self.out / name)
                written.append(self.out / name)
            elif (self.out / name).exists():
                (self.out / name).unlink()
        return written

    def _append(self, name: str, table: pd.DataFrame) -> None:
        batch = pa.Table.from_pandas(table, preserve_index=False)
        writer = self._writers.get(name)
        if writer is None:
            writer = self._writers[name] = pq.ParquetWriter(self.staging / name, batch.schema)
        writer.write_table(batch)

    def _close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
