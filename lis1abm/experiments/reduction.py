"""An experiment's replications reduced block by block: the summary with the paired effects,
and the tidy table streamed to Parquet.

A block is the rows of the same replications of every scenario (tasks are cut at the same
replications in every scenario, :mod:`lis1abm.experiments.tasks`). Each block's measures
(:func:`lis1abm.experiments.tidy.measures`) are counted into exact distributions
(:class:`~lis1abm.experiments.distribution.Distribution`), and so is, for every scenario but
the baseline, each replication's difference scenario - baseline: since scenarios share their
random numbers, that paired difference is far less noisy than the two scenarios' bands
suggest. Memory holds one block and the distributions, whatever the replications.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lis1abm.atomic import as_new
from lis1abm.experiments.distribution import KEY, Distribution
from lis1abm.experiments.tidy import BAND, categorical, measures, round_end_days

EFFECT_COLUMNS = ("effect_mean", "effect_p05", "effect_p95", "effect_same_sign")
"""The summary's paired-effect columns: the mean over replications of scenario - baseline,
its 5-95 % band, and the share of replications whose difference has the sign of the mean.
Empty (NaN) in the baseline's rows."""


class Reduction:
    """The summary of an experiment's replications, block by block.

    Parameters
    ----------
    settings : each scenario's settings (:func:`lis1abm.experiments.overrides.settings`),
        scenarios in run order.
    baseline : the scenario the others are compared with, replication by replication.
    """

    def __init__(self, settings: dict[str, dict], baseline: str):
        self.calendar_rounds = {k: s["calendar_rounds"] for k, s in settings.items()}
        self.end_days = {k: round_end_days(s) for k, s in settings.items()}
        self.baseline = baseline
        self.levels = Distribution()
        self.effects = Distribution()

    def add(self, block: list[pd.DataFrame]) -> None:
        """Add the tidy rows of the same replications of every scenario (in run order)."""
        names = list(self.calendar_rounds)
        # One scenario's measures at a time, so a block's peak is two scenarios' rows.
        base = self._measures(block[names.index(self.baseline)])
        on = ["replication", "breakdown", "group", "metric"]
        for name, table in zip(names, block, strict=True):
            m = base if name == self.baseline else self._measures(table)
            self.levels.add(m)
            if name == self.baseline:
                continue
            paired = m.merge(base[[*on, "value"]], on=on, suffixes=("", "_baseline"))
            paired["value"] = paired["value"] - paired.pop("value_baseline")
            self.effects.add(paired)

    def _measures(self, table: pd.DataFrame) -> pd.DataFrame:
        return measures(table, self.calendar_rounds, self.end_days)

    def summary(self) -> pd.DataFrame:
        """Columns ``scenario, breakdown, group, metric, replications, mean, p05, p95`` (over
        replications) and :data:`EFFECT_COLUMNS`; scenarios in run order."""
        levels = self.levels.describe(BAND)
        effects = self.effects.describe(BAND, prefix="effect_", sign=True)
        out = levels.merge(effects.drop(columns="effect_replications"), on=KEY, how="left")
        order = {name: k for k, name in enumerate(self.calendar_rounds)}
        out = out.sort_values("scenario", key=lambda s: s.map(order), kind="stable")
        return out.reset_index(drop=True)


TEXT = ("scenario", "breakdown", "group", "metric")


class ReplicationsWriter:
    """The tidy table written block by block to one Parquet file (one row group a block, its
    scenarios in run order; a table held whole is one block, so scenario by scenario): text
    columns dictionary-encoded, the scenario's categories in run order, as
    :func:`~lis1abm.experiments.tidy.categorical` makes them in memory."""

    def __init__(self, path: str | Path, scenarios: list[str]):
        self.path = Path(path)
        self.scenarios = scenarios
        text = pa.dictionary(pa.int32(), pa.string())
        # A fixed index width: each block's categories, hence pandas' code width, differ.
        self.schema = pa.schema(
            [
                ("scenario", text),
                ("replication", pa.int64()),
                ("population", pa.int64()),
                ("breakdown", text),
                ("group", text),
                ("metric", text),
                ("value", pa.int64()),
            ]
        )
        self._writer: pq.ParquetWriter | None = None

    def write(self, table: pd.DataFrame) -> None:
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, self.schema)
        rows = categorical(table, self.scenarios)
        batch = pa.Table.from_pandas(rows, preserve_index=False)
        self._writer.write_table(batch.replace_schema_metadata(None).cast(self.schema))

    def close(self) -> Path:
        """Close the file (an empty table where nothing was written); returns its path."""
        if self._writer is None:
            self.write(
                pd.DataFrame({c: pd.Series(dtype=object) for c in TEXT}).assign(
                    replication=pd.Series(dtype="int64"),
                    population=pd.Series(dtype="int64"),
                    value=pd.Series(dtype="int64"),
                )[self.schema.names]
            )
        self._writer.close()
        as_new(self.path)
        return self.path
