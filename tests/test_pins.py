"""The pins' intent, read from pyproject.toml: every extra that installs numba-cuda also
installs a numpy it can import (numba-cuda 0.30 cannot compile a kernel with numpy 2.5:
``np.row_stack`` is gone), so that ``pip install ".[gpu]"`` never gives a broken CUDA stack."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
BROKEN_NUMPY = "2.5.2"  # on the GPU machines in November 2026: numba-cuda 0.30.4 fails with it
WORKING_NUMPY = "2.4.6"  # with which numba-cuda 0.30.4 ran every GPU check


def numpy_specifiers(requirements: list[str]):
    """The specifier sets on numpy among ``requirements``, and whether numba-cuda is one."""
    parsed = [Requirement(r) for r in requirements]
    cuda = any(r.name == "numba-cuda" for r in parsed)
    return [r.specifier for r in parsed if r.name == "numpy"], cuda


@pytest.mark.parametrize("extra", ["gpu", "dev"])
def test_extras_with_numba_cuda_cap_numpy(extra):
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    base, _ = numpy_specifiers(project["dependencies"])
    pins, cuda = numpy_specifiers(project["optional-dependencies"][extra])
    assert cuda, f"the {extra} extra no longer installs numba-cuda: revisit this test"
    allowed = [*base, *pins]
    assert any(BROKEN_NUMPY not in spec for spec in allowed), (
        f"the {extra} extra allows numpy {BROKEN_NUMPY}, which numba-cuda cannot import"
    )
    assert all(WORKING_NUMPY in spec for spec in allowed), (
        f"the {extra} extra excludes numpy {WORKING_NUMPY}, the version the GPU checks ran on"
    )


def test_numba_cuda_is_pinned_to_the_checked_minor():
    """The numpy cap is known to be needed for numba-cuda 0.30; a newer numba-cuda may lift
    it, and is then a decision to take with a GPU at hand, not one pip takes."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    for extra in ("gpu", "dev"):
        for line in project["optional-dependencies"][extra]:
            requirement = Requirement(line)
            if requirement.name == "numba-cuda":
                assert "0.30.4" in requirement.specifier
                assert "0.31.0" not in requirement.specifier
