"""The command line of mclust's pieces: ``emkit gmm --bootstrap-lrt``, ``--bootstrap-kind`` of ``--se
bootstrap``, and ``emkit classify`` (MixtureDiscriminant). Each run goes through the real entry
point and is checked against the API call with the same settings; bad input is one line, exit 2."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from cli_runner import emkit

from emkit import GaussianMixture, MixtureDiscriminant, bootstrap_lrt
from emkit.cli.units import covariance_floor
from emkit.inference import standard_errors


@pytest.fixture(scope="module")
def two_groups(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(40, 2)), rng.normal(size=(35, 2)) * 0.7 + [4.0, 3.0]])
    path = tmp_path_factory.mktemp("mclust_cli") / "two.csv"
    np.savetxt(path, X, delimiter=",", header="a,b", comments="")
    return path, X


def _settings(X):
    return dict(tol=1e-3, reg_covar=covariance_floor(X, 1e-6).value, max_iter=100, n_init=1)


def test_bootstrap_lrt_chooses_k_as_the_api(two_groups):
    path, X = two_groups
    run = emkit("gmm", path, "--covariance", "VVV", "--bootstrap-lrt", "3", "--n-boot", "19", "--json")
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    expected = bootstrap_lrt(X, "VVV", max_components=3, n_boot=19, random_state=0, accelerate=None, **_settings(X))
    assert out["bootstrap_lrt"]["tests"] == expected.table
    assert out["n_components"] == out["bootstrap_lrt"]["selected_components"] == expected.selected_components == 2


@pytest.mark.parametrize("kind", ["jackknife", "weighted"])
def test_bootstrap_kinds_of_standard_errors_as_the_api(two_groups, kind):
    path, X = two_groups
    extra = [] if kind == "jackknife" else ["--n-boot", "6"]
    run = emkit("gmm", path, "-k", "2", "--covariance", "tied", "--se", "bootstrap", "--bootstrap-kind", kind,
                *extra, "--json")
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    fitted = GaussianMixture(2, covariance_type="tied", random_state=0, **{**_settings(X), "tol": 1e-8}).fit(X)
    se = standard_errors(fitted.result_, X, "bootstrap", n_boot=6, bootstrap_kind=kind, random_state=0,
                         fit_options={"max_iter": 100})
    np.testing.assert_allclose(out["se"]["means"], se.se["means"], rtol=1e-6)


@pytest.mark.parametrize("arguments, message", [
    (["-k", "2", "--bootstrap-lrt", "3"], "-k: --bootstrap-lrt MAX chooses the number of components"),
    (["--covariance", "all", "--bootstrap-lrt", "3"], "--covariance: --bootstrap-lrt tests"),
    (["-k", "2", "--bootstrap-kind", "jackknife"], "--bootstrap-kind: only used with --se bootstrap"),
    (["-k", "2", "--se", "bootstrap", "--bootstrap-kind", "jackknife", "--n-boot", "5"], "--n-boot: the jackknife"),
])
def test_bad_combinations_are_one_line_errors(two_groups, arguments, message):
    run = emkit("gmm", two_groups[0], *arguments)
    assert run.returncode == 2 and run.stderr.startswith("emkit gmm: error: " + message)
    assert len(run.stderr.splitlines()) == 1


@pytest.fixture(scope="module")
def iris_files(tmp_path_factory):
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    frame["species"] = np.array(["setosa", "versicolor", "virginica"])[frame.pop("target")]
    order = np.random.default_rng(1).permutation(len(frame))
    folder = tmp_path_factory.mktemp("classify")
    frame.iloc[order[:110]].to_csv(folder / "train.csv", index=False)
    frame.iloc[order[110:]].to_csv(folder / "test.csv", index=False)
    return folder / "train.csv", folder / "test.csv", frame.iloc[order[:110]], frame.iloc[order[110:]]


def test_classify_predicts_as_mixture_discriminant(iris_files):
    train, test, train_frame, test_frame = iris_files
    run = emkit("classify", train, "--class", "species", "--predict", test, "-k", "1:2", "--covariance",
                "tied,VEV", "--cv", "4", "--json")
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    X, y = train_frame.drop(columns="species").to_numpy(), train_frame["species"].to_numpy()
    fitted = MixtureDiscriminant(n_components=[1, 2], covariance_type=["tied", "VEV"],
                                 reg_covar=covariance_floor(X, 1e-6).value, random_state=0).fit(X, y)
    rows = test_frame.drop(columns="species").to_numpy()
    assert out["predictions"] == fitted.predict(rows).tolist()
    np.testing.assert_allclose(out["probabilities"], fitted.predict_proba(rows), rtol=1e-6, atol=1e-12)
    assert out["params"]["covariance_types"] == fitted.covariance_types_
    assert out["test_error"] == pytest.approx(np.mean(fitted.predict(rows) != test_frame["species"].to_numpy()))
    assert out["cv_error"]["error"] == pytest.approx(fitted.cv_error(X, y, 4, random_state=0).error)


def test_classify_errors_are_one_line(iris_files, tmp_path):
    train = iris_files[0]
    bad = tmp_path / "bad.csv"
    pd.read_csv(train).drop(columns="petal width (cm)").to_csv(bad, index=False)
    for arguments, message in ((["--class", "nope"], "--class: no column 'nope'"),
                               (["--class", "species", "--predict", bad], "--predict: ")):
        run = emkit("classify", train, *arguments)
        assert run.returncode == 2 and run.stderr.startswith("emkit classify: error: " + message), run.stderr
        assert len(run.stderr.splitlines()) == 1
