"""The package works installed from a wheel, run from any directory.

Built-in rounds and parameters ship inside the package; results go where the user says (the
current directory by default), never into the package folder; provenance reports a git commit
only for the project's own checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from lis1abm.cli import main
from lis1abm.report import bench, provenance

ROOT = Path(__file__).resolve().parents[1]
BUILD_INPUTS = ("pyproject.toml", "README.md", "lis1abm", "configs")
"""What setuptools reads to build the wheel."""


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.org", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def _repo(root: Path, project_name: str) -> Path:
    """A git repository at ``root`` with one commit of a pyproject naming ``project_name``."""
    root.mkdir(parents=True, exist_ok=True)
    _git(root, "init", "-q")
    (root / "pyproject.toml").write_text(f'[project]\nname = "{project_name}"\n')
    _git(root, "add", "pyproject.toml")
    _git(root, "commit", "-qm", "first")
    return root


@pytest.mark.parametrize(
    ("project_name", "package_dir"),
    [
        ("other", "lis1abm"),  # pip install --target . in some other project's checkout
        ("lis1abm", ".venv/lib/site-packages/lis1abm"),  # a wheel install inside our checkout
    ],
)
def test_no_commit_for_an_installed_package(tmp_path, monkeypatch, project_name, package_dir):
    repo = _repo(tmp_path / "repo", project_name)
    (repo / package_dir).mkdir(parents=True)
    monkeypatch.setattr(provenance, "PACKAGE_DIR", (repo / package_dir).resolve())
    assert provenance.git_commit() is None


def test_commit_of_the_projects_checkout(tmp_path, monkeypatch):
    repo = _repo(tmp_path / "repo", "lis1abm")
    (repo / "lis1abm").mkdir()
    monkeypatch.setattr(provenance, "PACKAGE_DIR", (repo / "lis1abm").resolve())
    head = _git(repo, "rev-parse", "HEAD")
    assert provenance.git_commit() == head
    (repo / "pyproject.toml").write_text('[project]\nname = "lis1abm"\nversion = "0"\n')
    assert provenance.git_commit() == head + "-dirty"


def test_bench_record_goes_to_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    record = {"meta": {"timestamp": "2026-01-02T03:04:05+00:00"}, "machine": {"hostname": "h"}}
    path = bench.save(record)
    assert path.resolve().parent == tmp_path / "results" / "bench"
    assert json.loads(path.read_text()) == record


def test_bench_save_dir(tmp_path, capsys):
    folder = tmp_path / "records"
    with pytest.raises(SystemExit) as stop:
        main(
            ["bench", "--json", "--mesa-reps", "1", "--cpu-reps", "8", "--repeats", "1"]
            + ["--save-dir", str(folder)]
        )
    out, _ = capsys.readouterr()
    assert stop.value.code in (0, None)
    saved = Path(json.loads(out)["saved_to"])
    assert saved.parent == folder and saved.is_file()


def test_bad_save_dir_fails_before_the_timings(tmp_path, capsys, monkeypatch):
    def timed(**_):
        raise AssertionError("the bench ran before the folder was checked")

    monkeypatch.setattr(bench, "run_bench", timed)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SystemExit) as stop:
        main(["bench", "--save-dir", str(blocker / "sub")])
    _, err = capsys.readouterr()
    assert stop.value.code == 2
    assert err.startswith(f"lis1abm: error: --save-dir: {blocker / 'sub'}: cannot create it")
    assert err.strip().count("\n") == 0


# --- a wheel installed in a fresh virtual environment ------------------------------------------


def _run(*args, cwd: Path | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{args}: {done.stderr}"
    return done.stdout


def _see_dev_dependencies(venv_python: Path) -> None:
    """Let a fresh venv import this interpreter's packages (numba, pandas, ...), which saves
    installing them from the registry, but not its editable lis1abm: the site folders are
    added by a path-only .pth (the .pth files inside them are not run) and their other .pth
    files are copied, all but the editable install's finder."""
    purelib = Path(
        _run(venv_python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").strip()
    )
    dev_sites = [Path(sysconfig.get_path("purelib")), Path(sysconfig.get_path("platlib"))]
    # "0-" sorts first, so the copied .pth files below can import from the dev folders
    (purelib / "0-dev-dependencies.pth").write_text("".join(f"{d}\n" for d in set(dev_sites)))
    for site in set(dev_sites):
        for pth in site.glob("*.pth"):
            if not pth.name.startswith("__editable__"):
                shutil.copy(pth, purelib / pth.name)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the build inputs (a build in the checkout would reuse
    its stale build/ folder)."""
    work = tmp_path_factory.mktemp("wheel")
    for name in BUILD_INPUTS:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, work / "src" / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            (work / "src").mkdir(exist_ok=True)
            shutil.copy2(source, work / "src" / name)
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", work / "dist", work / "src")
    (built,) = (work / "dist").glob("lis1abm-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment with the wheel installed (not editable), inside the git
    checkout of some other project, as a user's project venv often is."""
    root = _repo(tmp_path_factory.mktemp("other") / "project", "other") / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", root)
    _see_dev_dependencies(root / "bin" / "python")
    pip = [sys.executable, "-m", "pip", "--python", root / "bin" / "python"]
    _run(*pip, "install", "-q", "--no-deps", "--no-index", wheel)
    return root


@pytest.mark.slow  # builds the wheel (about 5 s)
def test_wheel_holds_every_module_and_builtin_file(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    expected = {
        f"lis1abm/{p.relative_to(ROOT / 'lis1abm')}" for p in (ROOT / "lis1abm").rglob("*.py")
    }
    expected |= {
        f"lis1abm/configs/{p.relative_to(ROOT / 'configs')}"
        for pattern in ("*.toml", "*.covariance.csv")
        for p in (ROOT / "configs").rglob(pattern)
    }
    missing = sorted(expected - names)
    assert not missing, f"not in the wheel (list the package in pyproject.toml): {missing}"


# Slow (about 40 s): the installed package's first run compiles the CPU engine anew, into the
# new venv's numba cache.
@pytest.mark.slow
def test_installed_wheel_runs_from_another_directory(venv, tmp_path):
    python, lis1abm = venv / "bin" / "python", venv / "bin" / "lis1abm"
    where = json.loads(
        _run(
            python,
            "-c",
            "import json, lis1abm, lis1abm.data.files as f; "
            "print(json.dumps([lis1abm.__file__, str(f.configs_dir())]))",
            cwd=tmp_path,
        )
    )
    for path in map(Path, where):  # the wheel's copy, not the checkout's
        assert path.is_relative_to(venv) and not path.is_relative_to(ROOT), path

    result = json.loads(
        _run(lis1abm, "simulate", "--reps", "2", "--backend", "cpu", "--json", cwd=tmp_path)
    )
    (total,) = [r for r in result["rows"] if r["breakdown"] == "total"]
    assert 602 <= total["sim_hired_mean"] <= 606
    # Recorded as its place in the repository, not the folders of the machine it ran on.
    assert result["meta"]["round_file"] == "configs/rounds/autumn2024.toml"
    assert result["meta"]["git_commit"] is None  # the other project's commit says nothing
    assert not list(tmp_path.iterdir())  # simulate writes nothing without --out
    # The calibration's covariance ships beside its parameter file.
    drawn = json.loads(
        _run(
            lis1abm,
            "simulate",
            "--reps",
            "4",
            "--backend",
            "cpu",
            "--json",
            "--parameter-uncertainty",
            cwd=tmp_path,
        )  # fmt: skip
    )
    assert len(drawn["meta"]["parameter_uncertainty"]["parameter_sets"]) == 4

    builtin = sorted(Path(where[1]).rglob("*.toml"))
    assert len(builtin) >= 3
    checked = _run(lis1abm, "check", *builtin, cwd=tmp_path)
    assert checked.splitlines() == [f"{p}: ok" for p in builtin]

    assert "--save-dir" in _run(lis1abm, "bench", "--help", cwd=tmp_path)
