"""`lis1abm view`: the model it rebuilds, its errors, and the page itself in a real browser
(headless Chromium driven by Playwright), against `lis1abm simulate --backend mesa`."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from lis1abm.abm.model import LIS1Model
from lis1abm.data.round import GROUPS
from lis1abm.params import load_params

SEED = 7
ROOT = Path(__file__).resolve().parents[1]


def lis1abm(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """The command line in a subprocess (the view's server must not share pytest's process,
    its warnings filters or its event loop)."""
    return subprocess.run(
        [sys.executable, "-m", "lis1abm.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chromium() -> str | None:
    """A Chromium of the system (Playwright's own browser download is not used)."""
    found = os.environ.get("LIS1ABM_CHROMIUM") or shutil.which("chromium")
    return found or shutil.which("chromium-browser")


# -- the model the page rebuilds (no browser, no server) -----------------------------------


def test_view_model_is_the_engines_replication_0():
    from lis1abm.viz.model import ViewModel

    view, plain = ViewModel(seed=SEED), LIS1Model(seed=SEED)
    assert view.overrides == {}
    view.run(), plain.run()
    assert np.array_equal(view.outcome().hired_ad, plain.outcome().hired_ad)
    by_education = view.hires_by_round("education")
    assert sum(int(v[-1]) for v in by_education.values()) == int((view.hired_round > 0).sum())


def test_sliders_become_overrides_and_scaled_positions():
    from lis1abm.viz.model import ViewModel

    model = ViewModel(seed=SEED, withdrawal=0.2, total_positions=650)
    assert model.overrides == {
        "behaviour.withdrawal_probability": 0.2,
        "capacity.rule": "positions",
    }
    assert model.hires_possible == 650
    assert model.market.params.behaviour.withdrawal_probability == 0.2
    # The browser's sliders snap the file's values (withdrawal 0.1009 and waiting 0.5122 in
    # the calibration of 2026-12-04) to their grid of 0.01: still the file's values, and the
    # file's replication.
    file = load_params(model.market.params.file).behaviour  # the round's calibrated file
    snapped = ViewModel(
        seed=SEED,
        withdrawal=round(file.withdrawal_probability, 2),
        waiting=round(file.wait_probability_max, 2),
        late_marking=round(file.late_marking_probability, 2),
    )
    assert snapped.overrides == {}


# Solara checks the rules of hooks of Mesa's components on import and warns about one.
@pytest.mark.filterwarnings("ignore:Failed to validate hooks:UserWarning")
def test_fates_follow_the_ranked_list():
    pytest.importorskip("solara", reason="needs the viz extra")
    from lis1abm.viz.model import ViewModel
    from lis1abm.viz.ranked_list import fates

    model = ViewModel(seed=SEED)
    model.run()
    for ad in (0, 24):
        rows = fates(model, ad)
        assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
        accepted = sum("accepted" in r[4] for r in rows)
        assert accepted == len(model.ad_list[ad].hires)


def test_the_command_line_imports_the_view_only_when_it_runs():
    """`lis1abm --help` and every other command stay free of Solara's seconds of imports."""
    code = (
        "import sys, lis1abm.cli.app; print(sorted({'solara', 'lis1abm.viz'} & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# -- errors: one line and exit code 2 ------------------------------------------------------


def test_a_port_in_use_is_one_line():
    pytest.importorskip("solara", reason="needs the viz extra")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = lis1abm("view", "--port", str(port))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"lis1abm: error: --port: 127.0.0.1:{port} is in use; choose another --port"
    ]


def test_a_bad_round_file_is_one_line(tmp_path):
    pytest.importorskip("solara", reason="needs the viz extra")
    bad = tmp_path / "round.toml"
    text = (ROOT / "configs/rounds/autumn2024.toml").read_text(encoding="utf-8")
    bad.write_text(text.replace("lat = 59.93\n", "lat = 95.0\n", 1), encoding="utf-8")
    done = lis1abm("view", "--round", str(bad), "--port", str(free_port()))
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("lis1abm: error: ") and "ads[0].lat" in line


# -- the page in a browser -----------------------------------------------------------------


@contextmanager
def view_server(log: Path, *args: str, startup: float = 60):
    """`lis1abm view` on a free port (its output to ``log``, a file: a pipe nobody reads
    could fill and stop the server), until the page answers; always stopped."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "lis1abm.cli", "view", "--port", str(port), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    try:
        deadline = time.monotonic() + startup
        while True:
            if server.poll() is not None:
                pytest.fail(f"lis1abm view exited: {log.read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"lis1abm view did not answer within {startup} s")
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def status(page) -> dict[str, str]:
    """The page's ``#view-status`` data attributes."""
    return page.locator("#view-status").evaluate("e => Object.assign({}, e.dataset)")


def wait_for_status(page, timeout_ms: int = 30_000, **want: str) -> dict[str, str]:
    """Wait until every ``data-<key>`` of ``#view-status`` has the wanted value."""
    condition = " && ".join(f"e.dataset.{k} === {json.dumps(v)}" for k, v in want.items())
    page.wait_for_function(
        f"() => {{ const e = document.querySelector('#view-status'); return e && {condition}; }}",
        timeout=timeout_ms,
    )
    return status(page)


def page_hires(page, breakdown: str) -> dict[str, int]:
    cells = page.locator(f'#hires-by-group tr[data-breakdown="{breakdown}"]')
    return {
        cells.nth(i).get_attribute("data-group"): int(cells.nth(i).locator("td.sim").inner_text())
        for i in range(cells.count())
    }


@pytest.mark.slow
def test_the_page_steps_to_the_simulated_hires_and_a_slider_rebuilds_it(tmp_path):
    """Step through every round in the browser; the hires by education and nationality
    group equal `simulate --backend mesa --reps 1` with the same seed; Reset and Play give
    them again. Then one step of the total-positions slider and Reset: the page shows a model
    with one more position."""
    pytest.importorskip("solara", reason="needs the viz extra: pip install -e '.[viz]'")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="needs Playwright: pip install -e '.[dev]'"
    )
    browser_path = chromium()
    if browser_path is None:
        pytest.skip("needs a Chromium (apt-get install chromium, or set LIS1ABM_CHROMIUM)")

    simulated = lis1abm(
        "simulate", "--backend", "mesa", "--reps", "1", "--seed", str(SEED), "--json"
    )
    assert simulated.returncode == 0, simulated.stderr
    want = {
        (row["breakdown"], row["group"]): int(row["sim_hired_mean"])
        for row in json.loads(simulated.stdout)["rows"]
        if row["breakdown"] in ("education", "nationality")
    }

    log = tmp_path / "view.log"
    with view_server(log, "--seed", str(SEED)) as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1300})
            page.set_default_timeout(30_000)
            page.goto(url)
            state = wait_for_status(page, timeout_ms=60_000, round="0", overrides="0")
            positions = int(state["positions"])
            step = page.get_by_role("button", name="Step")
            for r in range(1, 60):  # at most 13 rounds; the bound only stops a runaway loop
                step.click()
                state = wait_for_status(page, round=str(r))
                if state["running"] == "false":
                    break
            assert state["running"] == "false"
            assert step.is_disabled()
            for breakdown in ("education", "nationality"):
                shown = page_hires(page, breakdown)
                assert shown == {g: want[breakdown, g] for g in GROUPS}, breakdown
            page.screenshot(path=str(tmp_path / "view.png"))

            # Reset and Play: the same replication again, played to its end by Mesa's timer.
            page.get_by_role("button", name="Reset").click()
            wait_for_status(page, round="0", running="true", overrides="0")
            page.get_by_role("button", name="▶").click()
            wait_for_status(page, timeout_ms=60_000, running="false")
            assert page_hires(page, "education") == {g: want["education", g] for g in GROUPS}

            slider = (
                page.locator(".v-input").filter(has_text="Total positions").locator("[role=slider]")
            )
            slider.focus()
            page.keyboard.press("ArrowRight")
            page.get_by_role("button", name="Reset").click()
            state = wait_for_status(page, round="0", positions=str(positions + 1))
            assert state["hired"] == "0"
            assert "hires possible" in page.locator("#view-status").inner_text()
        finally:
            browser.close()
