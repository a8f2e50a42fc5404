"""MixtureModel's parametric bootstrap (``simulate``), ``emkit.Mixture`` on Dask input, and a
Multinomial chunk in which every row is missing."""

import contextlib

import dask
import dask.array as da
import numpy as np
import pytest

import emkit
from emkit import families
from emkit.latent.mixture import MixtureModel


@pytest.fixture(autouse=True)
def threads():
    with dask.config.set(scheduler="threads"):
        yield


def poisson_rows(n, seed, missing=0.1):
    """Rows of a two-component Poisson mixture in 2 columns, a fraction ``missing`` of cells NaN."""
    rng = np.random.default_rng(seed)
    z = rng.random(n) < 0.35
    X = np.where(z[:, None], rng.poisson([1.0, 5.0], (n, 2)), rng.poisson([6.0, 1.5], (n, 2))).astype(float)
    X[rng.random((n, 2)) < missing] = np.nan
    return X


# --------------------------------------------------------------------- 1. parametric bootstrap
def test_simulated_data_keep_the_missing_cells_and_the_sample_weights():
    X = poisson_rows(400, seed=1)
    weights = np.random.default_rng(2).uniform(0.5, 2.0, X.shape[0])
    model = MixtureModel(families.Poisson(2), 2)
    params = emkit.fit(model, (X, weights)).params
    simulated, simulated_weights = model.simulate(params, (X, weights), np.random.default_rng(3))
    assert simulated.shape == X.shape
    np.testing.assert_array_equal(np.isnan(simulated), np.isnan(X))
    np.testing.assert_array_equal(simulated_weights, weights)
    observed = simulated[~np.isnan(simulated)]
    assert np.all(observed >= 0) and np.all(observed == np.round(observed))
    assert not np.array_equal(simulated[~np.isnan(X)], X[~np.isnan(X)])  # drawn, not copied
    # the column means of the draws are the model's, Σ_k π_k λ_kj (to sampling error)
    expected = params["weights"] @ params["lambdas"]
    np.testing.assert_allclose(np.nanmean(simulated, axis=0), expected, rtol=0.15)
    _, unweighted = model.simulate(params, X, np.random.default_rng(3))
    assert unweighted is None


def test_parametric_bootstrap_standard_errors_agree_with_louis():
    X = poisson_rows(600, seed=3)
    result = emkit.fit(MixtureModel(families.Poisson(2), 2), X)
    louis = emkit.standard_errors(result, X, "louis")
    boot = emkit.standard_errors(result, X, "bootstrap", bootstrap_kind="parametric", n_boot=200, random_state=0)
    assert boot.diagnostics["kind"] == "parametric" and boot.diagnostics["n_failed"] == 0
    for name in louis.se:
        np.testing.assert_allclose(boot.se[name], louis.se[name], rtol=0.2)


# --------------------------------------------------------------------- 2. emkit.Mixture on Dask
N, CHUNK = 600, 150


@contextlib.contextmanager
def task_rows():
    """The number of rows of every table (array, data frame or prepared chunk) that a Dask task
    gives while in the block."""
    rows = []

    def record(key, result, *_):
        tables = [getattr(part, "X", part) for part in (result if isinstance(result, tuple) else (result,))]
        rows.extend(table.shape[0] for table in tables if getattr(table, "ndim", 0) == 2)

    with dask.callbacks.Callback(posttask=record):
        yield rows


def assert_same_estimates(on_dask, in_memory):
    assert on_dask.n_iter_ == in_memory.n_iter_ and on_dask.n_features_in_ == in_memory.n_features_in_
    np.testing.assert_allclose(on_dask.weights_, in_memory.weights_, rtol=1e-10)
    for name in in_memory.model_.family.param_names:
        np.testing.assert_allclose(getattr(on_dask, f"{name}_"), getattr(in_memory, f"{name}_"), rtol=1e-10)
    np.testing.assert_allclose(on_dask.lower_bound_, in_memory.lower_bound_, rtol=1e-10)


