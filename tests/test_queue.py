"""The queue across rounds: conservation, the engines' identical queues, reproducibility, the
effect of capacity (as an average) and the order of the education groups."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_cuda import run_under_simulator

from lis1abm.data.history import load_history
from lis1abm.errors import ConfigError
from lis1abm.market.population import build_population
from lis1abm.queue import QueueSettings, Sequence, play_chain
from lis1abm.queue.people import base_applicants, half_a_year_on
from lis1abm.queue.schedule import backcast, projection
from lis1abm.queue.sequence import ROUND_COUNTS

SHORT = QueueSettings(rounds=3)
TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def short_sequence():
    return Sequence.of(SHORT)


@pytest.fixture(scope="module")
def chain(short_sequence):
    return play_chain(short_sequence, 11, 0)


def _by_round(result, group="all") -> pd.DataFrame:
    rounds = result.rounds
    return rounds[rounds["group"] == group].set_index("round")


@pytest.mark.parametrize("group", ["all", "Norway", "EEA+UK", "Outside EEA"])
def test_conservation_round_by_round(chain, group):
    """applicants = new + returning; not hired = applicants - hired = returning next round +
    leaving; every person who applied ends once (hired, left or waiting)."""
    r = _by_round(chain, group)
    assert (r["applicants"] == r["new"] + r["returning"]).all()
    assert (r["not_hired"] == r["applicants"] - r["hired"]).all()
    for t in r.index[:-1]:
        assert r.loc[t, "not_hired"] == r.loc[t + 1, "returning"] + r.loc[t, "leaving"]
    people = chain.people
    if group != "all":
        people = people[people["education_group"] == group]
    assert people["person"].is_unique
    assert len(people) == r["new"].sum()
    ended = people.groupby(["ended", "outcome"]).size()
    for t in r.index:
        assert ended.get((t, "hired"), 0) == r.loc[t, "hired"]
        assert ended.get((t, "left"), 0) == r.loc[t, "leaving"]
    # A calendar year of graduation, at the latest the last round's (the chain ends in 2026).
    assert people["graduated"].between(1950, 2026).all()
    waiting = ended.get((r.index[-1], "waiting"), 0)
    assert waiting == r.loc[r.index[-1], "not_hired"] - r.loc[r.index[-1], "leaving"]


def test_groups_add_up(chain):
    rounds = chain.rounds
    parts = rounds[rounds["group"] != "all"].groupby("round")[list(ROUND_COUNTS)].sum()
    whole = rounds[rounds["group"] == "all"].set_index("round")[list(ROUND_COUNTS)]
    pd.testing.assert_frame_equal(parts, whole, check_names=False)


def test_base_round_is_the_calibrated_round(chain):
    """Round 0 is autumn 2024 as simulate plays it: 932 applicants, the report's 606 hires."""
    r = _by_round(chain)
    assert r.loc[0, "applicants"] == 932
    assert r.loc[0, "hired"] == 606
    assert r.loc[0, "label"] == "autumn2024"
    assert list(r["label"]) == ["autumn2024", "spring2025", "autumn2025", "spring2026"]
    assert (r.loc[1:, "hired"] <= 609).all()


@pytest.mark.slow
def test_mesa_and_cpu_give_the_same_queue(short_sequence, chain):
    """The same seed and chain give the same queue on the Mesa model as on the compiled CPU
    engine, over four rounds: every count and every person's outcome."""
    mesa = play_chain(short_sequence, 11, 0, "mesa")
    pd.testing.assert_frame_equal(mesa.rounds, chain.rounds)
    pd.testing.assert_frame_equal(mesa.people, chain.people)


def test_a_chain_is_a_pure_function_of_seed_and_chain(short_sequence, chain):
    again = play_chain(short_sequence, 11, 0)
    pd.testing.assert_frame_equal(again.rounds, chain.rounds)
    other = play_chain(short_sequence, 11, 1)
    assert not other.people["rounds_applied"].equals(chain.people["rounds_applied"])


