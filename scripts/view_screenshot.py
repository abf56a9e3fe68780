"""Take docs/view.png: `lis1abm view` in headless Chromium after a few offer rounds, and
time the view's start (command start until the page answers HTTP 200).

Usage: ``python scripts/view_screenshot.py [--rounds 3] [--seed 2024] [--chromium PATH]``
from the repository root, with the ``dev`` and ``viz`` extras installed and a Chromium on the
PATH (Debian: ``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="offer rounds to step")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--chromium", default=shutil.which("chromium"))
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "view.png")
    args = parser.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    start = time.monotonic()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lis1abm.cli",
            "view",
            "--seed",
            str(args.seed),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        cwd=ROOT,
    )
    try:
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if time.monotonic() - start > 60 or server.poll() is not None:
                    raise SystemExit("lis1abm view did not start") from None
                time.sleep(0.1)
        print(f"started in {time.monotonic() - start:.1f} s (command start to HTTP 200)")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1500, "height": 1250})
            page.goto(url)
            page.wait_for_selector("#view-status", timeout=60_000)
            for r in range(1, args.rounds + 1):
                page.get_by_role("button", name="Step").click()
                page.wait_for_selector(f'#view-status[data-round="{r}"]', timeout=30_000)
            time.sleep(1)  # the figures arrive after the status line
            page.screenshot(path=str(args.out), full_page=True)
            browser.close()
        print(f"wrote {args.out}")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
