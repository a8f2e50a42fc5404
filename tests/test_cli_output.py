"""What the command prints (issue 14): one JSON schema across subcommands, tables with headers no
wider than 100 characters, the API's answer with the same settings, a floor that does not depend on
the units, help that states defaults, and a quick ``emkit --help``."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cli_runner import emkit

import emkit as api
from emkit.cli.main import build_parser
from emkit.cli.output import JSON_KEYS, LINE_WIDTH, Table

ROOT_EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def wide_file(tmp_path_factory):
    """30 columns with long names (as scikit-learn's breast-cancer table), two clusters."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(150, 30)), rng.normal(size=(150, 30)) + 3])
    path = tmp_path_factory.mktemp("wide") / "wide.csv"
    np.savetxt(path, X, delimiter=",", header=",".join(f"mean fractal dimension {j}" for j in range(30)),
               comments="")
    return path, X


COMMANDS = {
    "alleles": ["alleles", "abo", "A=186", "B=38", "AB=13", "O=284"],
    "linkage": ["linkage", "125", "18", "20", "34"],
    "poisson-mixture": ["poisson-mixture", "--counts", "162,267,271,185,111,61,27,8,3,1", "-k", "2"],
    "gmm": ["gmm", str(ROOT_EXAMPLES / "iris.csv"), "-k", "2"],
    "student": ["student", str(ROOT_EXAMPLES / "iris.csv"), "-k", "2", "--covariance", "diag"],
    "hmm": ["hmm", str(ROOT_EXAMPLES / "returns.csv"), "-k", "2", "--columns", "logret", "--sequence", "asset"],
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_subcommand_prints_the_shared_json_keys(name):
    done = emkit(*COMMANDS[name], "--json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert list(payload)[:len(JSON_KEYS)] == list(JSON_KEYS)
    assert payload["command"] == name and isinstance(payload["params"], dict) and payload["params"]
    assert isinstance(payload["converged"], bool) and payload["n_iter"] >= 1
    assert {"tol", "max_iter", "n_init", "seed", "accelerate"} <= set(payload["settings"])


def test_wide_data_are_wrapped_and_the_api_gives_the_same_answer(wide_file):
    """30 columns: no line over 100 characters; every column's header appears; the numbers are the
    API's with the command's settings (its defaults, the floor scaled to the data)."""
    path, X = wide_file
    text = emkit("gmm", path, "-k", "2", "--covariance", "diag")
    assert text.returncode == 0, text.stderr
    assert max(len(line) for line in text.stdout.splitlines()) <= LINE_WIDTH
    assert text.stdout.count("mean fractal dimension 29"[:19]) >= 2   # abbreviated, in means and sd
    payload = json.loads(emkit("gmm", path, "-k", "2", "--covariance", "diag", "--json").stdout)
    estimator = api.GaussianMixture(2, covariance_type="diag", random_state=0,
                                    reg_covar=1e-6 * X.var(axis=0).min()).fit(X)
    assert payload["loglik"] == pytest.approx(estimator.score(X) * len(X), rel=1e-12)
    np.testing.assert_allclose(payload["params"]["means"], estimator.means_, rtol=1e-12)


def test_the_floor_and_the_start_do_not_depend_on_the_units(tmp_path):
    """Returns with variances near 1e-4, and the same returns in percent: the estimates agree after
    rescaling (an absolute floor of 1e-6 biased the variances of the first by 1.6%)."""
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(0.0005, 0.008, size=(400, 2)), rng.normal(-0.001, 0.02, size=(200, 2))])
    answers = []
    for scale in (1.0, 100.0):
        path = tmp_path / f"returns{scale:g}.csv"
        np.savetxt(path, X * scale, delimiter=",", header="a,b", comments="")
        payload = json.loads(emkit("gmm", path, "-k", "2", "--tol", "1e-10", "--max-iter", "1000", "--json").stdout)
        answers.append((np.array(payload["params"]["covariances"]) / scale ** 2, payload))
    np.testing.assert_allclose(answers[0][0], answers[1][0], rtol=1e-6)
    assert answers[0][1]["settings"]["reg_covar"] == pytest.approx(1e-6 * X.var(axis=0).min(), rel=1e-12)
    # the floor's share of the smallest variance is at most --reg-covar
    smallest = np.min(np.linalg.eigvalsh(answers[0][0]))
    assert answers[0][1]["settings"]["reg_covar"] / smallest < 1e-5


def test_every_option_states_its_default():
    """Each subcommand has a description, and each option with a default says what it is."""
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        assert sub.description, name
        for action in sub._actions:
            if action.option_strings and action.default not in (None, False, argparse.SUPPRESS) \
                    and action.dest != "help":
                assert "default" in (action.help or ""), (name, action.option_strings)


def test_table_render_wraps_columns():
    table = Table("means", ["0", "1"], [f"column {j}" for j in range(20)], np.arange(40.0).reshape(2, 20) / 7)
    lines = table.render(width=60).splitlines()
    assert max(len(line) for line in lines) <= 60
    assert sum(line.strip().startswith("column 0") for line in lines) == 1 and "column 19" in lines[-3]


def test_help_is_quick():
    """``emkit --help`` imports neither scipy.stats nor Numba (it took 1.4 s)."""
    start = time.perf_counter()
    done = emkit("--help")
    elapsed = time.perf_counter() - start
    assert done.returncode == 0 and "gmm" in done.stdout
    modules = subprocess.run([sys.executable, "-c", "import sys, emkit.cli.main as m; m.build_parser(); "
                              "print(' '.join(sorted(sys.modules)))"], capture_output=True, text=True).stdout.split()
    assert "numba" not in modules and "scipy.stats" not in modules and "pandas" not in modules
    assert elapsed < 2.0   # generous for a loaded CI machine; ~0.3 s here


def test_json_puts_long_lists_on_one_line_and_reads_back_the_same():
    """A million row labels are one line (written by the C encoder); everything reads back equal."""
    from emkit.cli.output import dumps

    value = {"labels": list(range(1000)), "symbols": ['a"b'] * 30, "means": [[0.5] * 25, [1.5] * 25],
             "short": [1, 2], "nothing": None, "missing": float("nan")}
    text = dumps(value)
    assert json.loads(text)["labels"] == value["labels"] and json.loads(text)["symbols"] == value["symbols"]
    assert json.loads(text)["means"] == value["means"] and np.isnan(json.loads(text)["missing"])
    assert len(text.splitlines()) < 20


def test_bootstrap_refits_stop_at_the_commands_max_iter(monkeypatch, tmp_path):
    """``--se bootstrap`` refits with the command's ``--max-iter`` (they ran to the engine's
    100,000 iterations, for hours on a big file); with ``--tol`` too where it is the engine's rule."""
    import emkit.inference as inference
    from emkit.cli.main import main

    seen = []

    def spy(result, data, method, **options):
        seen.append(options["fit_options"])
        raise ValueError("stop here")

    monkeypatch.setattr(inference, "standard_errors", spy)
    path = tmp_path / "x.csv"
    np.savetxt(path, np.random.default_rng(0).normal(size=(50, 2)), delimiter=",", header="a,b", comments="")
    assert main(["gmm", str(path), "-k", "1", "--se", "bootstrap", "--max-iter", "7"]) == 2
    assert main(["alleles", "moth", "carbonaria=85", "insularia=196", "typica=341", "--se", "bootstrap",
                 "--max-iter", "9", "--tol", "1e-6"]) == 2
    assert seen == [{"max_iter": 7}, {"max_iter": 9, "tol": 1e-6}]