def test_people_move_on_half_a_year(short_sequence):
    """A returning applicant has one more round applied, is half a year older and further
    from graduation (some into an older graduation period)."""
    data = short_sequence.base
    before = base_applicants(build_population(data, short_sequence.params, 3))
    after = half_a_year_on(before, data)
    assert (after["rounds_applied"] == before["rounds_applied"] + 1).all()
    assert np.allclose(after["age"], before["age"] + 0.5)
    assert np.allclose(after["years_since_graduation"], before["years_since_graduation"] + 0.5)
    assert (after["period_index"] >= before["period_index"]).all()
    assert (after["period_index"] > before["period_index"]).any()
    assert (after["proficiency"] == before["proficiency"]).all()  # no gain by default
    learnt = half_a_year_on(before, data, proficiency_gain=0.1)
    assert np.allclose(learnt["proficiency"], np.minimum(before["proficiency"] + 0.1, 1.0))
    assert (before["proficiency"] > 0.9).any()  # some reach the cap


def test_proficiency_gain_lets_the_unqualified_qualify():
    """With a gain, fewer of those on no ranked list stay unlisted round after round: more of
    the waiting are hired after the base round than without (same seed and chain)."""
    hired = {}
    for gain in (0.0, 0.1):
        result = play_chain(Sequence.of(QueueSettings(rounds=3, proficiency_gain=gain)), 11, 0)
        people = result.people
        later = (people["entered"] == 0) & (people["ended"] > 0)
        hired[gain] = int((later & (people["outcome"] == "hired")).sum())
    assert hired[0.1] > hired[0.0]


@pytest.mark.slow
def test_more_positions_shrink_the_pool_on_average():
    """More positions lower the pool waiting in the long run, as a mean over chains. In a
    single chain one more position can, rarely, leave one more applicant waiting (a chain of
    declines ends elsewhere); over 4 chains and 200 more positions the mean must fall."""
    waiting = {}
    for positions in (609, 809):
        sequence = Sequence.of(QueueSettings(rounds=6, positions=positions))
        tables = [play_chain(sequence, 5, c).rounds for c in range(4)]
        r = pd.concat(tables)
        r = r[(r["group"] == "all") & (r["round"] >= 5)]
        waiting[positions] = (r["not_hired"] - r["leaving"]).mean()
    assert waiting[809] < waiting[609]


@pytest.mark.slow
def test_time_to_a_position_by_group_is_ordered_as_the_data_say():
    """Of the applicants entering 2025-2026, the Norway-educated are hired most and leave
    least, those educated outside the EEA are hired least and leave most (the report's hire
    rates: 81 %, 64 %, 24 % in autumn 2024)."""
    sequence = Sequence.of(QueueSettings(rounds=8))
    people = pd.concat([play_chain(sequence, 7, c).people for c in range(2)])
    entrants = people[people["entered"].between(1, 4)]
    hired = entrants.groupby("education_group")["outcome"].apply(lambda o: (o == "hired").mean())
    left = entrants.groupby("education_group")["outcome"].apply(lambda o: (o == "left").mean())
    assert hired["Norway"] > hired["EEA+UK"] > hired["Outside EEA"]
    assert left["Norway"] < left["EEA+UK"] < left["Outside EEA"]


def test_projection_schedule():
    specs = projection(QueueSettings(rounds=22))
    assert specs[0].label == "autumn2024" and specs[0].positions is None
    assert [s.label for s in specs[1:3]] == ["spring2025", "autumn2025"]
    assert specs[-1].label == "autumn2035"
    assert all(s.positions == 609 for s in specs[1:])
    spring, autumn = specs[1].inflow, specs[2].inflow
    assert all(spring[c] > autumn[c] for c in spring)


def test_backcast_schedule():
    settings = QueueSettings(
        burn_in=4, inflow_then={"Norway": 0.9, "EEA+UK": 0.7, "Outside EEA": 0.7}
    )
    specs = backcast(settings, load_history())
    labels = [s.label for s in specs]
    assert labels[:5] == ["spring2011", "autumn2011", "spring2012", "autumn2012", "spring2013"]
    assert labels[-1] == "autumn2024"
    assert not any(s.counted for s in specs[:4]) and all(s.counted for s in specs[4:])
    by_label = {s.label: s for s in specs}
    assert by_label["autumn2019"].positions == 475
    assert by_label["autumn2024"].positions == 609
    # Inflow moves from the 2013 level to 1 in 2024, group by group.
    assert by_label["autumn2013"].inflow["Norway x EEA+UK"] == pytest.approx(0.7)
    assert by_label["autumn2024"].inflow["Norway x EEA+UK"] == pytest.approx(1.0)


