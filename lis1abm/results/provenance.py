"""Provenance recorded with every result: what ran, on what, with which inputs."""

from __future__ import annotations

import datetime as dt
import hashlib
import platform
import subprocess
import sys
from pathlib import Path

from lis1abm import __version__

PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=PACKAGE_ROOT, check=True, capture_output=True, text=True, timeout=10
    ).stdout.strip()


def git_commit() -> str | None:
    """The commit of the source tree, with '-dirty' when it has uncommitted changes; None
    outside a git checkout."""
    try:
        head = _git("rev-parse", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("-dirty" if dirty else "")


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def describe(**extra) -> dict:
    """Package version, git commit, Python, platform and time, plus ``extra``."""
    return {
        "package": "lis1abm",
        "version": __version__,
        "git_commit": git_commit(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **extra,
    }
