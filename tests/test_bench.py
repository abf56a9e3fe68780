"""`lis1abm bench`: the JSON shape the issue asks for, the ratios, the saved record, errors.

Speed itself is not tested here (timed unit tests are noise); these runs are tiny.
"""

from __future__ import annotations

import json

import pytest

from lis1abm.cli import main
from lis1abm.report import bench

TINY = {"mesa_reps": 1, "cpu_reps": 16, "cuda_reps": 16, "repeats": 2}


@pytest.fixture(scope="module")
def result():
    return bench.run_bench(**TINY)


def test_every_backend_is_reported(result):
    backends = result["backends"]
    assert set(backends) == {"mesa", "cpu_1thread", "cpu", "simulate", *bench.GPU_BACKENDS}
    for name in ("mesa", "cpu_1thread", "cpu", "simulate"):
        r = backends[name]
        assert r["reps_per_s"] > 0
        assert len(r["seconds"]) == TINY["repeats"]
    assert backends["cpu_1thread"]["threads"] == 1
    assert backends["cpu_1thread"]["replications"] == TINY["cpu_reps"] // 4
    if result["machine"]["gpu"] is None:
        assert all(backends[name] is None for name in bench.GPU_BACKENDS)
        assert result["machine"]["gpu_unavailable_because"]


# Seconds per replication of the fake engines below: Mesa, the CPU engine on one thread, on all.
FAKE_SECONDS = {"mesa": 0.05, "cpu_1thread": 0.01, "cpu": 0.0025}


def test_rates_come_from_timed_runs_of_the_engines(monkeypatch):
    """The rates are timings of real calls of each backend: with the Mesa model and the CPU
    engine replaced by fakes that take a known time per replication (and count what they are
    asked to run), the bench reports those rates and their ratios, and ran every replication
    it reports, ``repeats`` times after one warm-up."""
    import time

    import lis1abm.abm.model
    from lis1abm import engine

    calls = {name: [] for name in FAKE_SECONDS}

    class FakeModel:
        def __init__(self, market, replication, **kwargs):
            self.replication = replication

        def run(self):
            calls["mesa"].append(self.replication)
            time.sleep(FAKE_SECONDS["mesa"])

    def fake_run_cpu(arrays, seed, replications, rows, *, threads=None, **kwargs):
        name = "cpu_1thread" if threads == 1 else "cpu"
        calls[name].append(len(replications))
        time.sleep(FAKE_SECONDS[name] * len(replications))

    monkeypatch.setattr(lis1abm.abm.model, "LIS1Model", FakeModel)
    monkeypatch.setattr(engine, "run_cpu", fake_run_cpu)
    repeats, cpu_reps = 3, 16
    r = bench.run_bench(
        mesa_reps=2, cpu_reps=cpu_reps, repeats=repeats, backends=("mesa", "cpu_1thread", "cpu")
    )
    rates = {name: r["backends"][name]["reps_per_s"] for name in FAKE_SECONDS}
    for name, seconds in FAKE_SECONDS.items():
        # A sleep never ends early; on a busy machine it may end late (hence 30 %).
        assert 0.7 / seconds < rates[name] <= 1 / seconds, (name, rates[name])
    assert r["ratios"]["cpu_over_mesa"] == pytest.approx(20, rel=0.4)
    assert r["ratios"]["cpu_over_cpu_1thread"] == pytest.approx(4, rel=0.4)
    assert r["ratios"]["cpu_1thread_over_mesa"] == pytest.approx(5, rel=0.4)
    # One warm-up call, then `repeats` timed calls of the replications reported.
    assert calls["mesa"] == [0] + [0, 1] * repeats
    assert calls["cpu_1thread"] == [64] + [cpu_reps // 4] * repeats
    assert calls["cpu"] == [64] + [cpu_reps] * repeats


def test_missing_gpu_leaves_cuda_ratios_empty(result):
    if result["backends"]["cuda"] is None:
        assert result["ratios"]["cuda_over_cpu"] is None
        assert result["ratios"]["cuda_over_mesa"] is None
        assert result["ratios"]["cuda_block_over_thread_kernel"] is None


def test_only_the_backends_asked_for():
    r = bench.run_bench(**TINY, backends=("cpu_1thread",))
    assert r["backends"]["cpu_1thread"] is not None
    assert r["backends"]["mesa"] is None and r["backends"]["cpu"] is None
    assert r["ratios"]["cpu_over_mesa"] is None


def test_saved_record_round_trips(result, tmp_path):
    path = bench.save(result, tmp_path)
    assert path.parent == tmp_path and path.name.startswith("bench-")
    assert json.loads(path.read_text()) == json.loads(json.dumps(result))
    assert not list(tmp_path.glob("*.tmp"))  # written whole, then renamed


def test_cli_json(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["bench", "--json", "--no-save", "--mesa-reps", "1", "--cpu-reps", "8"])
    out, _ = capsys.readouterr()
    assert stop.value.code in (0, None)
    data = json.loads(out)
    assert set(data["backends"]) == {"mesa", "cpu_1thread", "cpu", "simulate", *bench.GPU_BACKENDS}
    assert data["saved_to"] is None
    assert {"cpu", "cpu_count", "numba_threads", "gpu"} <= set(data["machine"])


def test_cli_bad_reps_is_one_line(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["bench", "--no-save", "--cpu-reps", "0"])
    out, err = capsys.readouterr()
    assert stop.value.code == 2
    assert err.strip().count("\n") == 0 and "--cpu-reps must be at least 1" in err