def test_mixture_on_a_dask_array_fits_on_chunks_and_equals_the_in_memory_fit():
    X = poisson_rows(N, seed=4)
    X[:CHUNK, 1] = np.nan  # a column missing throughout the first chunk
    weights = np.random.default_rng(5).uniform(0.5, 2.0, N)
    options = dict(family=families.Poisson, tol=1e-8, max_iter=300)
    in_memory = emkit.Mixture(2, **options).fit(X, sample_weight=weights)
    rows = da.from_array(X, chunks=(CHUNK, 2))
    with task_rows() as rows_per_task:
        on_dask = emkit.Mixture(2, **options).fit(rows, sample_weight=da.from_array(weights, chunks=CHUNK))
    assert 0 < max(rows_per_task) <= CHUNK  # fitted on chunks: the rows are never gathered
    assert in_memory.converged_ and on_dask.converged_
    assert_same_estimates(on_dask, in_memory)
    # predictions on Dask input are Dask arrays equal to those on the rows in memory
    for method in ("score_samples", "predict_proba", "predict"):
        lazy = getattr(on_dask, method)(rows)
        assert isinstance(lazy, da.Array)
        np.testing.assert_allclose(lazy.compute(), getattr(in_memory, method)(X), rtol=1e-9)
    np.testing.assert_allclose(on_dask.score(rows), in_memory.score(X), rtol=1e-9)
    assert isinstance(on_dask.fit_predict(rows), da.Array)


def test_mixture_on_a_dask_dataframe_keeps_the_feature_names():
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(poisson_rows(N, seed=6), columns=["visits", "calls"])
    in_memory = emkit.Mixture(2, family=families.Poisson, tol=1e-8).fit(frame)
    with task_rows() as rows_per_task:
        on_dask = emkit.Mixture(2, family=families.Poisson, tol=1e-8).fit(dd.from_pandas(frame, npartitions=4))
    assert 0 < max(rows_per_task) <= N / 4
    assert list(on_dask.feature_names_in_) == ["visits", "calls"]
    assert_same_estimates(on_dask, in_memory)


# --------------------------------------------------------------------- 3. Multinomial chunks
def multinomial_rows(n, seed):
    """Count vectors of 10 trials over 3 categories from two components."""
    rng = np.random.default_rng(seed)
    z = rng.random(n) < 0.4
    return np.where(z[:, None], rng.multinomial(10, [0.6, 0.3, 0.1], n), rng.multinomial(10, [0.1, 0.3, 0.6], n)).astype(float)


def test_multinomial_mixture_on_dask_with_a_chunk_of_missing_rows_equals_the_in_memory_fit():
    X = multinomial_rows(N, seed=7)
    X[CHUNK:2 * CHUNK, 0] = np.nan  # every row of the second chunk is missing (a NaN misses the whole row)
    in_memory = emkit.fit(MixtureModel(families.Multinomial(3, n_trials=10), 2), X, tol=1e-10)
    on_dask = emkit.fit(MixtureModel(families.Multinomial(3, n_trials=10), 2), da.from_array(X, chunks=(CHUNK, 3)),
                        tol=1e-10)
    assert on_dask.converged and on_dask.n_iter == in_memory.n_iter > 3
    np.testing.assert_allclose(on_dask.params["weights"], in_memory.params["weights"], rtol=1e-10)
    np.testing.assert_allclose(on_dask.params["emissionprob"], in_memory.params["emissionprob"], rtol=1e-10)
    # the whole-data check still holds: no observed row in any chunk
    X[:, 0] = np.nan
    with pytest.raises(ValueError, match="no observed value"):
        emkit.fit(MixtureModel(families.Multinomial(3, n_trials=10), 2), da.from_array(X, chunks=(CHUNK, 3)))
    with pytest.raises(ValueError, match="every row has a missing"):
        emkit.fit(MixtureModel(families.Multinomial(3, n_trials=10), 2), X)
