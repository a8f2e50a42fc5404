"""The documentation site (issue 18): the user guide's examples run and print what the pages
say, and the site builds with warnings as errors, its gallery executed, with a page for every
public name. ``make docs`` builds the same site into docs/_build/html."""

from __future__ import annotations

import doctest
import importlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = sorted((ROOT / "docs" / "user_guide").glob("*.rst"))
#: Packages whose lazy EXPORTS tables are the public API (beside the modules the API pages list).
PUBLIC_PACKAGES = ("emkit", "emkit.engine", "emkit.families", "emkit.latent", "emkit.inference", "emkit.selection",
                   "emkit.variants", "emkit.estimators", "emkit.models", "emkit.kernels")
#: Names that are types, not objects with a page: documented in docs/api/engine.rst by hand.
TYPE_ALIASES = {("emkit.engine", "Params"), ("emkit.engine", "Stats")}


@pytest.mark.parametrize("page", GUIDE, ids=[page.stem for page in GUIDE])
def test_user_guide_examples_print_what_the_page_says(page):
    """Every ``>>>`` example of the page runs, in order in one namespace, and prints its output."""
    failures, _ = doctest.testfile(str(page), module_relative=False, report=True, verbose=False,
                                   optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert failures == 0, f"{page.name}: {failures} example(s) print something else (see the report above)"


def test_readme_links_point_at_files():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = [t for t in re.findall(r"\]\(([^)#]+)\)", readme) if "://" not in t]
    assert any(t.startswith("docs/") for t in targets)
    for target in targets:
        assert (ROOT / target).exists(), target


def public_objects() -> dict[tuple[str, str], object]:
    found = {}
    for package in PUBLIC_PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            if (package, name) not in TYPE_ALIASES:
                found[(package, name)] = getattr(module, name)
    return found


def documented(html: Path) -> list[object]:
    """The objects that have a generated API page (named by their documented path)."""
    objects = []
    for page in (html / "api" / "generated").glob("*.html"):
        path = page.stem
        module_name, _, attribute = path.rpartition(".")
        objects.append(getattr(importlib.import_module(module_name), attribute))
    return objects


def build_site(work: Path) -> tuple[subprocess.CompletedProcess, Path]:
    """Build the site from a copy of docs/, examples/ and README.md in ``work`` (the source tree
    is left as it is), with warnings as errors and the gallery executed."""
    ignore = shutil.ignore_patterns("_build", "generated", "auto_examples", "sg_execution_times.rst", "__pycache__")
    shutil.copytree(ROOT / "docs", work / "docs", ignore=ignore)
    shutil.copytree(ROOT / "examples", work / "examples", ignore=ignore)
    shutil.copy(ROOT / "README.md", work / "README.md")
    html = work / "html"
    completed = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q",
                                str(work / "docs"), str(html)], capture_output=True, text=True, timeout=560)
    return completed, html


def test_the_site_builds_without_warnings_with_its_gallery_and_api_pages(tmp_path):
    """One test (the build takes a minute or two; xdist must not build it twice)."""
    completed, html = build_site(tmp_path)
    assert completed.returncode == 0, completed.stderr[-5000:]
    assert "WARNING" not in completed.stderr and "ERROR" not in completed.stderr, completed.stderr[-5000:]
    for page in ("index", "user_guide/index", "api/index", "auto_examples/index"):
        assert (html / f"{page}.html").is_file(), page

    scripts = sorted((ROOT / "examples").glob("plot_*.py"))
    assert scripts, "the gallery has no examples"
    for script in scripts:   # executed: sphinx-gallery saved the figures it drew
        assert (html / "auto_examples" / f"{script.stem}.html").is_file(), script.name
        figures = list((tmp_path / "docs" / "auto_examples" / "images").glob(f"sphx_glr_{script.stem}_*.png"))
        assert figures, f"{script.name} drew no figure"

    pages = documented(html)
    missing = [f"{package}.{name}" for (package, name), obj in public_objects().items()
               if not any(obj is page_object for page_object in pages)]
    assert not missing, f"no API page for {missing}; add them to docs/api/*.rst"
