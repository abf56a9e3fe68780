"""Shared fixtures: the autumn 2024 round, default parameters and a market built once; and
the Hypothesis profiles."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

from lis1abm.data.round import load_round
from lis1abm.market.ranking import build_market
from lis1abm.params import load_params


@pytest.fixture(scope="session")
def autumn():
    return load_round("autumn2024")


@pytest.fixture(scope="session")
def params():
    return load_params()


@pytest.fixture(scope="session")
def market(autumn, params):
    return build_market(autumn, params, seed=2024)


# Hypothesis profiles. "ci" (loaded when the CI variable is set) makes every run draw the same
# examples (derandomize: a failure in CI is a failure of the code, never of the draw) and keeps
# no example database; "dev" (otherwise) explores new examples on every run and remembers
# failing ones. Tests that set max_examples keep theirs; deadline=None because the first
# example of a test compiles numba code. HYPOTHESIS_PROFILE=ci picks one by hand.
settings.register_profile("ci", derandomize=True, max_examples=100, deadline=None, database=None)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
