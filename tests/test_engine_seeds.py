"""The CPU engine equals the Mesa model on the full autumn 2024 market for root seeds across
their whole range, replication indices up to 2**32 - 1, and parameter sets far from the
defaults, offer by offer.

``tests/test_engine.py`` compares the two on one seed with the default parameters; here the
markets themselves differ (each seed draws its own population and applications) and the
behaviour thresholds are pushed high, so that rarely taken paths (waiting, late marking,
withdrawal, missed deadlines) are taken often.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_engine import assert_same_as_mesa

from lis1abm import engine
from lis1abm.market.ranking import Market, build_market

# Root seeds: both ends of [0, 2**63) and values on either side of 32-bit boundaries (the
# seed is the Philox key, two 32-bit words).
SEEDS = [0, 1, 2**32 - 1, 2**32, 2**62 + 12345, 2**63 - 1]
# Replication indices: both ends of [0, 2**32) and the 31-bit boundary.
REPLICATIONS = [0, 5, 2**31, 2**32 - 1]


def parameter_sets(market: Market) -> dict[str, Market]:
    """The market with its behaviour thresholds (q16) replaced: default, high waiting, high
    late marking, high withdrawal and missed deadlines, and all of them at once."""
    no_reply = np.full(market.n_rounds, 16000, dtype=np.int64)
    return {
        "default": market,
        "high wait": dataclasses.replace(market, wait_q16=58000),
        "high late": dataclasses.replace(market, late_q16=30000),
        "high withdrawal, no reply": dataclasses.replace(
            market, withdraw_q16=12000, no_reply_q16=no_reply
        ),
        "all high": dataclasses.replace(
            market, wait_q16=40000, late_q16=40000, withdraw_q16=8000, no_reply_q16=no_reply
        ),
    }


@pytest.mark.parametrize("seed", SEEDS)
def test_cpu_engine_equals_mesa_across_seeds_and_parameters(autumn, params, seed):
    """For each seed, one engine batch holds every (parameter set, replication) pair, each
    with its own parameter row; each replication equals the Mesa model run on the market with
    that set's thresholds."""
    market = build_market(autumn, params, seed)
    sets = parameter_sets(market)
    variants = [(name, rep) for name in sets for rep in REPLICATIONS]
    rows = np.concatenate([engine.param_rows(sets[name]) for name, _ in variants])
    reps = [rep for _, rep in variants]
    result = engine.run_cpu(
        engine.flatten(market), seed, reps, rows, keep_applicants=True, keep_offers=True
    )
    np.testing.assert_array_equal(result.replications, reps)  # the Mesa runs use these
    for b, (name, _) in enumerate(variants):
        assert_same_as_mesa(market, result, b, mesa_market=sets[name])
    # Not vacuous: the parameter sets change the outcome of the same replication (who is
    # hired where: with the rounds after the calendar every set may fill every position).
    hired = result.hired_ad.reshape(len(sets), len(REPLICATIONS), -1)
    assert (hired != hired[0]).any(axis=(1, 2))[1:].all()
