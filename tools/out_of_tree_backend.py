"""setuptools' PEP 517 backend, building out of the source tree.

``pip install .`` builds the wheel in the source directory, and setuptools leaves its scratch
folder ``build/`` there. This backend is setuptools' own with one difference: the wheel and
metadata hooks point distutils' ``build_base`` at a temporary directory (through the
``DIST_EXTRA_CONFIG`` file distutils reads after ``setup.cfg``), so no ``build/`` is left in the
working tree. pyproject.toml names it with ``backend-path``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from setuptools import build_meta
from setuptools.build_meta import *  # noqa: F401,F403  (every other hook is setuptools' own)


@contextlib.contextmanager
def _scratch_outside_tree():
    """Run a hook with setuptools' build folder in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="emkit-build-") as scratch:
        config = Path(scratch) / "build.cfg"
        config.write_text(f"[build]\nbuild_base = {scratch}/build\n")
        previous = os.environ.get("DIST_EXTRA_CONFIG")
        os.environ["DIST_EXTRA_CONFIG"] = str(config)
        try:
            yield
        finally:
            if previous is None:
                del os.environ["DIST_EXTRA_CONFIG"]
            else:
                os.environ["DIST_EXTRA_CONFIG"] = previous


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    with _scratch_outside_tree():
        return build_meta.build_wheel(wheel_directory, config_settings, metadata_directory)


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    with _scratch_outside_tree():
        return build_meta.prepare_metadata_for_build_wheel(metadata_directory, config_settings)
