"""Model selection against a hand-run grid, the ``emkit gmm`` command, the figures and the demo."""

from __future__ import annotations

import json
import re
import math

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import emkit  # noqa: E402
from emkit import GaussianMixture, datasets, gmm_select  # noqa: E402
from emkit.cli.main import main  # noqa: E402
from emkit.plotting.mixture import Projection, add_ellipses, bic_figure, kmeans_vs_gmm_figure, mixture_figure  # noqa: E402


def three_groups(seed=0):
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(size=(50, 2)), rng.normal(size=(50, 2)) * 0.5 + [4.0, 0.0],
                      rng.normal(size=(50, 2)) * [2.0, 0.3] + [0.0, 5.0]])


def test_selection_equals_a_hand_run_grid():
    X = three_groups()
    X[::13, 0] = np.nan
    weights = np.random.default_rng(1).integers(1, 3, size=len(X)).astype(float)
    grid = (range(1, 5), ("full", "diag"))
    result = gmm_select(X, *grid, sample_weight=weights, random_state=3, tol=1e-8, max_iter=1000)
    assert len(result.table) == 8
    best = None
    for row in result.table:
        estimator = GaussianMixture(row["n_components"], covariance_type=row["covariance_type"], random_state=3,
                                    tol=1e-8, max_iter=1000).fit(X, sample_weight=weights)
        loglik = float(weights @ estimator.score_samples(X))
        k, d = row["n_components"], 2
        p = (k - 1) + k * d + (k * d * (d + 1) // 2 if row["covariance_type"] == "full" else k * d)
        n = weights.sum()
        resp = estimator.predict_proba(X)
        bic = -2 * loglik + p * math.log(n)
        assert row["loglik"] == pytest.approx(loglik, rel=1e-12)
        assert row["n_parameters"] == p
        assert row["bic"] == pytest.approx(bic, rel=1e-12)
        assert row["aic"] == pytest.approx(-2 * loglik + 2 * p, rel=1e-12)
        assert row["icl"] == pytest.approx(bic - 2 * weights @ np.log(resp.max(axis=1)), rel=1e-10)
        if best is None or bic < best[0]:
            best = (bic, k, row["covariance_type"])
    assert (result.best_row["n_components"], result.best_row["covariance_type"]) == best[1:]
    assert result.best.n_components == best[1]
    assert "*" in result.to_text()
    json.dumps(result.to_dict())


def test_selection_criteria_match_scikit_learns_bic():
    sklearn_mixture = pytest.importorskip("sklearn.mixture")
    X = three_groups(2)
    result = gmm_select(X, [2, 3], ["tied", "spherical"], random_state=0)
    for (k, covariance_type), ours in result.models.items():
        theirs = sklearn_mixture.GaussianMixture(k, covariance_type=covariance_type)
        for name in ("weights_", "means_", "covariances_", "precisions_cholesky_", "n_features_in_"):
            setattr(theirs, name, getattr(ours, name))
        row = next(r for r in result.table if (r["n_components"], r["covariance_type"]) == (k, covariance_type))
        assert row["bic"] == pytest.approx(theirs.bic(X), rel=1e-10)
        assert row["aic"] == pytest.approx(theirs.aic(X), rel=1e-10)


def test_selection_reports_failed_candidates_and_bad_arguments():
    X = np.repeat([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], 6, axis=0)
    result = gmm_select(X, [1, 3], ["full"], reg_covar=0.0, random_state=0)
    failed = [row for row in result.table if row["error"]]
    assert failed and "reg_covar" in failed[0]["error"] and math.isnan(failed[0]["bic"])
    assert result.best_row["n_components"] == 1
    with pytest.raises(ValueError, match="criterion"):
        gmm_select(X, criterion="banana")
    with pytest.raises(ValueError, match="covariance_types"):
        gmm_select(X, covariance_types=["banana"])


@pytest.fixture
def csv_file(tmp_path):
    X, _, _ = datasets.synthetic_gmm(120, random_state=1)
    X[::10, 1] = np.nan
    path = tmp_path / "data.csv"
    lines = ["width,height"] + [",".join("" if np.isnan(v) else repr(float(v)) for v in row) for row in X]
    path.write_text("\n".join(lines) + "\n")
    return path, X


def test_cli_json(csv_file, capsys):
    path, X = csv_file
    assert main(["gmm", str(path), "-k", "3", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert {"params", "loglik", "criteria", "n_iter", "converged", "labels"} <= set(payload)
    assert set(payload["params"]) == {"weights", "means", "covariances"}
    assert len(payload["labels"]) == len(X)
    # the API with the command's settings: its defaults, and the floor scaled to the data
    estimator = GaussianMixture(3, random_state=0, reg_covar=1e-6 * np.nanvar(X, axis=0).min()).fit(X)
    assert payload["settings"]["reg_covar"] == pytest.approx(estimator.reg_covar, rel=1e-14)
    assert payload["loglik"] == pytest.approx(estimator.score(X) * len(X), rel=1e-10)
    assert payload["criteria"]["bic"] == pytest.approx(estimator.bic(X), rel=1e-10)
    assert payload["labels"] == estimator.predict(X).tolist()


def test_cli_standard_errors(csv_file, capsys):
    """--se sem on data with missing cells: the JSON's se and cov are those of
    emkit.standard_errors on the same fit; the table shows them; louis agrees with the Hessian."""
    path, X = csv_file
    assert main(["gmm", str(path), "-k", "2", "--covariance", "diag", "--se", "sem", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    estimator = GaussianMixture(2, covariance_type="diag", tol=1e-8, random_state=0,
                                reg_covar=1e-6 * np.nanvar(X, axis=0).min()).fit(X)
    assert payload["settings"]["tol"] == 1e-8    # the default with --se
    expected = emkit.standard_errors(estimator.result_, X, "sem")
    np.testing.assert_allclose(payload["se"]["means"], expected.se["means"], rtol=1e-8)
    np.testing.assert_allclose(payload["cov"]["matrix"], expected.cov, rtol=1e-8)
    assert payload["cov"]["labels"] == list(expected.labels) and payload["se_method"] == "sem"
    assert main(["gmm", str(path), "-k", "2", "--covariance", "diag", "--se", "hessian"]) == 0
    out = capsys.readouterr().out
    assert "se of means" in out and re.search(r"standard errors\s+hessian", out)
    assert main(["gmm", str(path), "-k", "2", "--covariance", "diag", "--se", "louis", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)   # missing cells: Louis gives the Hessian's errors
    hessian = emkit.standard_errors(estimator.result_, X, "hessian")
    np.testing.assert_allclose(payload["se"]["means"], hessian.se["means"], rtol=1e-4)
    np.testing.assert_allclose(payload["cov"]["matrix"], hessian.cov, rtol=1e-3, atol=1e-6 * np.abs(hessian.cov).max())


def test_cli_selection_table_and_plot(csv_file, tmp_path, capsys):
    path, _ = csv_file
    figure = tmp_path / "gmm.png"
    assert main(["gmm", str(path), "--select", "1:4", "--covariance", "all", "--plot", str(figure)]) == 0
    out = capsys.readouterr().out
    assert "Model selection by BIC" in out and "spherical" in out and "log-likelihood" in out
    assert figure.stat().st_size > 10_000


@pytest.mark.parametrize("content, args, message", [
    ("a,b\n1,2\n3,x\n", ["-k", "1"], "column 'b' is not numeric"),
    ("a,b\n1,2\n3,4,5\n", ["-k", "1"], "line 3"),
    ("a,b\n", ["-k", "1"], "header row and at least one data row"),
    ("a,b\n1,2\n,\n3,4\n", ["-k", "1"], "row 1 has no observed value"),
    ("a,b\n1,2\n3,4\n", ["-k", "0"], "-k"),
    ("a,b\n1,2\n3,4\n", [], "-k"),
    ("a,b\n1,2\n3,4\n", ["-k", "3"], "-k: 3 components"),
    ("a,b\n1,2\n3,4\n", ["--select", "3:1"], "--select"),
    ("a,b\n1,2\n3,4\n", ["-k", "1", "--covariance", "full,diag"], "--select"),
])
def test_cli_bad_input(tmp_path, capsys, content, args, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    assert main(["gmm", str(path), *args]) == 2
    assert message in capsys.readouterr().err


def test_ellipses_have_the_component_axes():
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    add_ellipses(ax, np.array([1.0, 2.0]), np.array([[4.0, 0.0], [0.0, 1.0]]), "k")
    widths = sorted((p.width, p.height) for p in ax.patches)
    assert widths == [(4.0, 2.0), (8.0, 4.0), (12.0, 6.0)]  # 1, 2, 3 sd: full axes 2·s·√λ


def test_figures_and_projection():
    X = three_groups()
    X3 = np.hstack([X, X[:, :1] * 0.1])
    estimator = GaussianMixture(3, covariance_type="diag", random_state=0).fit(X3)
    projection = Projection(X3)
    assert projection.axes.shape == (3, 2)
    np.testing.assert_allclose(projection.axes.T @ projection.axes, np.eye(2), atol=1e-12)
    figure = mixture_figure(X3, estimator.predict(X3), estimator.means_, estimator.covariances_, "diag")
    assert len(figure.axes[0].patches) == 9
    figure = kmeans_vs_gmm_figure(X3, estimator.predict(X3), estimator.means_, estimator.predict(X3),
                                  estimator.means_, estimator.covariances_, "diag")
    assert len(figure.axes) == 2
    table = gmm_select(X, [1, 2, 3], ["full", "tied"], random_state=0).table
    assert len(bic_figure(table).axes[0].lines) == 3


def test_demo_section_writes_figures_and_parameters(tmp_path):
    from emkit.demo import gmm as demo

    text = demo.run(tmp_path)
    for name in ("gmm_contours.png", "gmm_kmeans.png", "gmm_loglik.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    assert "true mean" in text and "estimated covariance" in text
    _, _, truth = datasets.synthetic_gmm(400, random_state=demo.SEED)
    assert "(0.000, 4.500)" in text  # a true mean is listed
