"""Shared fixtures: the autumn 2024 round, default parameters and a market built once."""

from __future__ import annotations

import pytest

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
