"""Run replications of a round and collect their outcomes, with provenance.

:func:`simulate` is the programmatic entry point behind ``lis1abm simulate``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from lis1abm.abm.model import LIS1Model
from lis1abm.data.round import load_round
from lis1abm.engine.backends import resolve_backend
from lis1abm.errors import UserError
from lis1abm.market.ranking import Market, build_market
from lis1abm.params import DEFAULT_PARAMS, load_params
from lis1abm.results.compare import cascade_summary, compare
from lis1abm.results.events import offer_events
from lis1abm.results.provenance import describe, file_digest
from lis1abm.results.tally import Tally


@dataclass
class SimulationResult:
    """Replications of one round.

    Attributes
    ----------
    market : the market the replications ran on.
    tally : the layout of a replication's values.
    values : int64 (R, K): every replication's values (see :class:`lis1abm.results.tally.Tally`).
    events : every offer of every replication, or None.
    rows : the comparison with the report (see :func:`lis1abm.results.compare.compare`).
    cascade : mean cascade figures (see :func:`lis1abm.results.compare.cascade_summary`).
    meta : provenance: round, params, seed, replications, backend, device, version, commit.
    """

    market: Market
    tally: Tally
    values: np.ndarray
    events: pd.DataFrame | None
    rows: list[dict]
    cascade: dict
    meta: dict

    @cached_property
    def replications(self) -> pd.DataFrame:
        """The long table of every replication (built when first asked for)."""
        return self.tally.table(np.arange(len(self.values)), self.values)

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
    log_events: bool = False,
    progress: Callable[[int], None] | None = None,
) -> SimulationResult:
    """Simulate ``reps`` replications of a round.

    Parameters
    ----------
    round_name : a round config name (``configs/rounds/<name>.toml``) or path.
    reps : number of replications (>= 1); replication r uses the draws keyed by (seed, r).
    seed : the root seed, in [0, 2**63).
    backend : one of :data:`lis1abm.engine.backends.BACKENDS`; every engine gives the same outcome.
    params_path : parameter file; default ``configs/params/default.toml``.
    log_events : keep every offer in ``events``.
    progress : called with the number of replications done, after each step.

    Raises
    ------
    UserError : bad arguments or config, or a backend that cannot run here.
    """
    engine_name, device = resolve_backend(backend, reps)
    if reps < 1:
        raise UserError(f"--reps must be at least 1, got {reps}")
    if reps > 2**32:
        raise UserError(f"--reps must be at most 2**32, got {reps}")
    if not 0 <= seed < 2**63:
        raise UserError(f"--seed must be an integer in [0, 2**63), got {seed}")
    params_path = Path(params_path) if params_path is not None else DEFAULT_PARAMS
    data = load_round(round_name)
    params = load_params(params_path)
    data.require_market()
    market = build_market(data, params, seed)
    tally = Tally(market)
    if engine_name == "mesa":
        values, events = _run_mesa(market, tally, reps, log_events, progress)
    else:
        values, events = _run_engine(engine_name, market, tally, reps, log_events, progress)
    meta = describe(
        round=data.name,
        round_file=data.file,
        round_sha256=file_digest(data.file),
        params_file=str(params_path),
        params_sha256=file_digest(params_path),
        params=params.to_dict(),
        seed=seed,
        replications=reps,
        backend=engine_name,
        backend_asked=backend,
        device=device,
    )
    return SimulationResult(
        market,
        tally,
        values,
        events,
        compare(tally, values),
        cascade_summary(tally, values),
        meta,
    )


def _run_mesa(market, tally, reps, log_events, progress):
    values = np.empty((reps, len(tally.layout)), dtype=np.int64)
    logs = []
    for r in range(reps):
        model = LIS1Model(market, r, log_events=log_events)
        values[r] = tally.values(model.run())
        if log_events:
            logs.append(model.event_log())
        if progress is not None:
            progress(1)
    return values, (pd.concat(logs, ignore_index=True) if log_events else None)


BATCH = 8192  # replications per engine call: bounds memory and paces the progress bar


def _run_engine(engine_name, market, tally, reps, log_events, progress):
    from lis1abm import engine

    arrays = engine.flatten(market, tally)
    rows = engine.param_rows(market)
    if engine_name == "cuda":
        from lis1abm.engine.cuda import run_cuda as run
    else:
        run = engine.run_cpu
    values = np.empty((reps, len(tally.layout)), dtype=np.int64)
    logs = []
    for start in range(0, reps, BATCH):
        ids = np.arange(start, min(start + BATCH, reps))
        out = run(arrays, market.seed, ids, rows, keep_offers=log_events)
        values[ids] = tally.values_from(out.counts, out.cascade)
        if log_events:
            logs.append(offer_events(market, ids, out.offers))
        if progress is not None:
            progress(len(ids))
    return values, (pd.concat(logs, ignore_index=True) if log_events else None)


def check_out_dir(out_dir: str | Path) -> Path:
    """Check that results can be written to ``out_dir`` (before a run, so that a mistake costs
    no run) and return the folder it will be made in.

    Raises
    ------
    UserError : ``out_dir`` is a file, its parent folder is missing, or it cannot be written.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    parent = out.resolve().parent
    if not parent.is_dir():
        raise UserError(f"--out {out}: parent folder {parent} does not exist")
    if not os.access(parent, os.W_OK) or (out.is_dir() and not os.access(out, os.W_OK)):
        raise UserError(f"--out {out}: cannot write in {out if out.is_dir() else parent}")
    return parent


def write_results(result: SimulationResult, out_dir: str | Path) -> list[Path]:
    """Write ``replications.parquet``, ``events.parquet`` (if any), ``comparison.parquet``
    and ``meta.json`` into ``out_dir``.

    Files are written into a temporary folder beside ``out_dir`` and moved into place only
    when all are complete, so a failure leaves nothing half-written.
    """
    out = Path(out_dir)
    parent = check_out_dir(out)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    try:
        result.replications.to_parquet(staging / "replications.parquet", index=False)
        if result.events is not None:
            result.events.to_parquet(staging / "events.parquet", index=False)
        pd.DataFrame(result.rows).to_parquet(staging / "comparison.parquet", index=False)
        (staging / "meta.json").write_text(
            json.dumps(result.meta | {"cascade": result.cascade}, indent=2, default=str) + "\n"
        )
        out.mkdir(exist_ok=True)
        written = []
        for f in sorted(staging.iterdir()):
            os.replace(f, out / f.name)
            written.append(out / f.name)
        stale = out / "events.parquet"
        if result.events is None and stale.exists():
            stale.unlink()  # from an earlier run; it would not match these replications
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)
