"""Packaging habits (issue 18): one version, an SPDX licence with its file, py.typed installed, and
dask/distributed bounded together so that installing the test extras does not backtrack."""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import emkit
from cli_runner import emkit as run_emkit

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]


def test_version_comes_from_the_metadata_and_pyproject_is_its_single_source():
    assert emkit.__version__ == importlib.metadata.version("emkit") == PROJECT["version"]
    source = (ROOT / "src" / "emkit" / "__init__.py").read_text()
    assert PROJECT["version"] not in source  # no second copy to drift
    run = run_emkit("--version")
    assert (run.returncode, run.stdout.strip()) == (0, f"emkit {PROJECT['version']}")


def test_licence_is_an_spdx_expression_with_its_file():
    assert PROJECT["license"] == "BSD-3-Clause"
    assert PROJECT["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License") and "Copyright (c) 2026, the emkit developers" in text
    # setuptools reads the SPDX form from 77 on (PEP 639)
    assert "setuptools>=77" in PYPROJECT["build-system"]["requires"]


def test_py_typed_is_installed_with_the_package():
    assert importlib.resources.files("emkit").joinpath("py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["emkit"]


def test_changelog_has_an_entry_for_the_current_version():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog
    assert f"## [{PROJECT['version']}]" in changelog


@pytest.mark.parametrize("extra", sorted(PROJECT["optional-dependencies"]))
def test_dask_and_distributed_carry_the_same_bounds_and_admit_the_installed_pair(extra):
    requirements = {r.name: r for r in map(Requirement, PROJECT["optional-dependencies"][extra])}
    if "dask" not in requirements:
        pytest.skip(f"extra {extra!r} has no dask")
    dask, distributed = requirements["dask"], requirements["distributed"]
    assert str(dask.specifier) == str(distributed.specifier)
    assert any(spec.operator == "<" for spec in dask.specifier)  # an upper bound stops the backtracking
    installed = {name: importlib.metadata.version(name) for name in ("dask", "distributed")}
    assert installed["dask"] == installed["distributed"]  # released (and required) in lockstep
    assert dask.specifier.contains(installed["dask"]) and distributed.specifier.contains(installed["distributed"])