def test_settings_refuse_unknown_groups():
    with pytest.raises(ValueError, match="inflow_growth: unknown group"):
        QueueSettings(inflow_growth={"Norway x Mars": 1.2})
    with pytest.raises(ValueError, match="return_probability"):
        QueueSettings(return_probability={"Norway": 0.5})
    with pytest.raises(ValueError, match="return_factor_nationality: unknown group"):
        QueueSettings(return_factor_nationality={"Nordic": 0.5})


def test_return_chance_by_group_rounds_list_and_nationality():
    """The chance multiplies the education group's probability, the decay per earlier round,
    the nationality group's factor (1 where not named), the unlisted factor; capped at 1
    before the unlisted factor."""
    settings = QueueSettings(
        return_probability={"Norway": 0.5, "EEA+UK": 0.6, "Outside EEA": 0.9},
        return_decay=1.2,
        return_factor_unlisted=0.5,
        return_factor_nationality={"Outside EEA": 0.5},
    )
    chance = settings.return_chance(
        np.array(["Norway", "EEA+UK", "Outside EEA", "Outside EEA"]),
        np.array(["Norway", "EEA+UK", "Outside EEA", "Norway"]),
        np.array([1, 2, 1, 9]),
        np.array([True, True, False, False]),
    )
    assert chance == pytest.approx([0.5, 0.72, 0.9 * 0.5 * 0.5, 1.0 * 0.5])


def test_queue_ranking_weights_rank_the_rounds_after_the_base(chain):
    """The queue's ranking weights replace the calibrated ones in the rounds after the base
    round only: the base round is played as before; with outside-EEA nationals ranked far
    higher, more of them are hired after it. A path the parameters lack is refused."""
    favoured = QueueSettings(rounds=3, ranking={"nationality_weight.Outside EEA": 3.0})
    other = play_chain(Sequence.of(favoured), 11, 0)
    assert Sequence.of(favoured).round_params.ranking.nationality_weight["Outside EEA"] == 3.0

    def outside_hired(result, base: bool) -> int:
        people = result.people
        in_base = (people["ended"] == 0) == base
        mine = (people["nationality_group"] == "Outside EEA") & (people["outcome"] == "hired")
        return int((mine & in_base).sum())

    assert outside_hired(other, base=True) == outside_hired(chain, base=True)
    assert outside_hired(other, base=False) > outside_hired(chain, base=False)
    with pytest.raises(ConfigError, match="education_weight"):
        Sequence.of(QueueSettings(rounds=3, ranking={"education_weight.Mars": 1.0}))


@pytest.mark.slow
def test_gpu_kernels_give_the_same_queue_under_the_simulator(tmp_path, chain):
    """tests/queue_sim_check.py, with numba's CUDA simulator switched on before numba is
    imported: the chain played on the GPU engine (the block kernel it picks for a round's
    market) and on the thread kernel is the CPU engine's, over four rounds: every count and
    every person's outcome."""
    command = [sys.executable, str(TESTS / "queue_sim_check.py"), str(tmp_path)]
    proc = run_under_simulator(command, timeout=900, cwd=TESTS.parent)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    expected = {"picked": "run_cuda_block", "thread": "run_cuda"}
    for name, kernel in expected.items():
        launches = (tmp_path / f"{name}_launches.txt").read_text().split()
        assert launches == [kernel] * 4, f"{name}: {launches}"
        rounds = pd.read_pickle(tmp_path / f"{name}_rounds.pkl")
        people = pd.read_pickle(tmp_path / f"{name}_people.pkl")
        pd.testing.assert_frame_equal(rounds, chain.rounds)
        pd.testing.assert_frame_equal(people, chain.people)


@pytest.mark.gpu
def test_gpu_gives_the_same_queue(short_sequence, chain):
    """On a machine with a GPU: the CUDA engine plays the same queue as the CPU engine."""
    from lis1abm.engine.backends import gpu_status

    ok, why = gpu_status()
    if not ok:
        pytest.skip(why)
    gpu = play_chain(short_sequence, 11, 0, "cuda")
    pd.testing.assert_frame_equal(gpu.rounds, chain.rounds)
    pd.testing.assert_frame_equal(gpu.people, chain.people)
