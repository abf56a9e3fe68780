"""`lis1abm bench`: the JSON shape the issue asks for, the ratios, the saved record, errors.

Speed itself is not tested here (timed unit tests are noise); these runs are tiny.
"""

from __future__ import annotations

import json

import pytest

from lis1abm.cli import main
from lis1abm.simulation import bench

TINY = {"mesa_reps": 1, "cpu_reps": 16, "cuda_reps": 16, "repeats": 2}


@pytest.fixture(scope="module")
def result():
    return bench.run_bench(**TINY)


def test_every_backend_is_reported(result):
    backends = result["backends"]
    assert set(backends) == {"mesa", "cpu_1thread", "cpu", "simulate", "cuda"}
    for name in ("mesa", "cpu_1thread", "cpu", "simulate"):
        r = backends[name]
        assert r["reps_per_s"] > 0
        assert len(r["seconds"]) == TINY["repeats"]
        assert r["reps_per_s"] == pytest.approx(r["replications"] / r["seconds_median"])
    assert backends["cpu_1thread"]["threads"] == 1
    assert backends["cpu_1thread"]["replications"] == TINY["cpu_reps"] // 4
    if result["machine"]["gpu"] is None:
        assert backends["cuda"] is None
        assert result["machine"]["gpu_unavailable_because"]


def test_ratios_are_of_the_same_run(result):
    rate = {k: v["reps_per_s"] for k, v in result["backends"].items() if v}
    ratios = result["ratios"]
    assert ratios["cpu_over_mesa"] == pytest.approx(rate["cpu"] / rate["mesa"])
    assert ratios["cpu_over_cpu_1thread"] == pytest.approx(rate["cpu"] / rate["cpu_1thread"])
    assert ratios["simulate_over_engine"] == pytest.approx(rate["simulate"] / rate["cpu"])
    if result["backends"]["cuda"] is None:
        assert ratios["cuda_over_cpu"] is None and ratios["cuda_over_mesa"] is None


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
    assert set(data["backends"]) == {"mesa", "cpu_1thread", "cpu", "simulate", "cuda"}
    assert data["saved_to"] is None
    assert {"cpu", "cpu_count", "numba_threads", "gpu"} <= set(data["machine"])


def test_cli_bad_reps_is_one_line(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["bench", "--no-save", "--cpu-reps", "0"])
    out, err = capsys.readouterr()
    assert stop.value.code == 2
    assert err.strip().count("\n") == 0 and "--cpu-reps must be at least 1" in err
