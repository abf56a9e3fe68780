"""Run replications of a round and collect their outcomes, with provenance.

:func:`simulate` is the programmatic entry point behind ``lis1abm simulate``. Replications are
summarised as they come (:class:`lis1abm.outcomes.aggregate.Summary`: exact histograms, on the
engine's threads), so memory does not grow with their number; every replication's values and
every offer are kept only when asked for, and then streamed to Parquet batch by batch when
the run writes its results to a folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lis1abm.abm.model import LIS1Model
from lis1abm.data.files import round_params_path
from lis1abm.data.round import load_round
from lis1abm.engine.backends import resolve_backend
from lis1abm.engine.layout import EngineArrays, flatten, param_rows
from lis1abm.errors import UserError
from lis1abm.market.ranking import Market, build_market
from lis1abm.outcomes.aggregate import Summary
from lis1abm.outcomes.events import offer_events
from lis1abm.outcomes.tally import Tally
from lis1abm.params import load_params
from lis1abm.report.compare import cascade_summary, compare
from lis1abm.report.provenance import describe, file_digest

PROVENANCE_COLUMNS = ("seed", "round", "params_name", "params_sha256", "scenario")
"""Columns every result table carries, so that tables of many runs can be concatenated."""


@dataclass
class SimulationResult:
    """Replications of one round.

    Attributes
    ----------
    market : the market the replications ran on.
    tally : the layout of a replication's values.
    summary : exact histograms of every value over the replications.
    values : int64 (R, K): every replication's values (see :class:`lis1abm.outcomes.tally.Tally`),
        only when asked for (``per_replication``) and not written to a folder; else None.
    events : every offer of every replication, when asked for and not written to a folder.
    rows : the comparison with the report (see :func:`lis1abm.report.compare.compare`).
    cascade : mean cascade figures (see :func:`lis1abm.report.compare.cascade_summary`).
    meta : provenance: round, params, seed, replications, backend, device, version, commit,
        scenario, and ``market_sha256`` (see :func:`market_digest`).
    provenance : the values of :data:`PROVENANCE_COLUMNS`.
    written : the files written (with ``out``), else an empty list.
    """

    market: Market
    tally: Tally
    summary: Summary
    values: np.ndarray | None
    events: pd.DataFrame | None
    rows: list[dict]
    cascade: dict
    meta: dict
    provenance: dict
    written: list[Path] = dataclasses.field(default_factory=list)

    @property
    def replications(self) -> pd.DataFrame | None:
        """The long table of every replication, with provenance columns (None unless the
        values were kept)."""
        if self.values is None:
            return None
        table = self.tally.table(np.arange(len(self.values)), self.values)
        return with_provenance(table, self.provenance)

    def comparison(self) -> pd.DataFrame:
        """The comparison rows as a table, with provenance columns."""
        return with_provenance(pd.DataFrame(self.rows), self.provenance)

    def to_json(self) -> dict:
        return {
            "round": self.meta["round"],
            "seed": self.meta["seed"],
            "replications": self.meta["replications"],
            "backend": self.meta["backend"],
            "rows": self.rows,
            "cascade": self.cascade,
            "meta": self.meta,
        }


def simulate(
    round_name: str = "autumn2024",
    reps: int = 20,
    seed: int = 2024,
    backend: str = "auto",
    params_path: str | Path | None = None,
    *,
    scenario: str = "default",
    per_replication: bool = False,
    log_events: bool = False,
    out: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> SimulationResult:
    """Simulate ``reps`` replications of a round.

    Parameters
    ----------
    round_name : a round config name (``configs/rounds/<name>.toml``) or path.
    reps : number of replications (>= 1); replication r uses the draws keyed by (seed, r).
    seed : the root seed, in [0, 2**63).
    backend : one of :data:`lis1abm.engine.backends.BACKENDS`; every engine gives the same outcome.
    params_path : parameter file; default: the round's calibrated file when one ships
        (``configs/params/<round>_calibrated.toml``), else ``configs/params/default.toml``.
    scenario : a name recorded in every table and in ``meta`` (tables of many runs can then be
        concatenated).
    per_replication : keep every replication's values (K per replication).
    log_events : keep every offer (about 1,100 per replication).
    out : write ``comparison.parquet`` and ``meta.json`` into this folder, and
        ``replications.parquet`` / ``events.parquet`` when kept, streamed batch by batch
        (never the whole table in memory); written beside it and moved into place only when
        complete. Then ``values`` and ``events`` of the result are None.
    progress : called with the number of replications done, after each batch.

    Raises
    ------
    UserError : bad arguments or config, an ``out`` that cannot be written, or a backend that
        cannot run here.
    """
    engine_name, device = resolve_backend(backend, reps)
    if reps < 1:
        raise UserError(f"--reps must be at least 1, got {reps}")
    if reps > 2**32:
        raise UserError(f"--reps must be at most 2**32, got {reps}")
    if not 0 <= seed < 2**63:
        raise UserError(f"--seed must be an integer in [0, 2**63), got {seed}")
    if not isinstance(scenario, str) or not scenario:
        raise UserError(f"scenario must be a non-empty name, got {scenario!r}")
    if out is not None:
        check_out(out)  # before the run, which may be long
    params_path = Path(params_path) if params_path is not None else round_params_path(round_name)
    data = load_round(round_name)
    params = load_params(params_path)
    data.require_market()
    market = build_market(data, params, seed)
    tally = Tally(market)
    arrays = flatten(market, tally)
    params_sha256 = file_digest(params_path)
    provenance = {
        "seed": seed,
        "round": data.name,
        "params_name": params_path.stem,
        "params_sha256": params_sha256,
        "scenario": scenario,
    }
    meta = describe(
        round=data.name,
        round_file=data.file,
        round_sha256=file_digest(data.file),
        params_file=str(params_path),
        params_sha256=params_sha256,
        params=params.to_dict(),
        seed=seed,
        replications=reps,
        backend=engine_name,
        backend_asked=backend,
        device=device,
        scenario=scenario,
        market_sha256=market_digest(arrays),
    )
    with ResultSink(tally, provenance, out, per_replication, log_events) as sink:
        summary = run_replications(engine_name, market, tally, arrays, reps, sink, progress)
        result = SimulationResult(
            market,
            tally,
            summary,
            sink.values(),
            sink.events(),
            compare(tally, summary),
            cascade_summary(tally, summary),
            meta,
            provenance,
        )
        if out is not None:
            result.written = sink.commit(result)
    return result


def market_digest(arrays: EngineArrays) -> str:
    """SHA-256 of the market as the engines see it: every field of :class:`EngineArrays`, in
    order, as little-endian int64 with its name and shape.

    The market is built with floating point (logarithms, Newton iterations), so two machines
    could in principle build different markets from the same seed; equal digests show they
    did not. Every backend records the digest of the same flattened arrays.
    """
    digest = hashlib.sha256()
    for name, field in arrays._asdict().items():
        value = np.ascontiguousarray(field, dtype="<i8")
        digest.update(f"{name}{value.shape}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


MESA_BATCH = 64  # Mesa replications summarised (and written) at a time
BATCH = 8192  # replications per engine call: bounds memory and paces the progress bar
# Replications per GPU call: each call copies the market to the device and returns every
# replication's counts (about 1.5 KB), so larger calls keep the GPU busy; 262,144 of them
# hold about 400 MB of counts on the host.
CUDA_BATCH = 262_144


def run_replications(
    engine_name: str,
    market: Market,
    tally: Tally,
    arrays: EngineArrays,
    reps: int,
    sink: ResultSink | None = None,
    progress: Callable[[int], None] | None = None,
    *,
    first: int = 0,
) -> Summary:
    """Replications ``first .. first + reps - 1`` of a built market on an engine (``mesa``,
    ``cpu`` or ``cuda``), summarised as they come; per-replication values and offers go to
    ``sink`` when it keeps them. This is :func:`simulate` without loading, building and
    recording. ``first`` picks a block of replication indices: a calibration evaluates every
    candidate on the same block (common random numbers) and checks the best on another."""
    if sink is None:
        sink = ResultSink(tally, {}, None, per_replication=False, log_events=False)
    if not (0 <= first and first + reps <= 2**32):
        raise ValueError(f"replications {first}..{first + reps - 1} leave [0, 2**32)")
    if engine_name == "mesa":
        return _run_mesa(market, tally, reps, sink, progress, first)
    return run_flattened(
        engine_name,
        arrays,
        market.seed,
        param_rows(market),
        tally,
        reps,
        sink,
        progress,
        first=first,
        market=market,
    )


def _run_mesa(market, tally, reps, sink, progress, first=0) -> Summary:
    summary = Summary(tally)
    for start in range(first, first + reps, MESA_BATCH):
        ids = np.arange(start, min(start + MESA_BATCH, first + reps))
        values = np.empty((len(ids), len(tally.layout)), dtype=np.int64)
        logs = []
        for i, r in enumerate(ids):
            model = LIS1Model(market, int(r), log_events=sink.log_events)
            values[i] = tally.values(model.run())
            if sink.log_events:
                logs.append(model.event_log())
            if progress is not None:
                progress(1)
        summary.add_values(values)
        sink.add_values(ids, values)
        if sink.log_events:
            sink.add_events(pd.concat(logs, ignore_index=True))
    return summary


def run_flattened(
    engine_name: str,
    arrays: EngineArrays,
    seed: int,
    rows: np.ndarray,
    tally: Tally,
    reps: int,
    sink: ResultSink | None = None,
    progress: Callable[[int], None] | None = None,
    *,
    first: int = 0,
    market: Market | None = None,
    summarise: bool = True,
) -> Summary | None:
    """Replications ``first .. first + reps - 1`` on the ``cpu`` or ``cuda`` engine from the
    flattened market alone: its arrays, root ``seed`` and parameter rows int64 (1, 3 + R)
    (:func:`~lis1abm.engine.layout.param_rows`), which is what a worker of a cluster receives.
    The :class:`Market` itself is needed only to log offers (``sink.log_events``).

    ``summarise=False`` returns None instead of a :class:`Summary`, for a caller that keeps
    every replication's values (``sink.per_replication``) and summarises them itself: a
    Summary's histograms cost about 35 ms a batch on 2 cores whatever its size, which is most
    of the cost of a small task of an experiment."""
    from lis1abm.engine.cpu import run_cpu

    if sink is None:
        sink = ResultSink(tally, {}, None, per_replication=False, log_events=False)
    if sink.log_events and market is None:
        raise ValueError("logging offers needs the market, not only its arrays")
    if not (0 <= first and first + reps <= 2**32):
        raise ValueError(f"replications {first}..{first + reps - 1} leave [0, 2**32)")
    summary = Summary(tally) if summarise else None
    if engine_name == "cuda":
        from lis1abm.engine.backends import gpu_engine

        run = gpu_engine(arrays)
    else:
        run = run_cpu
    # The engines summarise where they play (on the CPU's threads, on the GPU) unless every
    # replication's values are kept: then each batch's counts come back and are summarised
    # here.
    in_engine = not sink.per_replication and summarise
    batch = CUDA_BATCH if engine_name == "cuda" else BATCH
    for start in range(first, first + reps, batch):
        ids = np.arange(start, min(start + batch, first + reps))
        keep = {"keep_offers": sink.log_events}
        if in_engine:
            out = run(arrays, seed, ids, rows, summary=summary, **keep)
        else:
            out = run(arrays, seed, ids, rows, **keep)
            if summary is not None:
                summary.add_counts(out.counts, out.cascade)
            if sink.per_replication:
                sink.add_values(ids, tally.values_from(out.counts, out.cascade))
        if sink.log_events:
            sink.add_events(offer_events(market, ids, out.offers))
        if progress is not None:
            progress(len(ids))
    return summary


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


def _tag_events(events: pd.DataFrame, provenance: dict) -> pd.DataFrame:
    untagged = events.drop(columns=["seed", *PROVENANCE_COLUMNS[2:], "round_name"], errors="ignore")
    return with_provenance(untagged, provenance, round_column="round_name")


def check_out(out: str | Path) -> Path:
    """The results folder, if it can be written (its parent must exist)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    parent = out.resolve().parent
    if not parent.is_dir():
        raise UserError(f"--out {out}: parent folder {parent} does not exist")
    if not os.access(parent, os.W_OK) or (out.is_dir() and not os.access(out, os.W_OK)):
        raise UserError(f"--out {out}: cannot write in {out if out.is_dir() else parent}")
    return out


