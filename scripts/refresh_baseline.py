"""Refresh the stored regression baseline, ``tests/baseline/autumn2024.json``.

The baseline is the exact outcome of fixed seeds and replications of the autumn 2024 round
with the default parameters: replications 0-63 on the CPU engine and 0-3 on the Mesa model,
for seeds 2024 and 7. ``tests/test_baseline.py`` recomputes it and compares every integer, so
that any change of a simulation outcome is seen. Refreshing it is a deliberate act: run this
script only when an outcome is meant to change, and say why in the commit.

Usage: ``python scripts/refresh_baseline.py`` (from the repository root; about 5 s).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np

from lis1abm import engine
from lis1abm.abm.model import LIS1Model
from lis1abm.data.round import load_round
from lis1abm.outcomes.tally import Tally
from lis1abm.params import DEFAULT_PARAMS, Params, load_params
from lis1abm.report.provenance import file_digest
from lis1abm.simulation.prepare import prepare

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "tests" / "baseline" / "autumn2024.json"
ROUND = "autumn2024"
SEEDS = (2024, 7)
CPU_REPLICATIONS = range(64)
MESA_REPLICATIONS = range(4)


def outcome(tally: Tally, counts: np.ndarray, cascade: np.ndarray, hired_ad: np.ndarray) -> dict:
    """The outcome of a batch of B replications as JSON-ready integers.

    Parameters
    ----------
    tally : the market's tally (its layout labels the values).
    counts : int64 (B, S): hires per slot of each replication.
    cascade : int64 (B, R, len(CASCADE_FIELDS)): the offer cascade of each replication.
    hired_ad : int64 (B, N): each applicant's ad, -1 if not hired.

    Returns
    -------
    ``hired_total``: total hires per replication (B,); ``summed``: every value of the tally
    (hires per breakdown and group, per ad and education group, the cascade per round),
    summed over the replications, keyed ``"breakdown | group | metric"``; ``cascade``: the
    cascade per replication, one ``R x fields`` list each; ``hired_ad_sha256``: SHA-256 of
    every applicant's ad in every replication (little-endian int64), so that a change of who
    is hired where is seen even when every count stays the same.
    """
    values = tally.values_from(counts, cascade).sum(axis=0)
    labels = tally.layout.itertuples(index=False)
    return {
        "hired_total": (hired_ad >= 0).sum(axis=1).tolist(),
        "summed": {f"{b} | {g} | {m}": int(v) for (b, g, m), v in zip(labels, values, strict=True)},
        "cascade": cascade.tolist(),
        "hired_ad_sha256": hashlib.sha256(hired_ad.astype("<i8").tobytes()).hexdigest(),
    }


def compute_seed(seed: int, params: Params) -> dict:
    """The baseline entry of one seed: the CPU engine's and the Mesa model's outcomes."""
    run = prepare(ROUND, params, seed=seed)
    tally = run.tally
    cpu = engine.run_cpu(
        run.arrays, seed, np.array(CPU_REPLICATIONS), run.rows, keep_applicants=True
    )
    runs = [
        LIS1Model(run.market, r, log_events=False, collect=False).run() for r in MESA_REPLICATIONS
    ]
    hired_ad = np.stack([run.hired_ad for run in runs])
    mesa_counts = np.stack([tally.hire_counts(h) for h in hired_ad])
    return {
        "seed": seed,
        "cpu": {
            "replications": [CPU_REPLICATIONS.start, CPU_REPLICATIONS.stop - 1],
            **outcome(tally, cpu.counts, cpu.cascade, cpu.hired_ad),
        },
        "mesa": {
            "replications": [MESA_REPLICATIONS.start, MESA_REPLICATIONS.stop - 1],
            **outcome(tally, mesa_counts, np.stack([run.cascade for run in runs]), hired_ad),
        },
    }


def compute(params: Params | None = None) -> dict:
    """The whole baseline: provenance (round and parameter files with their SHA-256) and one
    entry per seed of :data:`SEEDS`. ``params`` defaults to the default parameter file."""
    data = load_round(ROUND)
    return {
        "about": "exact outcomes; refresh only with scripts/refresh_baseline.py, deliberately",
        "round": ROUND,
        "round_file": Path(data.file).resolve().relative_to(ROOT).as_posix(),
        "round_sha256": file_digest(data.file),
        "params_file": DEFAULT_PARAMS.resolve().relative_to(ROOT).as_posix(),
        "params_sha256": file_digest(DEFAULT_PARAMS),
        "seeds": [compute_seed(seed, params or load_params()) for seed in SEEDS],
    }


def dumps(baseline: dict) -> str:
    """JSON with one line per list of integers (a cascade row, the totals), so that a diff of
    the baseline shows which rows changed."""
    text = json.dumps(baseline, indent=1)
    return re.sub(r"\[[-\d,\s]+\]", lambda m: re.sub(r"\s+", " ", m.group(0)), text) + "\n"


def main() -> None:
    baseline = compute()
    BASELINE.parent.mkdir(parents=True, exist_ok=True)
    tmp = BASELINE.with_suffix(".json.tmp")
    tmp.write_text(dumps(baseline))
    os.replace(tmp, BASELINE)  # never a half-written baseline
    print(f"wrote {BASELINE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
