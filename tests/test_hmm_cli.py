"""``emkit hmm``, the HMM figure and the casino demo section."""

import json
import re

import numpy as np
import pytest

import emkit
from emkit import GaussianHMM
from emkit.families import Gaussian
from emkit.cli.main import main
from emkit.plotting.hmm import hmm_figure


@pytest.fixture
def series_csv(tmp_path):
    model = GaussianHMM(2)
    model.startprob_, model.transmat_ = np.array([0.5, 0.5]), np.array([[0.95, 0.05], [0.1, 0.9]])
    model.means_, model.covars_ = np.array([[0.0, 1.0], [4.0, -1.0]]), np.full((2, 2), 0.5)
    X, states = model.sample(300, random_state=0)
    path = tmp_path / "series.csv"
    lines = ["run,a,b"] + [f"{t // 150},{x[0]},{'' if t == 7 else x[1]}" for t, x in enumerate(X)]
    path.write_text("\n".join(lines) + "\n")
    return path, X, states


def test_gaussian_json_recovers_the_states(series_csv, capsys):
    path, X, states = series_csv
    assert main(["hmm", str(path), "-k", "2", "--sequence", "run", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["columns"] == ["a", "b"] and out["lengths"] == [150, 150]
    means = np.array(out["params"]["means"])
    order = np.argsort(means[:, 0])
    np.testing.assert_allclose(means[order], [[0.0, 1.0], [4.0, -1.0]], atol=0.2)
    decoded = np.argsort(order)[np.array(out["labels"])]
    assert np.mean(decoded == states) > 0.97
    # the same numbers as the estimator on the same data
    X[7, 1] = np.nan
    estimator = emkit.HMM(2, family=Gaussian(2, "diag", 1e-6 * np.nanvar(X, axis=0).min()), random_state=0).fit(X, [150, 150])
    assert out["loglik"] == pytest.approx(estimator.score(X, [150, 150]), rel=1e-9)
    assert out["criteria"]["bic"] == pytest.approx(estimator.bic(X, [150, 150]), rel=1e-9)


def test_categorical_report_and_plot(tmp_path, capsys):
    rolls = np.random.default_rng(1).integers(1, 7, size=120)
    path = tmp_path / "rolls.csv"
    path.write_text("roll\n" + "\n".join(str(v) for v in rolls) + "\n")
    figure = tmp_path / "states.png"
    assert main(["hmm", str(path), "-k", "2", "--categorical", "--plot", str(figure)]) == 0
    text = capsys.readouterr().out
    assert "categorical emissions" in text and "emission probabilities" in text and "converged" in text
    assert figure.stat().st_size > 10_000


def test_bad_command_lines(series_csv, tmp_path, capsys):
    path, _, _ = series_csv
    assert main(["hmm", str(path), "-k", "2", "--categorical"]) == 2
    assert "--categorical: needs exactly one column" in capsys.readouterr().err
    assert main(["hmm", str(path), "-k", "2", "--sequence", "id"]) == 2
    assert "--sequence: no column 'id'" in capsys.readouterr().err
    assert main(["hmm", str(path), "-k", "0"]) == 2
    assert "-k" in capsys.readouterr().err
    assert main(["hmm", str(path), "-k", "2", "--columns", "a,z"]) == 2
    assert "--columns" in capsys.readouterr().err
    assert main(["hmm", str(tmp_path / "none.csv"), "-k", "2"]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_hmm_figure_panels():
    rng = np.random.default_rng(2)
    posteriors = rng.dirichlet(np.ones(3), size=50)
    states = posteriors.argmax(axis=1)
    figure = hmm_figure(rng.normal(size=(50, 2)), states, posteriors, truth=states, lengths=[20, 30], title="t")
    assert len(figure.axes) == 5   # a panel per column, the true states, the misses, the posteriors
    assert [ax.get_ylabel() for ax in figure.axes[:2]] == ["x0", "x1"]
    assert all(len(ax.images) == 1 for ax in figure.axes[:4])


def test_casino_demo_section(tmp_path):
    from emkit.demo import casino

    text = casino.run(tmp_path)
    assert (tmp_path / "casino_decoding.png").exists() and (tmp_path / "casino_loglik.png").exists()
    six = re.search(r"\| loaded die shows 6 \| 0\.500 \| (\d\.\d+) \|", text)
    assert six and float(six.group(1)) == pytest.approx(0.5, abs=0.06)
    accuracy = re.search(r"Viterbi path names the die correctly for (\d+\.\d)%", text)
    assert accuracy and float(accuracy.group(1)) > 70.0


def test_standard_errors_of_the_fit(series_csv, capsys):
    """--se sem: the errors of emkit.standard_errors on the same fit, in the JSON and the table."""
    path, X, _ = series_csv
    assert main(["hmm", str(path), "-k", "2", "--sequence", "run", "--se", "sem", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    X[7, 1] = np.nan
    estimator = emkit.HMM(2, family=Gaussian(2, "diag", 1e-6 * np.nanvar(X, axis=0).min()), random_state=0, tol=1e-6).fit(X, [150, 150])
    expected = emkit.standard_errors(estimator.result_, (X, [150, 150]), "sem")
    assert out["se_method"] == "sem" and out["cov"]["labels"] == list(expected.labels)
    for name in ("transmat", "means", "covars"):
        np.testing.assert_allclose(out["se"][name], expected.se[name], rtol=1e-6)
    assert main(["hmm", str(path), "-k", "2", "--sequence", "run", "--se", "hessian"]) == 0
    text = capsys.readouterr().out
    assert re.search(r"standard errors\s+hessian", text) and "se of transmat" in text
    assert main(["hmm", str(path), "-k", "2", "--se", "louis"]) == 2
    assert "--se louis" in capsys.readouterr().err
    # one sequence: the start probabilities (on the boundary) are held fixed, the rest have errors
    assert main(["hmm", str(path), "-k", "2", "--se", "sem", "--json"]) == 0
    single = json.loads(capsys.readouterr().out)
    assert single["se_held_fixed"] == ["startprob"] and single["se"]["startprob"] == [0.0, 0.0]
    assert np.all(np.asarray(single["se"]["means"]) > 0)
