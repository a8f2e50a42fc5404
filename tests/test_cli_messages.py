"""No Python internals reach a command-line user (issue 14): bad values and options that would do
nothing are one line naming the option (exit status 2, no traceback); warnings are one line in the
command line's words; a degenerate or boundary fit says so. Through the real ``emkit`` entry point."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cli_runner import emkit

from emkit.cli.messages import MAX_LINE, abbreviated


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("messages")
    rng = np.random.default_rng(0)
    paths = {name: folder / f"{name}.csv" for name in ("data", "three", "floats", "missing_row")}
    np.savetxt(paths["data"], np.vstack([rng.normal(size=(60, 2)), rng.normal(size=(60, 2)) + 4]), delimiter=",",
               header="a,b", comments="")
    paths["three"].write_text("a,b\n1,2\n3,5\n7,1\n")
    np.savetxt(paths["floats"], rng.normal(size=(2000, 1)), delimiter=",", header="x", comments="")
    X = rng.normal(size=(60, 2))
    X[10] = np.nan
    np.savetxt(paths["missing_row"], X, delimiter=",", header="a,b", comments="")
    paths["existing"] = folder / "a-file"
    paths["existing"].write_text("")
    return {name: str(path) for name, path in paths.items()}


MOTH = ["alleles", "moth", "carbonaria=85", "insularia=196", "typica=341"]

ERRORS = [
    (["demo", "--out", "{existing}"], "--out"),
    (["linkage", "1e300", "18", "20", "34"], "counts"),
    (["hmm", "{data}", "-k", "2", "--transmat-prior", "1e308"], "--transmat-prior"),
    (MOTH + ["--tol", "-1"], "--tol"),
    (["gmm", "{data}", "-k", "2", "--select", "1:3"], "-k"),
    (["gmm", "{data}", "-k", "2", "--criterion", "aic"], "--criterion"),
    (["gmm", "{three}", "-k", "5"], "-k"),
    (["hmm", "{three}", "-k", "5"], "-k"),
    (["student", "{three}", "-k", "5"], "-k"),
    (["hmm", "{data}", "-k", "2", "--columns", "a", "--categorical", "--covariance", "full"], "--covariance"),
    (["hmm", "{data}", "-k", "2", "--columns", "a", "--categorical", "--reg-covar", "0.1"], "--reg-covar"),
    (["hmm", "{floats}", "-k", "2", "--categorical"], "--categorical"),
    (["hmm", "{data}", "-k", "2", "--se", "louis"], "--se louis"),
    (["student", "{data}", "--batch-size", "10"], "--batch-size"),
    (["student", "{data}", "--method", "online", "--tol", "1e-3"], "--tol"),
    (["linkage", "125", "18", "20", "34", "--method", "mcem", "--tol", "1e-3"], "--tol"),
    (["linkage", "125", "18", "20", "34", "--mc-size", "5"], "--mc-size"),
    (MOTH + ["--n-boot", "5"], "--n-boot"),
    (["gmm", "{data}", "-k", "2", "--columns", ",".join(f"column_{i}" for i in range(300))], "--columns"),
]


@pytest.mark.parametrize("arguments, option", ERRORS, ids=[" ".join(a[:1] + [o]) for a, o in ERRORS])
def test_one_line_naming_the_option(files, arguments, option):
    r = emkit(*[a.format(**files) for a in arguments])
    lines = r.stderr.splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert lines[0].startswith(f"emkit {arguments[0]}: error: {option}"), lines[0]
    assert len(lines[0]) <= MAX_LINE + 40 and "Traceback" not in r.stderr + r.stdout


def test_warnings_are_one_line_in_cli_words(files):
    r = emkit("gmm", files["data"], "-k", "2", "--max-iter", "2", "--se", "hessian")
    warnings = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 0 and warnings, r.stderr
    assert all(line.startswith("emkit: warning: ") and len(line) <= MAX_LINE + 20 for line in warnings), r.stderr
    assert "--max-iter" in r.stderr and "max_iter" not in r.stderr and ".py" not in r.stderr
    assert "accelerate='squarem'" not in r.stderr


def test_collapsed_components_are_noted(files):
    r = emkit("gmm", files["three"], "-k", "3", "--json")
    notes = json.loads(r.stdout)["notes"]
    assert len(notes) == 1 and "components 0 (1 point(s)), 1 (1 point(s)), 2 (1 point(s)) collapsed" in notes[0]
    assert "--reg-covar" in notes[0]
    r = emkit("hmm", files["three"], "-k", "3")
    assert "note: degenerate: state" in r.stdout and max(len(line) for line in r.stdout.splitlines()) <= 100
    assert "Traceback" not in r.stderr


def test_a_boundary_estimate_is_noted():
    r = emkit("alleles", "moth", "carbonaria=341", "insularia=0", "typica=0", "--max-iter", "2000")
    assert "note: the estimate is on the boundary of the parameter space (I, T at or near 0)" in r.stdout
    r = emkit(*MOTH, "--json")
    assert json.loads(r.stdout)["notes"] == []


def test_hmm_takes_a_row_of_missing_cells(files):
    r = emkit("hmm", files["missing_row"], "-k", "2", "--json")
    payload = json.loads(r.stdout) if r.returncode == 0 else {}
    assert len(payload.get("states", payload.get("labels", []))) == 60, r.stderr


def test_long_lists_are_abbreviated():
    text = f"counts: values must be non-negative integers, got {list(range(1000))}"
    short = abbreviated(text)
    assert len(short) <= MAX_LINE and short.startswith("counts: values must") and "(1000 in all)" in short
    nested = abbreviated(f"init: got {np.arange(400.0).reshape(20, 20).tolist()}")
    assert len(nested) <= MAX_LINE and "(20 in all)" in nested
