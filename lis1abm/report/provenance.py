"""Provenance recorded with every result: what ran, on what, with which inputs."""

from __future__ import annotations

import datetime as dt
import hashlib
import platform
import subprocess
import sys
import tomllib
from pathlib import Path

from lis1abm.data.files import configs_dir
from lis1abm.version import __version__

PACKAGE_DIR = Path(__file__).resolve().parents[1]
"""The folder of the ``lis1abm`` package that is running (a checkout's, or site-packages')."""


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=PACKAGE_DIR, check=True, capture_output=True, text=True, timeout=10
    ).stdout.strip()


def _is_project_checkout(root: Path) -> bool:
    """True when ``root`` is lis1abm's own checkout and the running package is its source
    folder (not a copy installed in a virtual environment inside it)."""
    try:
        project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    name = project.get("project", {}).get("name")
    return name == "lis1abm" and (root / "lis1abm").resolve() == PACKAGE_DIR


def git_commit() -> str | None:
    """The commit of the source tree, with '-dirty' when it has uncommitted changes.

    None unless the running package is the source folder of a lis1abm git checkout: an
    installed package (site-packages) may sit inside some other repository, whose commit says
    nothing about this code.
    """
    try:
        root = Path(_git("rev-parse", "--show-toplevel"))
        if not _is_project_checkout(root):
            return None
        head = _git("rev-parse", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("-dirty" if dirty else "")


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def recorded_path(path: str | Path) -> str:
    """How a result records a file it read, without the folders of the machine it ran on: a
    built-in file as ``configs/<kind>/<name>`` (its place in the repository; the package
    ships the same files), a file under the current directory relative to it, any other
    file as its absolute path."""
    path = Path(path).resolve()
    try:
        return (Path("configs") / path.relative_to(configs_dir().resolve())).as_posix()
    except (ValueError, RuntimeError):
        pass
    try:
        return path.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def describe(**extra) -> dict:
    """Package version, git commit, Python, platform and time, plus ``extra`` (every
    ``*_file`` value recorded with :func:`recorded_path`)."""
    extra = {
        k: recorded_path(v) if k.endswith("_file") and isinstance(v, str | Path) else v
        for k, v in extra.items()
    }
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
