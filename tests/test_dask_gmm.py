"""GaussianMixture on Dask arrays: fits equal the in-memory fits from the same start (with and
without missing values and weights), predictions come back as Dask arrays, and starting values
come from a bounded sample. Runs on an in-process ``distributed.LocalCluster``."""

import dask.array as da
import numpy as np
import pytest
from distributed import Client, LocalCluster

import emkit
from emkit import datasets
from emkit.engine.dask import DaskData
from emkit.engine.estep import initial_params
from emkit.models.gaussian_mixture import GaussianMixtureModel

RTOL = 1e-10


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        yield client


def four_clusters(n=1200, seed=0):
    X, _, _ = datasets.synthetic_gmm(n, random_state=seed)
    return X[np.random.default_rng(seed + 1).permutation(n)]


def with_missing(X, fraction=0.15, seed=2):
    X = X.copy()
    X[np.random.default_rng(seed).random(X.shape) < fraction] = np.nan
    X[np.isnan(X).all(axis=1), 0] = 0.5
    return X


def assert_same_estimator(on_dask, in_memory, rtol=RTOL):
    assert on_dask.n_iter_ == in_memory.n_iter_ and on_dask.converged_ == in_memory.converged_
    np.testing.assert_allclose(on_dask.lower_bounds_, in_memory.lower_bounds_, rtol=rtol)
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(on_dask, name), getattr(in_memory, name), rtol=rtol, atol=1e-14)


@pytest.mark.parametrize("covariance_type, missing, weighted", [("full", False, False), ("full", True, False),
                                                                ("diag", True, True)])
def test_fit_on_dask_array_equals_in_memory_fit(client, covariance_type, missing, weighted):
    X = four_clusters()
    if missing:
        X = with_missing(X)
    weights = np.random.default_rng(4).integers(1, 4, size=X.shape[0]).astype(float) if weighted else None
    options = {"n_components": 4, "covariance_type": covariance_type, "tol": 1e-6, "max_iter": 300, "random_state": 0}
    in_memory = emkit.GaussianMixture(**options).fit(X, sample_weight=weights)
    on_dask = emkit.GaussianMixture(**options).fit(da.from_array(X, chunks=(250, 1)), sample_weight=weights)
    assert in_memory.converged_ and in_memory.n_iter_ > 10
    assert_same_estimator(on_dask, in_memory)


def test_predictions_are_dask_arrays_equal_to_in_memory(client):
    X = with_missing(four_clusters(600), fraction=0.1)
    fitted = emkit.GaussianMixture(4, tol=1e-6, random_state=0).fit(X)
    chunked = da.from_array(X, chunks=(100, 2))
    outputs = {"predict": (fitted.predict(chunked), fitted.predict(X)),
               "predict_proba": (fitted.predict_proba(chunked), fitted.predict_proba(X)),
               "score_samples": (fitted.score_samples(chunked), fitted.score_samples(X)),
               "impute": (fitted.impute(chunked), fitted.impute(X))}
    for name, (lazy, expected) in outputs.items():
        assert isinstance(lazy, da.Array), name
        assert lazy.shape == expected.shape and lazy.chunks[0] == chunked.chunks[0], name
        np.testing.assert_allclose(lazy.compute(), expected, rtol=1e-12, atol=1e-12, err_msg=name)
    assert fitted.score(chunked) == pytest.approx(fitted.score(X), rel=1e-13)
    assert fitted.bic(chunked) == pytest.approx(fitted.bic(X), rel=1e-13)


def test_fit_predict_and_squarem_on_dask(client):
    X = four_clusters(800, seed=3)
    options = {"n_components": 4, "tol": 1e-12, "max_iter": 2000, "accelerate": "squarem", "random_state": 0}
    in_memory = emkit.GaussianMixture(**options).fit(X)
    estimator = emkit.GaussianMixture(**options)
    labels = estimator.fit_predict(da.from_array(X, chunks=(200, 2)))
    assert isinstance(labels, da.Array)
    # SQUAREM's paths part by round-off; the fixed point is shared.
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(estimator, name), getattr(in_memory, name), rtol=1e-8)
    np.testing.assert_array_equal(labels.compute(), in_memory.predict(X))
    plain = emkit.GaussianMixture(4, tol=1e-12, max_iter=2000, random_state=0).fit(X)
    assert estimator.result_.n_evaluations < plain.n_iter_


def test_start_comes_from_a_bounded_sample_and_reaches_the_same_optimum(client):
    X = four_clusters(2000, seed=5)
    model = GaussianMixtureModel(4, "full")
    data = DaskData(model, da.from_array(X, chunks=(400, 2)), sample_rows=300)
    sample = data.start_data()
    assert sample.X.shape == (300, 2)
    assert np.all(np.isin(sample.X[:, 0], X[:, 0]))
    start = initial_params(model, data)
    on_dask = emkit.fit(model, data, init=start, accelerate="squarem")
    # The centre of statistics is the whole data's mean, computed by a tree sum on the workers.
    np.testing.assert_allclose(data.context, X.mean(axis=0), rtol=1e-13)
    in_memory = emkit.fit(GaussianMixtureModel(4, "full"), X, accelerate="squarem")
    np.testing.assert_allclose(on_dask.loglik, in_memory.loglik, rtol=1e-9)
    order = [np.lexsort(result.params["means"].T) for result in (on_dask, in_memory)]
    np.testing.assert_allclose(on_dask.params["means"][order[0]], in_memory.params["means"][order[1]], rtol=1e-6,
                               atol=1e-8)


def test_bad_dask_input_names_the_argument(client):
    X = four_clusters(200)
    with pytest.raises(ValueError, match="X: expected a 2-D array"):
        emkit.GaussianMixture(2).fit(da.from_array(X[:, 0], chunks=50))
    with pytest.raises(ValueError, match="X: expected numbers"):
        emkit.GaussianMixture(2).fit(da.from_array(np.array([["a", "b"]] * 4), chunks=2))
    bad = X.copy()
    bad[150, 1] = np.inf
    with pytest.raises(ValueError, match="X: contains infinity"):
        emkit.GaussianMixture(2).fit(da.from_array(bad, chunks=(50, 2)))
    empty_feature = X.copy()
    empty_feature[:, 1] = np.nan
    with pytest.raises(ValueError, match="X: feature 1 has no observed value"):
        emkit.GaussianMixture(2).fit(da.from_array(empty_feature, chunks=(50, 2)))
    with pytest.raises(ValueError, match="sample_weight: expected shape"):
        emkit.GaussianMixture(2).fit(da.from_array(X, chunks=(50, 2)), sample_weight=np.ones(3))
    fitted = emkit.GaussianMixture(2).fit(X)
    with pytest.raises(ValueError, match="X has 3 features"):
        fitted.predict(da.from_array(np.ones((10, 3)), chunks=5))
