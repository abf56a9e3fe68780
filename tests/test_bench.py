"""`lis1abm bench`: the JSON shape the issue asks for, the ratios, the saved record, errors.

Speed itself is not tested here (timed unit tests are noise); these runs are tiny.
"""

from __future__ import annotations

import json
import statistics
from types import SimpleNamespace

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
        # The figures agree with each other, whatever the timings were.
        assert r["seconds_median"] == statistics.median(r["seconds"])
        assert r["reps_per_s"] == r["replications"] / r["seconds_median"]
    rate = {name: b["reps_per_s"] for name, b in backends.items() if b is not None}
    assert result["ratios"]["cpu_over_mesa"] == rate["cpu"] / rate["mesa"]
    assert result["ratios"]["cpu_over_cpu_1thread"] == rate["cpu"] / rate["cpu_1thread"]
    assert result["ratios"]["cpu_1thread_over_mesa"] == rate["cpu_1thread"] / rate["mesa"]
    assert result["ratios"]["simulate_over_engine"] == rate["simulate"] / rate["cpu"]
    assert backends["mesa"]["replications"] == TINY["mesa_reps"]
    for name in ("cpu", "simulate"):
        assert backends[name]["replications"] == TINY["cpu_reps"]
    assert backends["cpu_1thread"]["threads"] == 1
    assert backends["cpu_1thread"]["replications"] == TINY["cpu_reps"] // 4
    if result["machine"]["gpu"] is None:
        assert all(backends[name] is None for name in bench.GPU_BACKENDS)
        assert result["machine"]["gpu_unavailable_because"]


# Seconds per replication of the fake engines below: Mesa, the CPU engine on one thread, on all.
FAKE_SECONDS = {"mesa": 0.05, "cpu_1thread": 0.01, "cpu": 0.0025}
# Each timed call of a backend takes its time per replication times this factor, call by call
# (slow spells of a shared machine). Their median, 1.75, is none of them and neither their
# mean (1.875), so only the median of the timings gives the rates expected below.
SLOW = (3.0, 1.0, 1.5, 2.0)


def test_rates_are_computed_from_the_timings(monkeypatch):
    """Each rate is the replications of a timed call over the median of its ``repeats``
    timings, and each ratio is the quotient of two reported rates, with the backends timed
    in turn after one warm-up each. No real time is measured: the Mesa model and the CPU engine
    are fakes that advance a fake clock (the bench's ``time.perf_counter``) by a known time per
    replication, times ``SLOW[k]`` for the k-th timed call, so every figure is known
    exactly."""
    import lis1abm.abm.model
    from lis1abm import engine

    clock = [0.0]
    order = []  # (backend, replications) of every call, warm-ups included
    mesa_runs = [0]

    def advance(name: str, reps: int, k: int) -> None:
        # k: the call's index among this backend's calls, 0 for the warm-up (not timed).
        factor = 1.0 if k == 0 else SLOW[k - 1]
        clock[0] += FAKE_SECONDS[name] * reps * factor

    class FakeModel:
        def __init__(self, market, replication, **kwargs):
            self.replication = replication

        def run(self):
            order.append(("mesa", self.replication))
            # The warm-up runs one replication, each timed call two (mesa_reps=2 below).
            k = 0 if mesa_runs[0] == 0 else 1 + (mesa_runs[0] - 1) // 2
            mesa_runs[0] += 1
            advance("mesa", 1, k)

    def fake_run_cpu(arrays, seed, replications, rows, *, threads=None, **kwargs):
        name = "cpu_1thread" if threads == 1 else "cpu"
        k = sum(1 for n, _ in order if n == name)
        order.append((name, len(replications)))
        advance(name, len(replications), k)

    monkeypatch.setattr(bench, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    monkeypatch.setattr(lis1abm.abm.model, "LIS1Model", FakeModel)
    monkeypatch.setattr(engine, "run_cpu", fake_run_cpu)
    repeats, cpu_reps = len(SLOW), 16
    r = bench.run_bench(
        mesa_reps=2, cpu_reps=cpu_reps, repeats=repeats, backends=("mesa", "cpu_1thread", "cpu")
    )
    reps = {"mesa": 2, "cpu_1thread": cpu_reps // 4, "cpu": cpu_reps}
    for name, seconds in FAKE_SECONDS.items():
        got = r["backends"][name]
        timings = [seconds * reps[name] * f for f in SLOW]
        assert got["replications"] == reps[name]
        assert got["seconds"] == pytest.approx(timings, rel=1e-9), name
        assert got["seconds_median"] == pytest.approx(1.75 * seconds * reps[name], rel=1e-9)
        assert got["reps_per_s"] == pytest.approx(1 / (1.75 * seconds), rel=1e-9), name
    assert r["backends"]["simulate"] is None
    assert all(r["backends"][name] is None for name in bench.GPU_BACKENDS)
    # Ratios of the rates: 0.05 / 0.0025 = 20, 0.01 / 0.0025 = 4, 0.05 / 0.01 = 5.
    ratios = r["ratios"]
    assert ratios["cpu_over_mesa"] == pytest.approx(20, rel=1e-9)
    assert ratios["cpu_over_cpu_1thread"] == pytest.approx(4, rel=1e-9)
    assert ratios["cpu_1thread_over_mesa"] == pytest.approx(5, rel=1e-9)
    assert ratios["simulate_over_engine"] is None and ratios["cuda_over_cpu"] is None
    # One warm-up of each, then the backends in turn, `repeats` times.
    warm_up = [("mesa", 0), ("cpu_1thread", 64), ("cpu", 64)]
    timed = [("mesa", 0), ("mesa", 1), ("cpu_1thread", cpu_reps // 4), ("cpu", cpu_reps)]
    assert order == warm_up + timed * repeats


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
