"""The public API: ``import lis1abm`` gives the entry points, the Mesa model stands alone and
equals the CPU engine, and every run is prepared one way (:mod:`lis1abm.simulation.prepare`)."""

from __future__ import annotations

import numpy as np
import pytest

import lis1abm
from lis1abm.abm.agents import Ad, Applicant
from lis1abm.engine import run_cpu
from lis1abm.errors import ConfigError, UserError
from lis1abm.rules import CASCADE_FIELDS
from lis1abm.simulation.prepare import check_reps, check_seed, prepare


def test_public_names_are_the_packages_own():
    """Each public name is the object of the module that defines it, imported on demand."""
    from lis1abm import LIS1Model, calibrate, load_params, load_round, run_experiment, simulate
    from lis1abm.abm.model import LIS1Model as model_class
    from lis1abm.calibration.calibrate import calibrate as calibrate_function
    from lis1abm.experiments.runner import run_experiment as run_function
    from lis1abm.report.simulate import simulate as simulate_function

    assert LIS1Model is model_class and simulate is simulate_function
    assert calibrate is calibrate_function and run_experiment is run_function
    assert load_round("autumn2024").name == "autumn2024"
    assert load_params().behaviour is not None
    assert set(lis1abm.__all__) <= set(dir(lis1abm))
    with pytest.raises(AttributeError, match="no attribute 'simulat'"):
        lis1abm.simulat  # noqa: B018 (a typo must not pass silently)


@pytest.fixture(scope="module")
def standalone():
    """One replication of autumn 2024 with seed 1, Mesa building its own market."""
    model = lis1abm.LIS1Model(round="autumn2024", seed=1, log_events=False)
    model.run_model()
    return model


def test_standalone_model_equals_the_cpu_engine(standalone):
    """``LIS1Model(round=..., seed=1).run_model()`` gives the CPU engine's replication 0 of the
    run prepared with the same round and seed: every applicant's ad and round, and the
    cascade."""
    run = prepare("autumn2024", seed=1)
    assert standalone.market.seed == 1 and run.params == standalone.market.params
    result = run_cpu(run.arrays, run.seed, [0], run.rows, keep_applicants=True)
    outcome = standalone.outcome()
    np.testing.assert_array_equal(outcome.hired_ad, result.hired_ad[0])
    np.testing.assert_array_equal(outcome.hired_round, result.hired_round[0])
    np.testing.assert_array_equal(outcome.cascade, result.cascade[0])
    assert (outcome.hired_ad >= 0).sum() > 500  # not vacuous: most positions are filled


def test_datacollector_tables_hold_the_outcome(standalone):
    """The DataCollector's model table has a row per round played with the cascade; its agent
    tables end with each applicant's job and each ad's hires."""
    model_table = standalone.datacollector.get_model_vars_dataframe()
    played = len(model_table)
    assert model_table["round"].tolist() == list(range(1, played + 1))
    outcome = standalone.outcome()
    np.testing.assert_array_equal(
        model_table[list(CASCADE_FIELDS)].to_numpy(), outcome.cascade[:played]
    )
    # Rows indexed by (Step, AgentID); applicants are created first, in id order.
    people = standalone.datacollector.get_agenttype_vars_dataframe(Applicant).reset_index()
    last = people[people["Step"] == people["Step"].max()].sort_values("AgentID")
    assert len(last) == standalone.market.n_applicants
    np.testing.assert_array_equal(last["hired_ad"].to_numpy(), outcome.hired_ad)
    np.testing.assert_array_equal(last["hired_round"].to_numpy(), outcome.hired_round)
    # Marking can come one round late, so by the last round every hire is marked.
    assert last.loc[last["hired_ad"] >= 0, "marked"].all()
    ads = standalone.datacollector.get_agenttype_vars_dataframe(Ad).reset_index()
    final = ads[ads["Step"] == ads["Step"].max()]
    assert final["hires"].sum() == (outcome.hired_ad >= 0).sum()
    capacity = int(standalone.market.capacity.sum())
    assert final["open_positions"].sum() == capacity - final["hires"].sum()


def test_model_takes_a_market_or_its_inputs_not_both(market):
    with pytest.raises(ValueError, match="either a market or"):
        lis1abm.LIS1Model(market, round="autumn2024")


def test_prepare_applies_overrides_and_records_them_in_the_market():
    """An override changes the parameters of the run: a behaviour parameter reaches the
    engines through the parameter rows, not the market's arrays; the same inputs give the same
    market."""
    key = "behaviour.withdrawal_probability"
    base = prepare("autumn2024", seed=3)
    again = prepare("autumn2024", seed=3)
    changed = prepare("autumn2024", overrides={key: 0.3}, seed=3)
    assert base.market_sha256 == again.market_sha256
    assert changed.params.behaviour.withdrawal_probability == 0.3
    assert base.params.behaviour.withdrawal_probability != 0.3
    assert changed.market_sha256 == base.market_sha256
    assert not np.array_equal(changed.rows, base.rows)
    with pytest.raises(ConfigError):
        prepare("autumn2024", overrides={"behaviour.no_such_key": 1}, seed=3)


@pytest.mark.parametrize("seed", [-1, 2**63, 1.5, "1", True])
def test_bad_seed_is_a_user_error(seed):
    with pytest.raises(UserError, match="--seed must be an integer in"):
        check_seed(seed)


@pytest.mark.parametrize("reps", [0, -3, 2**32 + 1, 2.0])
def test_bad_replication_count_is_a_user_error(reps):
    with pytest.raises(UserError, match="--reps must be"):
        check_reps(reps)