class ResultSink:
    """Where per-replication values and offers go as batches come: kept in memory (no
    ``out``), or streamed to Parquet files in a staging folder beside ``out`` that
    :meth:`commit` moves into place once everything is written; leaving the ``with`` block
    removes the staging folder, so a failure leaves nothing half-written."""

    FILES = ("replications.parquet", "events.parquet", "comparison.parquet", "meta.json")

    def __init__(self, tally, provenance, out, per_replication, log_events):
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
            table = with_provenance(self.tally.table(replications, values), self.provenance)
            self._append("replications.parquet", table)

    def add_events(self, events: pd.DataFrame) -> None:
        """Offers of a batch of replications (rows of :func:`offer_events`), if kept."""
        if not self.log_events:
            return
        if self.staging is None:
            self._events.append(events)
        else:
            self._append("events.parquet", _tag_events(events, self.provenance))

    def values(self) -> np.ndarray | None:
        if not (self.per_replication and self.staging is None):
            return None
        return np.concatenate(self._values)

    def events(self) -> pd.DataFrame | None:
        if not (self.log_events and self.staging is None):
            return None
        return _tag_events(pd.concat(self._events, ignore_index=True), self.provenance)

    def commit(self, result: SimulationResult) -> list[Path]:
        """Write the comparison and ``meta.json``, then move every file into ``out``; a file
        of an earlier run that this run did not write is removed (it would not match)."""
        assert self.staging is not None and self.out is not None
        result.comparison().to_parquet(self.staging / "comparison.parquet", index=False)
        (self.staging / "meta.json").write_text(
            json.dumps(result.meta | {"cascade": result.cascade}, indent=2, default=str) + "\n"
        )
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


def write_results(result: SimulationResult, out_dir: str | Path) -> list[Path]:
    """Write a result held in memory into ``out_dir``: ``comparison.parquet``, ``meta.json``,
    and ``replications.parquet`` / ``events.parquet`` if the result kept them.

    Files are written into a temporary folder beside ``out_dir`` and moved into place only
    when all are complete, so a failure leaves nothing half-written.
    """
    keep_values, keep_events = result.values is not None, result.events is not None
    with ResultSink(result.tally, result.provenance, out_dir, keep_values, keep_events) as sink:
        if keep_values:
            sink.add_values(np.arange(len(result.values)), result.values)
        if keep_events:
            sink.add_events(result.events)
        return sink.commit(result)
